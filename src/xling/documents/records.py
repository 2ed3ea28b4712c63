"""The records that pass between the stages of ingestion: read → parse → chunk → embed → write.

A :class:`Document` is what a user adds and deletes; :func:`read_document` turns it into a
:class:`RawDocument` (its bytes and their hash); a parser turns that into a
:class:`ParsedDocument` (the extracted text as :class:`Block` s with their heading path and
page); the chunker turns that into :class:`Chunk` s (what is embedded and retrieved). Each is a
frozen dataclass with ``to_dict()``, so a later stage may run in another process or machine.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.records import FieldsDict
from xling.core.validation import check_scalars, is_blank, preview, read_bytes

__all__ = [
    "CHUNK_METADATA_KEYS",
    "DOC_ID_MAX_CHARS",
    "SECTION_SEPARATOR",
    "Block",
    "BlockKind",
    "Chunk",
    "Document",
    "ParsedDocument",
    "RawDocument",
    "chunk_id",
    "content_hash",
    "guess_type",
    "read_document",
]

DOC_ID_MAX_CHARS = 512
"""The longest ``doc_id`` accepted (a path relative to the folder ingested, usually)."""
SECTION_SEPARATOR = " > "
"""How a heading path is written in a chunk's ``section`` metadata."""

CHUNK_METADATA_KEYS = frozenset(
    {"doc_id", "title", "source", "section", "page", "start", "end", "chunk", "lang", "doc_hash"}
)
"""What a stored chunk's metadata holds beside the document's own fields (see
:class:`Chunk`); a document's ``metadata`` may not use these names."""
RESERVED_KEYS = CHUNK_METADATA_KEYS | {"side", "pair_id", "row"}
RESERVED_PREFIXES = ("#", "$", "chroma:", "xling:")

BlockKind = Literal["text", "code", "table"]
Scalar = str | int | float | bool


