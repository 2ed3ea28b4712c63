"""One registry of named things (methods, backends, engine families), used by every package.

``Registry[T]`` maps a name to a ``T`` (usually a factory or a class). Registering a name that is
taken is refused unless ``replace=True`` is passed, so that a plugin cannot silently shadow a
built-in; looking up a name that is not there raises
:class:`~xling.core.errors.UnknownSpecError` with one line listing the names there are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from xling.core.errors import InvalidInputError, UnknownSpecError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Names → entries, in registration order.

    Read with :meth:`get` (or ``registry[name]``, the same), ``name in registry``, iteration
    over the names and :meth:`items`; changed only by :meth:`register`.

    Args:
        what: What an entry is, for messages (``"retrieval method"``, ``"reranker"``).
        entries: The first entries.
    """

    def __init__(self, what: str, entries: Mapping[str, T] | None = None) -> None:
        self.what = what
        self._entries: dict[str, T] = {}
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: T, *, replace: bool = False) -> None:
        """Adds ``entry`` under ``name``.

        Args:
            name: A non-empty name.
            entry: What the name stands for.
            replace: Allow replacing an entry already under ``name``.

        Raises:
            InvalidInputError: If the name is not a non-empty str, or is taken and ``replace``
                is false.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(
                f"{self.what} name {name!r} is not allowed; use a non-empty str"
            )
        if name in self._entries and not replace:
            raise InvalidInputError(
                f"{self.what} {name!r} is already registered; pass replace=True to replace it"
            )
        self._entries[name] = entry

    def get(self, name: object) -> T:
        """The entry under ``name``.

        Raises:
            UnknownSpecError: If nothing is registered under it (the message lists the names).
        """
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        raise UnknownSpecError(self.unknown(name))

    def unknown(self, name: object) -> str:
        """The one-line message for a name that is not registered."""
        return f"unknown {self.what} {name!r:.60}; allowed: {', '.join(self._entries)}"

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs, in registration order."""
        return list(self._entries.items())

    def __getitem__(self, name: object) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, names={self.names()})"
