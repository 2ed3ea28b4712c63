"""The parser registry: one parser per format, chosen by content type or file extension."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from xling.core.errors import InvalidInputError
from xling.core.registry import Registry
from xling.documents.records import ParsedDocument, RawDocument

__all__ = ["Parser", "ParserEntry", "PARSERS", "format_for", "register_parser"]

Parser = Callable[[RawDocument], ParsedDocument]
"""A parser: a raw document's bytes in, its blocks out (built with
:meth:`ParsedDocument.from_blocks`); bad input raises :class:`InvalidInputError`."""


@dataclass(frozen=True)
class ParserEntry:
    """A registered format.

    Attributes:
        parse: The parser.
        extensions: File extensions it reads, lower case with the dot (``".md"``).
        content_types: MIME types it reads (``"text/markdown"``).
    """

    parse: Parser
    extensions: tuple[str, ...] = ()
    content_types: tuple[str, ...] = ()


def _lazy(module: str, name: str) -> Parser:
    """A parser imported on first use, so that importing xling loads no parsing library."""

    def parse(raw: RawDocument) -> ParsedDocument:
        import importlib

        function: Parser = getattr(importlib.import_module(module), name)
        return function(raw)

    parse.__name__ = name
    return parse


PARSERS: Registry[ParserEntry] = Registry(
    "document format",
    {
        "pdf": ParserEntry(
            _lazy("xling.documents.parsers.pdf", "parse_pdf"), (".pdf",), ("application/pdf",)
        ),
        "html": ParserEntry(
            _lazy("xling.documents.parsers.html", "parse_html"),
            (".html", ".htm", ".xhtml"),
            ("text/html", "application/xhtml+xml"),
        ),
        "markdown": ParserEntry(
            _lazy("xling.documents.parsers.markdown", "parse_markdown"),
            (".md", ".markdown", ".mdown", ".mkd"),
            ("text/markdown", "text/x-markdown"),
        ),
        "docx": ParserEntry(
            _lazy("xling.documents.parsers.docx", "parse_docx"),
            (".docx",),
            ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
        ),
        "text": ParserEntry(
            _lazy("xling.documents.parsers.text", "parse_text"),
            (".txt", ".text", ".rst", ".log"),
            ("text/plain",),
        ),
    },
)
_ALIASES = {"md": "markdown", "htm": "html", "txt": "text", "plain": "text"}


def register_parser(
    name: str,
    parse: Parser,
    *,
    extensions: Sequence[str] = (),
    content_types: Sequence[str] = (),
    replace: bool = False,
) -> None:
    """Registers a parser for a format.

    Args:
        name: The format name (what :func:`format_for` returns and ``content_type`` may name).
        parse: The parser.
        extensions: File extensions it reads (``".epub"``; the dot is optional).
        content_types: MIME types it reads.
        replace: Allow replacing a registered format (a built-in one too).

    Raises:
        InvalidInputError: If the name is taken and ``replace`` is false, or an extension or
            content type is not a non-empty string.
    """
    exts = tuple(_extension(e) for e in extensions)
    types = tuple(_content_type(t) for t in content_types)
    if not callable(parse):
        raise InvalidInputError(f"parser for {name!r} is {parse!r}; give a callable")
    PARSERS.register(name, ParserEntry(parse, exts, types), replace=replace)


def _extension(extension: str) -> str:
    if not isinstance(extension, str) or not extension.strip(". "):
        raise InvalidInputError(f"extension {extension!r} is not allowed; use e.g. '.epub'")
    return "." + extension.strip().lstrip(".").lower()


def _content_type(content_type: str) -> str:
    if not isinstance(content_type, str) or not content_type.strip():
        raise InvalidInputError(
            f"content type {content_type!r} is not allowed; use e.g. 'application/epub+zip'"
        )
    return content_type.split(";")[0].strip().lower()


def supported_extensions() -> list[str]:
    """Every extension a registered parser reads, in registration order."""
    return [e for _, entry in PARSERS.items() for e in entry.extensions]


def format_for(path: str | Path | None = None, content_type: str | None = None) -> str:
    """The format (parser name) for a file or text.

    ``content_type`` wins: a MIME type (``"text/html; charset=utf-8"``) or a format name
    (``"pdf"``, ``"markdown"``, ``"md"``). Otherwise the file extension decides; a text given
    without a path is ``"text"``.

    Raises:
        InvalidInputError: On a content type or extension no registered parser reads (one line
            naming it, the file, and what is supported).
    """
    if content_type is not None:
        key = _content_type(content_type)
        key = _ALIASES.get(key, key)
        if key in PARSERS:
            return key
        for name, entry in PARSERS.items():
            if key in entry.content_types:
                return name
        on = "" if path is None else f" for {str(path)!r}"
        allowed = ", ".join(
            PARSERS.names() + [t for _, e in PARSERS.items() for t in e.content_types]
        )
        raise InvalidInputError(
            f"content type {content_type!r}{on} is not supported; allowed: {allowed}"
        )
    if path is None:
        return "text"
    suffix = Path(str(path)).suffix.lower()
    for name, entry in PARSERS.items():
        if suffix and suffix in entry.extensions:
            return name
    what = f"extension {suffix!r}" if suffix else "no extension"
    raise InvalidInputError(
        f"{str(path)!r} has {what}; supported extensions: {', '.join(supported_extensions())} "
        "(or give content_type)"
    )
