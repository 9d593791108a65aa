"""The set of pipelines a process knows, loaded from the modules named in settings.

The one rule: ``DOCSTATE_PIPELINES`` names modules or packages (comma-separated); each
``DocumentType`` at the top level of a named module, or of any module of a named
package, is loaded. It defaults to ``workflows``: the ``workflows`` package of the
working directory, which is where the repository's (and a new project's) pipelines are.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from types import ModuleType

from docstate.errors import ConfigurationError, PipelineDefinitionError, UnknownDocumentType
from docstate.model import DocumentType


class Registry:
    """Document types by name."""

    def __init__(self, types: Iterable[DocumentType]) -> None:
        self._types: dict[str, DocumentType] = {}
        for t in types:
            if t.name in self._types and self._types[t.name] is not t:
                raise PipelineDefinitionError(t.name, ["declared twice in the loaded modules"])
            self._types[t.name] = t

    @classmethod
    def from_modules(cls, modules: Sequence[str]) -> Registry:
        """Every ``DocumentType`` defined at the top level of ``modules`` (a package:
        of its modules), importable from the working directory.

        Raises:
            ConfigurationError: when a module cannot be imported or declares no pipeline.
        """
        found: list[DocumentType] = []
        with _working_directory_importable():
            for name in modules:
                types = [t for module in _modules(name) for t in _declared(module)]
                if not types:
                    raise ConfigurationError(
                        f"pipeline module {name!r} defines no DocumentType "
                        "(DOCSTATE_PIPELINES names the modules that declare pipelines)"
                    )
                found += types
        return cls(found)

    def get(self, name: str) -> DocumentType:
        """The document type ``name``.

        Raises:
            UnknownDocumentType: naming the types that do exist.
        """
        try:
            return self._types[name]
        except KeyError:
            raise UnknownDocumentType(name, list(self._types)) from None

    @property
    def names(self) -> list[str]:
        return sorted(self._types)

    def __iter__(self) -> Iterator[DocumentType]:
        return iter(self._types.values())


@contextlib.contextmanager
def _working_directory_importable() -> Iterator[None]:
    # As `python -m` does: the project a command runs in comes first. Only while loading,
    # so that nothing else this process imports is looked up there.
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added:
            sys.path.remove(cwd)


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ConfigurationError(
            f"cannot import pipeline module {name!r} from {os.getcwd()}: {err} "
            "(set DOCSTATE_PIPELINES, or run from the folder that holds it)"
        ) from err


def _modules(name: str) -> list[ModuleType]:
    """The module ``name``, or a package and all its modules (not its subpackages)."""
    module = _import(name)
    found = [module]
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        if not info.ispkg:
            found.append(_import(f"{name}.{info.name}"))
    return found


def _declared(module: ModuleType) -> list[DocumentType]:
    # One object imported into several modules is one pipeline (Registry keeps it once).
    return [v for v in vars(module).values() if isinstance(v, DocumentType)]
