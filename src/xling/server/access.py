"""Who is calling: the caller a bearer key stands for, and the pools it may read and write.

A plain key (one a line in ``--api-keys-file``, or ``$XLING_API_KEYS``) may read and write
every pool; a key of a TOML key file (``[[key]]`` tables, :class:`KeyGrant`) the pools it
names. A pool the caller may not read is answered as if it did not exist (404), so a
key never learns the names of other tenants' pools.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from xling.core.errors import ForbiddenError, NotFoundError

__all__ = ["ALL_POOLS", "ANONYMOUS", "Caller", "KeyGrant"]

ALL_POOLS = "*"


@dataclass(frozen=True)
class Caller:
    """The holder of one API key (or anyone, when the service has no keys).

    Attributes:
        label: A name safe to log and to put in metrics: ``key-`` and the first 8 hex digits
            of the key's SHA-256, or ``anonymous``; never the key.
        read: Pools it may read (``"*"``: all).
        write: Pools it may write (``"*"``: all); writing implies nothing about reading.
    """

    label: str
    read: frozenset[str] = frozenset({ALL_POOLS})
    write: frozenset[str] = frozenset({ALL_POOLS})

    @classmethod
    def of_key(
        cls, key: str, read: Iterable[str] = (ALL_POOLS,), write: Iterable[str] = (ALL_POOLS,)
    ) -> Caller:
        """The caller of ``key``, labelled by a hash of it."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        return cls(f"key-{digest}", frozenset(read), frozenset(write))

    def can_read(self, pool: str) -> bool:
        """Whether the caller may read ``pool``."""
        return ALL_POOLS in self.read or pool in self.read

    def can_write(self, pool: str) -> bool:
        """Whether the caller may write ``pool`` (upload, delete)."""
        return ALL_POOLS in self.write or pool in self.write

    def check_read(self, pool: str) -> None:
        """Raises :class:`NotFoundError` (404) when the caller may not read ``pool``."""
        if not self.can_read(pool):
            raise NotFoundError(f"unknown pool {pool!r}")

    def check_write(self, pool: str) -> None:
        """404 when the caller may not read ``pool``, 403 when it may read but not write it."""
        self.check_read(pool)
        if not self.can_write(pool):
            raise ForbiddenError(f"this API key may read pool {pool!r} but not write it")


ANONYMOUS = Caller("anonymous")


@dataclass(frozen=True)
class KeyGrant:
    """One key of a TOML key file and the pools it may read and write.

    Attributes:
        key: The bearer key (never shown: left out of ``repr``).
        read: Pools it may read (``"*"``: all).
        write: Pools it may write (``"*"``: all); each also readable.
    """

    key: str = field(repr=False)
    read: frozenset[str]
    write: frozenset[str] = frozenset()

    def caller(self) -> Caller:
        """The caller this key stands for."""
        return Caller.of_key(self.key, self.read, self.write)
