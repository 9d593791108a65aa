"""The set of pipelines a process knows, loaded from the modules named in settings."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Sequence

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
        """Every ``DocumentType`` defined at the top level of ``modules``.

        Raises:
            ConfigurationError: when a module cannot be imported or declares no pipeline.
        """
        found: list[DocumentType] = []
        for name in modules:
            try:
                module = importlib.import_module(name)
            except ImportError as err:
                raise ConfigurationError(f"cannot import pipeline module {name!r}: {err}") from err
            types = [v for v in vars(module).values() if isinstance(v, DocumentType)]
            if not types:
                raise ConfigurationError(f"pipeline module {name!r} defines no DocumentType")
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
