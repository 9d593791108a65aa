"""The layout the README promises: the library stands alone, small modules, no cycles,
public surfaces that cannot drift."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import docstate
from docstate import Client, SyncClient
from docstate.http import AsyncHttpClient, HttpClient

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "docstate"
APPLICATION_MODULES = {"worker", "starter", "workflows", "activities", "tests", "bench"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports, at any depth (TYPE_CHECKING blocks included)."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_the_library_never_imports_the_application() -> None:
    for module, path in _modules().items():
        reached = {name.split(".")[0] for name in _imports(path, module)}
        assert not reached & APPLICATION_MODULES, (
            f"{module} imports {reached & APPLICATION_MODULES}"
        )


def test_no_module_of_the_library_or_the_pipelines_is_over_350_lines() -> None:
    paths = [*_modules().values(), *ROOT.glob("workflows/*.py"), *ROOT.glob("activities/*.py")]
    long = {
        str(p.relative_to(ROOT)): n for p in paths if (n := len(p.read_text().splitlines())) > 350
    }
    assert long == {}


def test_there_are_no_import_cycles() -> None:
    modules = _modules()
    graph = {
        name: {m for m in _imports(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }
    # A package's __init__ re-exporting its modules is not a cycle with them.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif nxt not in trail and len(trail) < 12:
                    stack.append((nxt, [*trail, nxt]))
    assert cycles == []


def test_the_public_surface_is_pinned() -> None:
    assert sorted(docstate.__all__) == [
        "AsyncDocStore",
        "BatchEvent",
        "BatchOptions",
        "Client",
        "ConfigurationError",
        "ContentError",
        "ContentRef",
        "DocStateError",
        "Document",
        "DocumentNotFound",
        "DocumentNotStarted",
        "DocumentType",
        "DuplicateDocument",
        "EncryptionKeyError",
        "EventKind",
        "FanOut",
        "InvalidTransition",
        "NoWorker",
        "Operation",
        "OperationsPipeline",
        "PermanentError",
        "PipelineDefinitionError",
        "PipelineSpec",
        "Registry",
        "Retry",
        "Settings",
        "State",
        "Status",
        "Submission",
        "SubmitResult",
        "SyncClient",
        "TemporalUnavailable",
        "Transition",
        "TransitionResult",
        "UnknownDocumentType",
        "UnknownOperation",
    ]
    for name in docstate.__all__:
        assert getattr(docstate, name).__name__ == name


def _public(cls: type) -> dict[str, list[tuple[str, object, object]]]:
    """Each public method's parameters: name, kind and default (types differ: an async
    iterator of the client is an iterator of the sync client)."""
    return {
        name: [(p.name, p.kind, p.default) for p in inspect.signature(member).parameters.values()]
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        # temporal_client hands out temporalio's (async) client: no blocking twin
        if not name.startswith("_") and name not in ("connect", "close", "temporal_client")
    }


def test_the_sync_client_has_every_method_of_the_client_with_the_same_parameters() -> None:
    client, sync = _public(Client), _public(SyncClient)
    assert sorted(sync) == sorted(client)
    assert sync == client


def test_the_blocking_http_client_has_every_method_of_the_async_one() -> None:
    async_http, http = _public(AsyncHttpClient), _public(HttpClient)
    assert sorted(http) == sorted(async_http)
    assert http == async_http
