"""Pool records and loaders for line-aligned files (FLORES style), TSV and JSONL."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.validation import (
    check_path,
    check_scalars,
    check_sequence,
    is_blank,
    json_object,
    preview,
    read_utf8,
)

__all__ = [
    "PAIR_PREFIX",
    "RESERVED_METADATA_KEYS",
    "RESERVED_METADATA_PREFIXES",
    "SIDES",
    "Record",
    "Side",
    "check_metadata",
    "merge_metadata",
    "pair_keys",
    "passage_id",
    "public_metadata",
    "read_lines",
    "aligned_records",
    "load_lines",
    "load_aligned",
    "load_tsv",
    "load_jsonl",
]

Side = Literal["src", "tgt"]
SIDES: tuple[Side, ...] = get_args(Side)
Scalar = str | int | float | bool

# Keys a record's metadata may not use: the record's own fields (its Chroma metadata holds them)
# and prefixes that Chroma refuses or reserves ("#", "$", "chroma:") or that xling keeps for
# itself ("xling:", as on collections).
RESERVED_METADATA_KEYS = frozenset({"lang", "side", "pair_id", "row", "source"})
RESERVED_METADATA_PREFIXES = ("#", "$", "chroma:", "xling:")


def check_metadata(metadata: Any, where: str = "record") -> dict[str, Scalar]:
    """Validates a record's metadata: what Chroma stores faithfully, and nothing reserved.

    Args:
        metadata: A mapping of names to scalars.
        where: Where it comes from (``file.jsonl:3``), for messages.

    Returns:
        The metadata as a plain ``dict``.

    Raises:
        InvalidInputError: If it is not a mapping, a key is empty, not a string or reserved
            (:data:`RESERVED_METADATA_KEYS`, :data:`RESERVED_METADATA_PREFIXES`), or a value is
            not a string, bool, 64-bit integer or finite float.
    """
    return check_scalars(metadata, where, RESERVED_METADATA_KEYS, RESERVED_METADATA_PREFIXES)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Record:
    """One text of a pool with its metadata.

    Attributes:
        text: The text.
        lang: Canonical ISO 639-3 code.
        side: ``"src"`` or ``"tgt"`` for halves of translation pairs, ``None`` otherwise.
        pair_id: Identifier shared by the two halves of a pair (derived from both texts).
        row: 0-based position in the file it came from.
        source: Where it came from (a file name or data set name).
        metadata: Further scalar fields.
    """

    text: str
    lang: str
    side: Side | None = None
    pair_id: str | None = None
    row: int | None = None
    source: str = ""
    metadata: dict[str, Scalar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validates every field; ``lang`` is stored as its canonical code (``sw`` → ``swh``).

        Raises:
            InvalidInputError: On an empty or non-string text, an unknown language, a side other
                than ``src``/``tgt``/``None``, a negative row or bad metadata.
        """
        if not isinstance(self.text, str) or is_blank(self.text):
            raise InvalidInputError(
                f"record text {preview(self.text)} is not allowed; use a non-empty string"
            )
        object.__setattr__(self, "lang", normalize_code(self.lang))
        if self.side is not None and self.side not in SIDES:
            raise InvalidInputError(
                f"record side {preview(self.side)} is not allowed; use 'src', 'tgt' or None"
            )
        if self.pair_id is not None and (not isinstance(self.pair_id, str) or not self.pair_id):
            raise InvalidInputError(
                f"record pair_id {preview(self.pair_id)} is not allowed; use a non-empty string "
                "or None"
            )
        if self.row is not None and (
            isinstance(self.row, bool) or not isinstance(self.row, int) or self.row < 0
        ):
            raise InvalidInputError(
                f"record row {preview(self.row)} is not allowed; use an integer >= 0 or None"
            )
        if not isinstance(self.source, str):
            raise InvalidInputError(
                f"record source {preview(self.source)} is not allowed; use a string"
            )
        object.__setattr__(self, "metadata", check_metadata(self.metadata))

    @property
    def id(self) -> str:
        """A content-derived id: the language and the text, nothing else.

        One text is one passage: an English sentence that is the source side of four aligned
        pairs gets one id (and one record in a pool, which lists the four pairs, see
        :meth:`chroma_metadata`).
        """
        return passage_id(self.lang, self.text)

    def chroma_metadata(self) -> dict[str, Scalar]:
        """The metadata stored in Chroma (``None`` values are left out).

        Pair membership is stored as ``xling:pair:<pair_id>`` = ``"src"`` / ``"tgt"``, one key
        per pair, so the records of one text merge (:func:`merge_metadata`) without losing any
        pair.
        """
        meta: dict[str, Scalar] = dict(self.metadata)
        meta.update({"lang": self.lang, "source": self.source})
        if self.pair_id is not None and self.side is not None:
            meta[PAIR_PREFIX + self.pair_id] = self.side
        if self.row is not None:
            meta["row"] = self.row
        return meta


