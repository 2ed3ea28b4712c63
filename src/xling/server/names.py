"""The names clients send (pool names, document ids), checked in one place before use.

A name that breaks the rule is refused with a 422 that shows at most its first 40
characters, so a megabyte-long or control-character name never reaches a log line, a Chroma
call or an error body whole.
"""

from __future__ import annotations

import re
from typing import Any

from xling.core.errors import InvalidInputError
from xling.core.validation import preview

__all__ = ["DOC_ID_MAX_CHARS", "POOL_NAME_MAX_CHARS", "check_doc_id", "check_pool_name"]

POOL_NAME_MAX_CHARS = 512
"""Chroma's own cap on a collection name."""
DOC_ID_MAX_CHARS = 256
"""The longest document id a client may send (the library allows 512)."""
_POOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")


def check_pool_name(name: Any) -> str:
    """A pool name as Chroma names collections: 3–512 characters of ``[A-Za-z0-9._-]``,
    starting and ending with a letter or digit, without ``..``.

    Raises:
        InvalidInputError: Otherwise (the message previews the name).
    """
    if (
        not isinstance(name, str)
        or not 3 <= len(name) <= POOL_NAME_MAX_CHARS
        or not _POOL_RE.fullmatch(name)
        or ".." in name
    ):
        raise InvalidInputError(
            f"pool name {preview(name)} is not allowed; use 3-{POOL_NAME_MAX_CHARS} characters "
            "of [A-Za-z0-9._-] starting and ending with a letter or digit, without '..'"
        )
    return name


def check_doc_id(doc_id: Any) -> str:
    """A document id from a client: 1–256 printable characters, no backslash, not starting
    with ``/``, no ``.`` or ``..`` path segment (ids are usually paths relative to a folder).

    Raises:
        InvalidInputError: Otherwise (the message previews the id and states the rule).
    """
    rule = (
        f"use 1-{DOC_ID_MAX_CHARS} printable characters without a backslash, a leading '/' "
        "or a '.' or '..' segment"
    )
    bad = (
        not isinstance(doc_id, str)
        or not doc_id.strip()
        or len(doc_id) > DOC_ID_MAX_CHARS
        or any(ord(c) < 32 or ord(c) == 127 for c in doc_id)
        or "\\" in doc_id
        or doc_id.startswith("/")
        or any(part in (".", "..") for part in doc_id.split("/"))
    )
    if bad:
        raise InvalidInputError(f"doc_id {preview(doc_id)} is not allowed; {rule}")
    return doc_id
