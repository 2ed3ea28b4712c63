"""Pool records and loaders for line-aligned files (FLORES style), TSV and JSONL."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xling.errors import InvalidInputError
from xling.prompts.languages import normalize_code

__all__ = [
    "Record",
    "Side",
    "read_lines",
    "aligned_records",
    "load_lines",
    "load_aligned",
    "load_tsv",
    "load_jsonl",
]

Side = Literal["src", "tgt"]
Scalar = str | int | float | bool


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

    @property
    def id(self) -> str:
        """A content-derived id: the same record always gets the same id.

        Halves of two different pairs that share a sentence get different ids, because the
        pair id (a digest of both sides) is part of it.
        """
        return _digest(self.lang, self.side or "", self.pair_id or "", self.text)[:32]

    def chroma_metadata(self) -> dict[str, Scalar]:
        """The metadata stored in Chroma (``None`` values are left out)."""
        meta: dict[str, Scalar] = dict(self.metadata)
        meta.update({"lang": self.lang, "source": self.source})
        if self.side is not None:
            meta["side"] = self.side
        if self.pair_id is not None:
            meta["pair_id"] = self.pair_id
        if self.row is not None:
            meta["row"] = self.row
        return meta


def _source_name(path: str | Path) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def read_lines(path: str | Path) -> list[str]:
    """Reads a UTF-8 text file into lines without their line endings.

    A final newline is optional (FLORES files have none); an empty line is refused.

    Raises:
        InvalidInputError: If the file is missing, empty, not UTF-8 or has an empty line.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"file {str(p)!r} is not UTF-8 (byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.rstrip("\r") for line in lines]
    if not lines:
        raise InvalidInputError(f"file {str(p)!r} is empty")
    for i, line in enumerate(lines):
        if not line.strip():
            raise InvalidInputError(f"{p}:{i + 1} is an empty line; every line must hold text")
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
    src, tgt = list(sources), list(targets)
    if len(src) != len(tgt):
        raise InvalidInputError(
            f"aligned sides differ in length: {len(src)} {src_lang} lines vs {len(tgt)} "
            f"{tgt_lang} lines{f' in {source}' if source else ''}"
        )
    s_lang, t_lang = normalize_code(src_lang), normalize_code(tgt_lang)
    records: list[Record] = []
    for row, (s, t) in enumerate(zip(src, tgt, strict=True)):
        for text, side in ((s, "src"), (t, "tgt")):
            if not isinstance(text, str) or not text.strip():
                raise InvalidInputError(
                    f"row {row} has an empty {side} text{f' in {source}' if source else ''}"
                )
        pair = _digest(s_lang, s, t_lang, t)[:16]
        records.append(Record(s, s_lang, "src", pair, row, source))
        records.append(Record(t, t_lang, "tgt", pair, row, source))
    return records


def load_lines(path: str | Path, lang: str, *, source: str | None = None) -> list[Record]:
    """Loads a monolingual file, one text per line."""
    code = normalize_code(lang)
    name = source or _source_name(path)
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
    p = Path(path)
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


def _scalar_metadata(obj: dict[str, Any], skip: set[str]) -> dict[str, Scalar]:
    return {
        k: v for k, v in obj.items() if k not in skip and isinstance(v, str | int | float | bool)
    }


def load_jsonl(
    path: str | Path,
    lang: str | None = None,
    tgt_lang: str | None = None,
    *,
    source: str | None = None,
) -> list[Record]:
    """Loads JSONL: ``{"text", "lang"?}`` per line, or ``{"src", "tgt"}`` pairs.

    Languages come from each object's ``lang`` (or ``src_lang``/``tgt_lang``) field, else from
    the arguments. Other scalar fields are kept as metadata.

    Raises:
        InvalidInputError: On invalid JSON, a missing field or language, naming file and line.
    """
    p = Path(path)
    name = source or _source_name(p)
    records: list[Record] = []
    for i, line in enumerate(read_lines(p)):
        where = f"{p}:{i + 1}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{where} is not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise InvalidInputError(f"{where} must hold a JSON object")
        if "src" in obj or "tgt" in obj:
            s_lang, t_lang = obj.get("src_lang", lang), obj.get("tgt_lang", tgt_lang)
            if not s_lang or not t_lang:
                raise InvalidInputError(f"{where} has a pair but no src_lang/tgt_lang")
            src_text, tgt_text = obj.get("src"), obj.get("tgt")
            if not isinstance(src_text, str) or not isinstance(tgt_text, str):
                raise InvalidInputError(f'{where} needs string "src" and "tgt" fields')
            pair = aligned_records([src_text], [tgt_text], s_lang, t_lang, source=where)
            meta = _scalar_metadata(obj, {"src", "tgt", "src_lang", "tgt_lang"})
            records.extend(Record(r.text, r.lang, r.side, r.pair_id, i, name, meta) for r in pair)
            continue
        text, code = obj.get("text"), obj.get("lang", lang)
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError(f'{where} needs a non-empty "text" (or "src"/"tgt")')
        if not code:
            raise InvalidInputError(f'{where} has no "lang" and no default language was given')
        meta = _scalar_metadata(obj, {"text", "lang"})
        records.append(Record(text, normalize_code(code), None, None, i, name, meta))
    return records