PAIR_PREFIX = "xling:pair:"


def passage_id(lang: str, text: str) -> str:
    """The pool id of a text in a language (32 hex digits of a SHA-256)."""
    return _digest(lang, text)[:32]


def pair_keys(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The pairs a stored record belongs to: pair id → side."""
    return {
        key[len(PAIR_PREFIX) :]: str(value)
        for key, value in metadata.items()
        if key.startswith(PAIR_PREFIX)
    }


def merge_metadata(first: Mapping[str, Scalar], second: Mapping[str, Scalar]) -> dict[str, Scalar]:
    """The stored metadata of one text met twice: the first's fields, and every pair of both."""
    merged = dict(first)
    for key, value in second.items():
        if key.startswith(PAIR_PREFIX) or key not in merged:
            merged[key] = value
    return merged


# LlamaIndex's bookkeeping in a collection it built (the serialised node, its type).
_FOREIGN_KEYS = frozenset({"_node_content", "_node_type"})


def public_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What a hit shows of a stored record's metadata: all but ``lang``, ``xling:`` keys and
    LlamaIndex's serialised node (its ``doc_id`` / ``ref_doc_id`` are kept)."""
    return {
        k: v
        for k, v in metadata.items()
        if k != "lang" and not k.startswith("xling:") and k not in _FOREIGN_KEYS
    }


def _source_name(path: str | Path) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def read_lines(path: str | Path) -> list[str]:
    """Reads a UTF-8 text file into lines without their line endings.

    A final newline is optional (FLORES files have none); an empty line is refused.

    Raises:
        InvalidInputError: If the path is not a file (missing, a folder), the file is empty or
            not UTF-8 (line and byte named), or has an empty line (only whitespace or control
            characters such as NUL).
    """
    p = check_path(path)
    lines = read_utf8(p).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.rstrip("\r") for line in lines]
    if not lines:
        raise InvalidInputError(f"file {str(p)!r} is empty")
    for i, line in enumerate(lines):
        if is_blank(line):
            raise InvalidInputError(
                f"{p}:{i + 1} is an empty line (only whitespace or control characters); every "
                "line must hold text"
            )
    return lines


def aligned_records(
    sources: Iterable[str],
    targets: Iterable[str],
    src_lang: str,
    tgt_lang: str,
    *,
    source: str = "",
) -> list[Record]:
    """Builds the two records of each translation pair.

    Raises:
        InvalidInputError: If the sides differ in length or a text is empty.
    """
    src = check_sequence(sources, "sources", "strings")
    tgt = check_sequence(targets, "targets", "strings")
    if len(src) != len(tgt):
        raise InvalidInputError(
            f"aligned sides differ in length: {len(src)} {src_lang} lines vs {len(tgt)} "
            f"{tgt_lang} lines{f' in {source}' if source else ''}"
        )
    s_lang, t_lang = normalize_code(src_lang), normalize_code(tgt_lang)
    records: list[Record] = []
    for row, (s, t) in enumerate(zip(src, tgt, strict=True)):
        for text, side in ((s, "src"), (t, "tgt")):
            if not isinstance(text, str) or is_blank(text):
                what = "an empty" if isinstance(text, str) else f"a {type(text).__name__} as"
                raise InvalidInputError(
                    f"row {row} has {what} {side} text{f' in {source}' if source else ''}; "
                    "texts must be non-empty strings"
                )
        pair = _digest(s_lang, s, t_lang, t)[:16]
        records.append(Record(s, s_lang, "src", pair, row, source))
        records.append(Record(t, t_lang, "tgt", pair, row, source))
    return records


def load_lines(path: str | Path, lang: str, *, source: str | None = None) -> list[Record]:
    """Loads a monolingual file, one text per line.

    Raises:
        InvalidInputError: On a bad path or file (see :func:`read_lines`) or language.
    """
    code = normalize_code(lang)
    name = source or _source_name(check_path(path))
    return [Record(t, code, None, None, i, name) for i, t in enumerate(read_lines(path))]


def load_aligned(
    src_path: str | Path,
    tgt_path: str | Path,
    src_lang: str,
    tgt_lang: str,
    *,
    source: str | None = None,
) -> list[Record]:
    """Loads two line-aligned files (FLORES style) as translation pairs.

    Raises:
        InvalidInputError: If the files differ in length (both are named) or a line is empty.
    """
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise InvalidInputError(
            f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}; "
            "aligned files must have the same number of lines"
        )
    return aligned_records(src, tgt, src_lang, tgt_lang, source=source or _source_name(src_path))


