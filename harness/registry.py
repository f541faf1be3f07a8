"""Name -> factory registries for datasets, models and studies.

One small class, modelled on lm-evaluation-harness's registry: decorator
registration, a duplicate name raises, an unknown name raises with the known
names and the closest match. Entries are plain factory functions whose keyword
arguments override their defaults.
"""
from __future__ import annotations

import contextlib
import difflib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, plural: str | None = None):
        self.kind = kind  # "dataset", "model", "study": used in messages
        self.plural = plural or (kind[:-1] + "ies" if kind.endswith("y") else kind + "s")  # "studies", not "studys"
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            key = name or getattr(obj, "__name__").replace("_", "-")
            self.add(key, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._entries:
            raise ValueError(f"duplicate {self.kind} name {name!r}: each {self.kind} registers once")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        known = ", ".join(sorted(self._entries)) or "(none registered)"
        close = difflib.get_close_matches(name, list(self._entries), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Known {self.plural}: {known}"

    def names(self) -> list[str]:
        return sorted(self._entries)

    @contextlib.contextmanager
    def replaced(self, name: str, obj: T) -> Iterator[T]:
        """``name`` stands for ``obj`` inside the block (a benchmark runs a
        variant of a study under its own name: the name seeds its trials)."""
        before = self.get(name)
        self._entries[name] = obj
        try:
            yield obj
        finally:
            self._entries[name] = before

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
