"""What the format parsers share: naming a document in errors, decoding bytes, tidying text."""

from __future__ import annotations

import codecs
import re

from xling.core.errors import InvalidInputError
from xling.documents.records import RawDocument

__all__: list[str] = []

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Scripts written without spaces between words: a line break inside their text is no space.
_UNSPACED = (
    r"\u2e80-\u2fdf\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
    r"\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff"
)
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")
_SPACE_RUN = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def where(raw: RawDocument) -> str:
    """How an error names the document: its source (path or URL), else its doc_id."""
    document = raw.document
    return repr(document.source or document.doc_id)


def is_unspaced(char: str) -> bool:
    """Whether ``char`` belongs to a script written without spaces (CJK, Thai, Lao, ...)."""
    return bool(_UNSPACED_CHAR.match(char))


def join_lines(left: str, right: str) -> str:
    """Joins two wrapped lines: no space between two unspaced-script characters, else one."""
    if not left:
        return right
    if not right:
        return left
    if is_unspaced(left[-1]) and is_unspaced(right[0]):
        return left + right
    return left + " " + right


def collapse_spaces(text: str) -> str:
    """Collapses whitespace runs to one space, dropping a run that holds a line break between
    two characters of an unspaced script (source wrapping inside Chinese, Japanese or Thai)."""

    def repl(match: re.Match[str]) -> str:
        run = match.group(0)
        start, end = match.start(), match.end()
        if ("\n" in run or "\r" in run) and 0 < start and end < len(text):
            if is_unspaced(text[start - 1]) and is_unspaced(text[end]):
                return ""
        return " "

    return _SPACE_RUN.sub(repl, text).strip()


def decode_text(raw: RawDocument, *, declared: str | None = None) -> str:
    """Decodes a text file's bytes: a BOM, then ``declared``, then UTF-8, then
    charset-normalizer's best guess; line ends become ``\\n``.

    Raises:
        InvalidInputError: If the bytes look binary (NUL bytes, undecodable, control
            characters).
    """
    data = raw.data
    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = _try_decode(data, encoding)
            break
    if text is None and b"\x00" in data:
        raise _binary(raw, "it holds NUL bytes")
    if text is None and declared:
        text = _try_decode(data, declared)
    if text is None:
        text = _try_decode(data, "utf-8")
    if text is None:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        text = None if best is None else str(best)
        if text is None:
            raise _binary(raw, "its bytes match no text encoding")
    if len(_CONTROL.findall(text[:100_000])) > max(8, len(text[:100_000]) // 100):
        raise _binary(raw, "it holds control characters")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _binary(raw: RawDocument, why: str) -> InvalidInputError:
    return InvalidInputError(
        f"document {where(raw)} is not text ({why}); give a text, Markdown, HTML, PDF or DOCX file"
    )


def library_error(raw: RawDocument, what: str, exc: BaseException) -> InvalidInputError:
    """The one-line error for a file a parsing library refused."""
    detail = " ".join(str(exc).split())[:160] or type(exc).__name__
    return InvalidInputError(f"document {where(raw)} cannot be read as {what}: {detail}")