def load_tsv(
    path: str | Path, src_lang: str, tgt_lang: str | None = None, *, source: str | None = None
) -> list[Record]:
    """Loads a TSV file: one column (monolingual) or two (source, target pairs).

    Raises:
        InvalidInputError: If a row has another number of columns than the first row.
    """
    p = check_path(path)
    lines = read_lines(p)
    rows = list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    width = 2 if tgt_lang is not None else 1
    for i, row in enumerate(rows):
        if len(row) != width:
            raise InvalidInputError(
                f"{p}:{i + 1} has {len(row)} tab-separated columns; expected {width} "
                + ("(source and target)" if width == 2 else "(text only; pairs need --tgt-lang)")
            )
    name = source or _source_name(p)
    if tgt_lang is None:
        code = normalize_code(src_lang)
        return [Record(r[0], code, None, None, i, name) for i, r in enumerate(rows)]
    return aligned_records(
        [r[0] for r in rows], [r[1] for r in rows], src_lang, tgt_lang, source=name
    )


def _scalar_metadata(obj: dict[str, Any], skip: set[str], where: str) -> dict[str, Scalar]:
    """The object's other fields that are scalars (``null``, lists and objects are left out),
    validated as record metadata."""
    meta = {
        k: v for k, v in obj.items() if k not in skip and isinstance(v, str | int | float | bool)
    }
    empty = next((k for k in obj if not k.strip()), None)
    if empty is not None:
        raise InvalidInputError(
            f"{where} has a field with the empty name {empty!r}; name every field"
        )
    return check_metadata(meta, where)


def _check_text_field(obj: dict[str, Any], key: str, where: str) -> str:
    if key not in obj:
        hint = ' (or "src"/"tgt" for pairs)' if key == "text" else ""
        raise InvalidInputError(f"{where} has no {key!r} field{hint}")
    value = obj[key]
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{where}: {key!r} must be a string, got {type(value).__name__} {preview(value)}"
        )
    if is_blank(value):
        raise InvalidInputError(f"{where}: {key!r} is empty ({preview(value)})")
    return value


def load_jsonl(
    path: str | Path,
    lang: str | None = None,
    tgt_lang: str | None = None,
    *,
    source: str | None = None,
) -> list[Record]:
    """Loads JSONL: ``{"text", "lang"?}`` per line, or ``{"src", "tgt"}`` pairs.

    Languages come from each object's ``lang`` (or ``src_lang``/``tgt_lang``) field, else from
    the arguments. Other scalar fields are kept as metadata (see :func:`check_metadata`).

    Raises:
        InvalidInputError: On invalid JSON, a missing or non-string text, a missing language,
            a field with an empty or reserved name, or a NaN/infinite number, naming file and
            line.
    """
    p = check_path(path)
    name = source or _source_name(p)
    records: list[Record] = []
    for i, line in enumerate(read_lines(p)):
        where = f"{p}:{i + 1}"
        try:
            records.extend(_jsonl_line(line, where, i, name, lang, tgt_lang))
        except InvalidInputError as exc:
            if str(exc).startswith(where):
                raise
            raise InvalidInputError(f"{where}: {exc}") from None
    return records


def _jsonl_line(
    line: str, where: str, row: int, name: str, lang: str | None, tgt_lang: str | None
) -> list[Record]:
    """The record (or the two records of a pair) of one JSONL line."""
    obj = json_object(line, where)
    if "src" in obj or "tgt" in obj:
        s_lang, t_lang = obj.get("src_lang", lang), obj.get("tgt_lang", tgt_lang)
        if not s_lang or not t_lang:
            raise InvalidInputError(f"{where} has a pair but no src_lang/tgt_lang")
        src, tgt = (_check_text_field(obj, key, where) for key in ("src", "tgt"))
        pair = aligned_records([src], [tgt], s_lang, t_lang, source=where)
        meta = _scalar_metadata(obj, {"src", "tgt", "src_lang", "tgt_lang"}, where)
        return [Record(r.text, r.lang, r.side, r.pair_id, row, name, meta) for r in pair]
    text, code = _check_text_field(obj, "text", where), obj.get("lang", lang)
    if not code:
        raise InvalidInputError(f'{where} has no "lang" and no default language was given')
    meta = _scalar_metadata(obj, {"text", "lang"}, where)
    return [Record(text, normalize_code(code), None, None, row, name, meta)]
