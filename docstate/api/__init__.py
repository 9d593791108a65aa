"""DocState's HTTP API (FastAPI): ``create_app(settings)``, served by ``docstate api``.

The models (:mod:`docstate.api.models`) import without the web stack, so the HTTP
client uses them too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docstate.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from docstate.api.app import create_app

        return create_app
    raise AttributeError(name)
