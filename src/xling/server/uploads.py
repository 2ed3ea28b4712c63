"""Documents uploaded over HTTP: names checked, files saved, formats chosen, pools opened.

An upload is a multipart ``file`` (its name becomes the document's ``source``, and its
``doc_id`` unless one is given) or a JSON text. The file is copied to a temporary folder while
its size is counted against the upload cap, then read by the parser of its format: the file
name's extension when a parser reads it, else the first bytes (``%PDF-``: PDF, a zip: DOCX),
else the part's content type. A pool is created by its first upload, with the service's
embedder (or a served one the upload names), when the caller may write it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from xling.core.errors import InvalidInputError, NotFoundError, XlingError
from xling.core.validation import preview
from xling.documents.parsers import format_for, supported_extensions
from xling.documents.records import Document
from xling.server.access import Caller
from xling.server.names import check_doc_id, check_pool_name
from xling.server.service import Service
from xling.store import Pool

__all__ = [
    "TooLargeError",
    "Upload",
    "file_document",
    "parse_metadata",
    "text_document",
    "upload_format",
    "writable_pool",
]

_COPY_STEP = 1024 * 1024


class TooLargeError(XlingError):
    """An upload over the server's cap (HTTP 413)."""


def parse_metadata(text: str | None) -> dict[str, Any]:
    """The ``metadata`` form field: a JSON object of names to scalars (``None``: empty).

    Raises:
        InvalidInputError: On text that is not a JSON object.
    """
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"metadata {preview(text)} is not JSON ({exc.msg}); give a JSON object of names to "
            "scalars"
        ) from None
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"metadata {preview(text)} is not a JSON object; give names to scalars"
        )
    return value


def upload_format(filename: str, content_type: str | None, head: bytes) -> str:
    """The parser for an uploaded file: by extension, else by its first bytes, else by the
    part's content type.

    Raises:
        InvalidInputError: When none of the three names a registered format.
    """
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix and suffix in supported_extensions():
        return format_for(filename)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "docx"
    if content_type and content_type.split(";")[0].strip() != "application/octet-stream":
        return format_for(filename or None, content_type)
    raise InvalidInputError(
        f"file {filename!r}: its format is not recognised; use one of the extensions "
        f"{', '.join(supported_extensions())} (or send the part's content type)"
    )


@dataclass
class Upload:
    """An uploaded document, ready to ingest.

    Attributes:
        document: The document (reading a saved file, or holding a text).
        size: Its size in bytes.
        folder: The temporary folder holding the saved file (remove it with :meth:`discard`).
    """

    document: Document
    size: int
    folder: Path | None = None

    def check(self) -> None:
        """Parses the document once, so that a file its parser refuses (corrupt, encrypted, a
        zip bomb) is answered with a 4xx before a background job is queued for it.

        Raises:
            InvalidInputError: Naming the file and the problem.
        """
        from xling.documents.parsers import parse_document

        parse_document(self.document)

    def discard(self) -> None:
        """Removes the saved file."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _save(stream: BinaryIO, name: str, cap: int) -> tuple[Path, Path, int]:
    """Copies ``stream`` to a new temporary folder, refusing it past ``cap`` bytes."""
    folder = Path(tempfile.mkdtemp(prefix="xling-upload-"))
    target = folder / "upload"
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := stream.read(_COPY_STEP):
                size += len(chunk)
                if size > cap:
                    raise TooLargeError(
                        f"file {name!r} is over this server's upload cap of {cap} bytes"
                    )
                out.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, target, size


def file_document(
    stream: BinaryIO,
    filename: str | None,
    content_type: str | None,
    *,
    cap: int,
    doc_id: str | None = None,
    title: str | None = None,
    lang: str | None = None,
    metadata: str | None = None,
) -> Upload:
    """An uploaded file as a document: saved to a temporary file, its format chosen.

    Args:
        stream: The file's bytes.
        filename: The name the client gave (its last path segment is used).
        content_type: The part's content type.
        cap: The most bytes allowed.
        doc_id: The document's id (default: the file name).
        title: Its title (default: the one the parser finds).
        lang: Its language (default: detected per chunk).
        metadata: A JSON object of further fields stored on its chunks.

    Raises:
        TooLargeError: Over ``cap`` bytes.
        InvalidInputError: On a bad ``doc_id``, metadata or language, or an unknown format.
    """
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if doc_id is None and not name:
        raise InvalidInputError("the file has no name; give a doc_id field")
    check_doc_id(doc_id if doc_id is not None else name)
    fields = parse_metadata(metadata)
    folder, path, size = _save(stream, name or str(doc_id), cap)
    try:
        with path.open("rb") as saved:
            head = saved.read(8)
        fmt = upload_format(name, content_type, head)
        document = Document(
            doc_id or name, path=path, lang=lang or None, title=title or None, source=name,
            content_type=fmt, metadata=fields,
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Upload(document, size, folder)


def text_document(
    doc_id: str,
    text: str,
    *,
    cap: int,
    title: str | None = None,
    lang: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Upload:
    """A JSON upload (a text) as a document.

    Raises:
        TooLargeError: When its UTF-8 is over ``cap`` bytes.
        InvalidInputError: On a bad ``doc_id``, an empty text, bad metadata or language.
    """
    check_doc_id(doc_id)
    size = len(text.encode("utf-8"))
    if size > cap:
        raise TooLargeError(
            f"text of {doc_id!r} is {size} bytes, over this server's upload cap of {cap}"
        )
    if not text.strip():
        raise InvalidInputError(f"text of {doc_id!r} is empty; give the document's text")
    document = Document(doc_id, text=text, lang=lang or None, title=title or None,
                        metadata=dict(metadata or {}))  # fmt: skip
    return Upload(document, size)


def writable_pool(service: Service, name: str, caller: Caller, embedder: str | None) -> Pool:
    """The pool an upload writes: an existing one, or a new one (created by its first write)
    with the service's default embedder or ``embedder`` (one the service serves).

    Raises:
        InvalidInputError: On a bad pool name, or an ``embedder`` other than the pool's.
        NotFoundError: When the caller may not read the pool, or ``--pool`` limits the
            service to other pools (404).
        ForbiddenError: When the caller may read the pool but not write it (403).
        UnknownSpecError: On an embedder the service does not serve (400).
    """
    check_pool_name(name)
    caller.check_write(name)
    config = service.config
    if config.pools and name not in config.pools:
        readable = [p for p in config.pools if caller.can_read(p)]
        raise NotFoundError(
            f"unknown pool {name!r}; this service serves only: {', '.join(readable) or 'none'}"
        )
    # A pool the service has open is known to exist: no listing (which waits for writers).
    if name in service.pools or name in service.pool_names(caller):
        pool = service.pool(name, caller)
        if embedder is not None and embedder != pool.embedder.id:
            raise InvalidInputError(
                f"embedder {embedder!r} is not pool {name!r}'s; it embeds with "
                f"{pool.embedder.id!r} (leave embedder out)"
            )
        return pool
    chosen = service.embedder(embedder)
    return Pool.open(name, chosen, path=config.chroma_path, url=config.chroma_url)