def content_hash(data: bytes | str) -> str:
    """SHA-256 of bytes (of UTF-8 for a string), as 64 hex digits."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def chunk_id(doc_id: str, index: int, version: str, text_hash: str) -> str:
    """A chunk's pool id: 32 hex digits of SHA-256 over (doc_id, position, content hashes).

    ``version`` is the hash of the document's content and of how it was chunked, so a changed
    document's chunks never overwrite the old version's: an update writes the new chunks, then
    deletes the old ones, and a crash in between leaves one complete version to keep. The id
    cannot collide with a sentence record's (:func:`xling.store.records.passage_id` hashes a
    language code and a text, without the ``doc:`` tag).
    """
    return content_hash("\x1f".join(("doc:", doc_id, str(index), version, text_hash)))[:32]


def _check_doc_id(doc_id: Any) -> str:
    if not isinstance(doc_id, str) or is_blank(doc_id):
        raise InvalidInputError(
            f"doc_id {preview(doc_id)} is not allowed; use a non-empty string of at most "
            f"{DOC_ID_MAX_CHARS} characters"
        )
    if len(doc_id) > DOC_ID_MAX_CHARS:
        raise InvalidInputError(
            f"doc_id {doc_id[:40]!r}... is {len(doc_id)} characters long; at most "
            f"{DOC_ID_MAX_CHARS} are allowed"
        )
    if any(ord(c) < 32 for c in doc_id):
        raise InvalidInputError(
            f"doc_id {doc_id!r} holds a control character; use printable characters"
        )
    return doc_id


@dataclass(frozen=True)
class Document:
    """A document as a user gives it: a text, or a file to read and parse.

    Attributes:
        doc_id: The document's id in its pool (1–512 printable characters); re-ingesting a
            document of the same id replaces it.
        text: The document's text, or ``None`` when ``path`` is given.
        path: A file to read, or ``None`` when ``text`` is given.
        lang: Its language (any code :func:`~xling.core.languages.normalize_code` knows), or
            ``None`` to detect it per chunk.
        title: Its title; ``None``: the one the parser finds (HTML ``<title>``, PDF metadata,
            first heading), else the file name.
        source: Where it came from as the user names it (a path or URL); defaults to ``path``.
        content_type: A MIME type or format name (``"pdf"``, ``"text/html"``) that overrides
            the choice by file extension.
        metadata: Further scalar fields stored on each of its chunks.
    """

    doc_id: str
    text: str | None = None
    path: str | Path | None = None
    lang: str | None = None
    title: str | None = None
    source: str | None = None
    content_type: str | None = None
    metadata: dict[str, Scalar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validates the fields; ``lang`` is stored as its canonical code.

        Raises:
            InvalidInputError: On a bad ``doc_id``, both or neither of ``text`` and ``path``,
                an unknown language or non-scalar metadata.
        """
        _check_doc_id(self.doc_id)
        if (self.text is None) == (self.path is None):
            raise InvalidInputError(
                f"document {self.doc_id!r}: give exactly one of text= and path="
            )
        if self.text is not None and not isinstance(self.text, str):
            raise InvalidInputError(
                f"document {self.doc_id!r}: text must be a string, got {preview(self.text)}"
            )
        if self.path is not None and not isinstance(self.path, str | Path):
            raise InvalidInputError(
                f"document {self.doc_id!r}: path must be a string or Path, got {preview(self.path)}"
            )
        if self.lang is not None:
            object.__setattr__(self, "lang", normalize_code(self.lang))
        if self.source is None and self.path is not None:
            object.__setattr__(self, "source", str(self.path))
        object.__setattr__(
            self,
            "metadata",
            check_scalars(
                self.metadata, f"document {self.doc_id!r}", RESERVED_KEYS, RESERVED_PREFIXES
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields (``path`` as a string)."""
        return {
            "doc_id": self.doc_id,
            "text": self.text,
            "path": None if self.path is None else str(self.path),
            "lang": self.lang,
            "title": self.title,
            "source": self.source,
            "content_type": self.content_type,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Document:
        """The document a :meth:`to_dict` dict describes."""
        return cls(
            doc_id=data.get("doc_id"),  # type: ignore[arg-type]  # checked by __post_init__
            text=data.get("text"),
            path=data.get("path"),
            lang=data.get("lang"),
            title=data.get("title"),
            source=data.get("source"),
            content_type=data.get("content_type"),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass(frozen=True)
class RawDocument(FieldsDict):
    """A document's bytes as read, before parsing.

    Attributes:
        document: The document.
        data: Its bytes (UTF-8 of ``document.text`` for a text document).
        hash: SHA-256 of ``data``: a re-ingested document whose hash is unchanged is skipped.
        format: The parser's name (``pdf``, ``html``, ``markdown``, ``docx``, ``text``), chosen
            from ``content_type`` or the file extension.
    """

    document: Document
    data: bytes
    hash: str
    format: str

    def to_dict(self) -> dict[str, Any]:
        """The fields, without the bytes (their length as ``size``)."""
        return {
            "document": self.document.to_dict(),
            "size": len(self.data),
            "hash": self.hash,
            "format": self.format,
        }


@dataclass(frozen=True)
class Block(FieldsDict):
    """A run of extracted text that chunks are cut from: a paragraph, list item, code block or
    table row.

    Attributes:
        text: The text (never blank).
        section: The heading path above it, outermost first (``("Package management",
            "Basic operations")``); ``()`` before the first heading.
        page: 1-based PDF page it starts on, else ``None``.
        kind: ``"text"``, ``"code"`` (kept whole where it fits, not split into sentences, left
            out of language detection) or ``"table"``.
        start: Offset of ``text`` in the parsed document's ``text``.
        end: ``start + len(text)``.
    """

    text: str
    section: tuple[str, ...] = ()
    page: int | None = None
    kind: BlockKind = "text"
    start: int = 0
    end: int = 0


BLOCK_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class ParsedDocument:
    """A document's extracted text, as blocks.

    Build it with :meth:`from_blocks`, which joins the blocks with a blank line and sets each
    block's offsets, so that ``text[b.start:b.end] == b.text`` for every block.

    Attributes:
        document: The document.
        hash: SHA-256 of the bytes it was parsed from.
        format: The parser that made it.
        title: The title (given, or found by the parser, else ``None``).
        text: The extracted text.
        blocks: Its blocks, in reading order.
        pages: Number of pages (PDF), else ``None``.
    """

    document: Document
    hash: str
    format: str
    title: str | None
    text: str
    blocks: tuple[Block, ...]
    pages: int | None = None

    @classmethod
    def from_blocks(
        cls,
        raw: RawDocument,
        blocks: Iterable[tuple[str, Sequence[str], int | None, BlockKind]],
        *,
        title: str | None = None,
        pages: int | None = None,
    ) -> ParsedDocument:
        """Joins ``(text, section, page, kind)`` tuples into a parsed document.

        Blank texts are dropped; texts are kept as given otherwise (parsers normalise
        whitespace themselves).

        Raises:
            InvalidInputError: If no block holds text ("empty document").
        """
        parts: list[Block] = []
        offset = 0
        for text, section, page, kind in blocks:
            if is_blank(text):
                continue
            if parts:
                offset += len(BLOCK_SEPARATOR)
            parts.append(Block(text, tuple(section), page, kind, offset, offset + len(text)))
            offset += len(text)
        document = raw.document
        if not parts:
            where = document.source or document.doc_id
            raise InvalidInputError(
                f"document {where!r} holds no text ({raw.format}); a scanned PDF needs OCR, "
                "which xling does not do"
                if raw.format == "pdf"
                else f"document {where!r} holds no text ({raw.format})"
            )
        text = BLOCK_SEPARATOR.join(b.text for b in parts)
        return cls(document, raw.hash, raw.format, document.title or title, text, tuple(parts),
                   pages)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (blocks as dicts)."""
        return {
            "document": self.document.to_dict(),
            "hash": self.hash,
            "format": self.format,
            "title": self.title,
            "text": self.text,
            "blocks": [b.to_dict() for b in self.blocks],
            "pages": self.pages,
        }


@dataclass(frozen=True)
class Chunk:
    """What is embedded and retrieved: a span of a parsed document's text.

    Attributes:
        doc_id: Its document's id.
        index: Its position among the document's chunks (0-based).
        text: The text, ``parsed.text[start:end]`` (blocks inside it are separated by a blank
            line).
        start: Offset in the parsed document's text.
        end: End offset (exclusive).
        section: The heading path of its blocks (a chunk never crosses a heading).
        page: 1-based PDF page it starts on, else ``None``.
        lang: Its language (the document's, or detected for this chunk), or ``None`` if it
            could not be told.
        tokens: Its length in the embedder's tokens (without the heading prefix).
        prefix: Text embedded before ``text`` (the heading path and a line break), or ``""``.
        version: The hash of the document's content and chunking options (set by the store;
            part of the id).
    """

    doc_id: str
    index: int
    text: str
    start: int
    end: int
    section: tuple[str, ...] = ()
    page: int | None = None
    lang: str | None = None
    tokens: int = 0
    prefix: str = ""
    version: str = ""

    @property
    def text_hash(self) -> str:
        """SHA-256 of what is embedded (prefix and text): chunks of equal hash share vectors."""
        return content_hash(self.prefix + self.text)

    @property
    def id(self) -> str:
        """The pool id, from (doc_id, index, version, content hash)."""
        return chunk_id(self.doc_id, self.index, self.version, self.text_hash)

    @property
    def embedded_text(self) -> str:
        """What the embedder sees: the prefix, then the text."""
        return self.prefix + self.text

    @property
    def section_path(self) -> str:
        """The heading path as one string (``"A > B"``), ``""`` before the first heading."""
        return SECTION_SEPARATOR.join(self.section)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields and the id."""
        return {
            "id": self.id,
            "doc_id": self.doc_id,
            "index": self.index,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "section": list(self.section),
            "page": self.page,
            "lang": self.lang,
            "tokens": self.tokens,
            "prefix": self.prefix,
            "version": self.version,
        }


def read_document(document: Document, format: str) -> RawDocument:
    """Reads a document's bytes (stage 1 of ingestion).

    Args:
        document: The document.
        format: The parser name chosen for it.

    Raises:
        InvalidInputError: If the file cannot be read (missing, a folder, unreadable).
    """
    if document.text is not None:
        data = document.text.encode("utf-8")
    else:
        data = read_bytes(document.path, "document")
    return RawDocument(document, data, content_hash(data), format)


def guess_type(path: str | Path) -> str | None:
    """The MIME type of a file name by its extension, or ``None``."""
    return mimetypes.guess_type(str(path))[0]
