"""Question files with gold answers: MKQA, XOR-TyDi QA and MIRACL as published, and xling's JSONL.

Each reader takes a local file in the format its dataset publishes (nothing is downloaded) and
returns :class:`QAExample` records: the question, its language as an ISO 639-3 code, its gold
answers and, where the dataset has them, its gold passages.

- MKQA (apple/ml-mkqa ``dataset/mkqa.jsonl.gz``): one JSON object a line with ``example_id``,
  ``queries`` (language → question) and ``answers`` (language → list of ``{"type", "text",
  "aliases"?, "entity"?}``); one example per (question, language).
- XOR-TyDi QA (AkariAsai/XORQA, e.g. ``xor_dev_full_v1_1.jsonl``): one object a line with
  ``id``, ``question``, ``answers`` (a list, or one string) and ``lang``.
- MIRACL (project-miracl/miracl, the ``topics`` and ``qrels`` files of the Hugging Face
  dataset): topics ``qid<TAB>query``, qrels in TREC format ``qid Q0 docid relevance``; MIRACL
  has relevance judgements but no answers.
- xling's own JSONL: ``{"qid", "question", "lang", "answers"?, "gold_passages"?}``, what
  :func:`write_qa_examples` writes.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from xling.core.errors import InvalidInputError
from xling.core.files import write_atomic
from xling.core.languages import normalize_code
from xling.core.validation import (
    check_output_file,
    check_path,
    is_blank,
    json_object,
    preview,
    read_bytes,
)
from xling.eval.ir_metrics import read_qrels

__all__ = [
    "MKQA_LANGUAGES",
    "QA_FORMATS",
    "QAExample",
    "read_miracl",
    "read_mkqa",
    "read_qa_examples",
    "read_xor_tydi",
    "write_qa_examples",
]

QAFormat = Literal["auto", "mkqa", "xor_tydi", "miracl", "xling"]
# The formats read_qa_examples reads ("auto" tells them apart by their content).
QA_FORMATS: tuple[str, ...] = ("auto", "mkqa", "xor_tydi", "miracl", "xling")

# MKQA's language codes (its README) → xling's ISO 639-3 codes. zh_hk is written Chinese in
# traditional characters as used in Hong Kong, not Cantonese, like zh_tw.
MKQA_LANGUAGES: dict[str, str] = {
    "ar": "arb",
    "da": "dan",
    "de": "deu",
    "en": "eng",
    "es": "spa",
    "fi": "fin",
    "fr": "fra",
    "he": "heb",
    "hu": "hun",
    "it": "ita",
    "ja": "jpn",
    "km": "khm",
    "ko": "kor",
    "ms": "zsm",
    "nl": "nld",
    "no": "nob",
    "pl": "pol",
    "pt": "por",
    "ru": "rus",
    "sv": "swe",
    "th": "tha",
    "tr": "tur",
    "vi": "vie",
    "zh_cn": "cmn",
    "zh_hk": "cmn",
    "zh_tw": "cmn",
}

_XLING_KEYS = ("qid", "question", "lang", "answers", "gold_passages")
_MIRACL_NAME = re.compile(r"miracl-v[\d.]+-([a-z]{2,3})(?:-|\.|$)")


def _strings(value: Any, name: str) -> tuple[str, ...]:
    """A list (or tuple) of non-blank strings, stripped, as a tuple."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInputError(f"{name} must be a list of strings, got {preview(value)}")
    items: list[str] = []
    for item in value:
        if not isinstance(item, str) or is_blank(item):
            raise InvalidInputError(
                f"{name} holds {preview(item)}; each must be a non-empty string"
            )
        items.append(item.strip())
    return tuple(items)


@dataclass(frozen=True)
class QAExample:
    """A question with its gold answers and, if known, its gold passages.

    Attributes:
        qid: The question's id, unique in its file (MKQA: ``{example_id}_{mkqa language}``).
        question: The question text.
        lang: The question's language (any code :func:`xling.core.languages.normalize_code`
            knows; stored as ISO 639-3, ``sw`` → ``swh``).
        answers: Acceptable answers, in the question's language (may be empty: MIRACL).
        gold_passages: Ids (or texts) of passages that answer it (may be empty).
    """

    qid: str
    question: str
    lang: str
    answers: tuple[str, ...] = ()
    gold_passages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.qid, str) or is_blank(self.qid):
            raise InvalidInputError(f"qid {preview(self.qid)} is not allowed; use a non-empty str")
        if not isinstance(self.question, str) or is_blank(self.question):
            raise InvalidInputError(
                f"question {preview(self.question)} of {self.qid!r} is not allowed; "
                "give a non-empty question"
            )
        if not isinstance(self.lang, str):
            raise InvalidInputError(
                f"lang {preview(self.lang)} of {self.qid!r} is not allowed; give a language code"
            )
        object.__setattr__(self, "lang", normalize_code(self.lang))
        object.__setattr__(self, "answers", _strings(self.answers, "answers"))
        object.__setattr__(self, "gold_passages", _strings(self.gold_passages, "gold_passages"))

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data: xling's JSONL line (tuples become lists)."""
        return {
            "qid": self.qid,
            "question": self.question,
            "lang": self.lang,
            "answers": list(self.answers),
            "gold_passages": list(self.gold_passages),
        }


def _lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
    """The file's non-blank lines with their 1-based numbers; gzip is read transparently."""
    data = read_bytes(path, what)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InvalidInputError(f"{path} is not a readable gzip file ({exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInputError(f"{path}:{bad} is not UTF-8; save the file as UTF-8") from None
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line.rstrip("\r")


def _located(where: str, exc: InvalidInputError) -> InvalidInputError:
    message = str(exc)
    return InvalidInputError(message if message.startswith(where) else f"{where}: {message}")


def _unique(examples: Iterable[tuple[str, QAExample]]) -> list[QAExample]:
    """The examples, refusing a qid seen before (the ``where`` of each names its line)."""
    out: list[QAExample] = []
    seen: set[str] = set()
    for where, example in examples:
        if example.qid in seen:
            raise InvalidInputError(f"{where}: qid {example.qid!r} was used before; make it unique")
        seen.add(example.qid)
        out.append(example)
    return out


def _lang_list(langs: Sequence[str]) -> list[str]:
    """The requested languages as a list: one code or several, at least one."""
    items = [langs] if isinstance(langs, str) else list(langs)
    if not items:
        raise InvalidInputError("langs is empty; give at least one language, or None for all")
    return items


def _wanted(langs: Sequence[str] | None) -> set[str] | None:
    """Requested languages as ISO 639-3 codes; ``None``: all."""
    if langs is None:
        return None
    return {normalize_code(lang) for lang in _lang_list(langs)}


def _mkqa_codes(langs: Sequence[str]) -> list[str]:
    """MKQA language codes to read: MKQA's own (``zh_cn``) or any code xling knows (``fra``)."""
    codes: list[str] = []
    for lang in _lang_list(langs):
        if isinstance(lang, str) and lang in MKQA_LANGUAGES:
            matches = [lang]
        else:
            try:
                code = normalize_code(lang)
            except InvalidInputError:
                code = None
            matches = [mkqa for mkqa, iso in MKQA_LANGUAGES.items() if iso == code]
        if not matches:
            raise InvalidInputError(
                f"language {preview(lang)} is not in MKQA; use one of {', '.join(MKQA_LANGUAGES)}"
            )
        codes.extend(m for m in matches if m not in codes)
    return codes


def _mkqa_answers(entries: Any, lang: str) -> tuple[str, ...]:
    """The texts and aliases of one language's MKQA answers (unanswerable ones have none)."""
    if not isinstance(entries, list):
        raise InvalidInputError(f'"answers"["{lang}"] must be a list, got {preview(entries)}')
    texts: list[str] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or "type" not in entry or "text" not in entry:
            raise InvalidInputError(
                f'"answers"["{lang}"] holds {preview(entry)}; each answer is an object with '
                '"type", "text" and optional "aliases"'
            )
        text, aliases = entry["text"], entry.get("aliases") or []
        if text is not None and not isinstance(text, str):
            raise InvalidInputError(f'answer "text" {preview(text)} ({lang}) must be a string')
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise InvalidInputError(
                f'answer "aliases" {preview(aliases)} ({lang}) must be a list of strings'
            )
        for candidate in [text or "", *aliases]:
            if not is_blank(candidate) and candidate.strip() not in texts:
                texts.append(candidate.strip())
    return tuple(texts)


def _example_id(value: Any, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or is_blank(str(value)):
        raise InvalidInputError(f'"{key}" {preview(value)} must be a non-empty string or integer')
    return str(value)


def read_mkqa(path: str | Path, langs: Sequence[str] | None = None) -> list[QAExample]:
    """Reads MKQA's ``mkqa.jsonl`` or ``mkqa.jsonl.gz``, one example per question and language.

    Gold answers of a language are each answer's ``text`` followed by its ``aliases``
    (MKQA's official evaluation accepts both), stripped, without repeats. Questions whose
    answers in a language have no text (types ``unanswerable`` and ``long_answer``) are
    skipped for that language: there is nothing to score an answer against. ``binary``
    answers are kept as published (their text is ``yes`` / ``no``).

    Args:
        path: The file (plain or gzip, told apart by its first bytes).
        langs: Languages to read, as MKQA codes (``zh_cn``) or any code xling knows (``fra``,
            ``fr``; ``cmn`` means all three Chinese variants), each required in every record;
            ``None``: every language a record has (all 26 in the published file).

    Returns:
        Examples in file order, languages in the order asked (MKQA's order for ``None``);
        ``qid`` is ``{example_id}_{mkqa language}``, ``lang`` the ISO 639-3 code.

    Raises:
        InvalidInputError: If the file cannot be read, a line is not MKQA's (the message names
            ``file:line`` and the field), a language is not MKQA's, or an id repeats.
    """
    p = check_path(path, "MKQA file")
    asked = _mkqa_codes(langs) if langs is not None else None

    def examples() -> Iterator[tuple[str, QAExample]]:
        for number, line in _lines(p, "MKQA file"):
            where = f"{p}:{number}"
            try:
                obj = json_object(line, where)
                missing = [k for k in ("example_id", "queries", "answers") if k not in obj]
                if missing or not isinstance(obj["queries"], Mapping):
                    raise InvalidInputError(
                        'expected an MKQA record {"example_id", "queries": {lang: question}, '
                        '"answers": {lang: [...]}}'
                        + (f"; missing {', '.join(missing)}" if missing else "")
                    )
                if not isinstance(obj["answers"], Mapping):
                    raise InvalidInputError(
                        f'"answers" must be an object, got {preview(obj["answers"])}'
                    )
                example_id = _example_id(obj["example_id"], "example_id")
                unknown = [c for c in obj["queries"] if c not in MKQA_LANGUAGES]
                if unknown:
                    raise InvalidInputError(
                        f'"queries" has language {preview(unknown[0])}, which is not MKQA\'s; '
                        f"MKQA's are {', '.join(MKQA_LANGUAGES)}"
                    )
                present = [c for c in MKQA_LANGUAGES if c in obj["queries"]]
                codes = asked if asked is not None else present
                for code in codes:
                    if code not in obj["queries"] or code not in obj["answers"]:
                        raise InvalidInputError(
                            f'language "{code}" is missing from "queries" or "answers"'
                        )
                    answers = _mkqa_answers(obj["answers"][code], code)
                    if not answers:
                        continue
                    yield (
                        where,
                        QAExample(
                            f"{example_id}_{code}",
                            obj["queries"][code],
                            MKQA_LANGUAGES[code],
                            answers,
                        ),
                    )
            except InvalidInputError as exc:
                raise _located(where, exc) from None

    return _unique(examples())


def read_xor_tydi(path: str | Path, langs: Sequence[str] | None = None) -> list[QAExample]:
    """Reads an XOR-TyDi QA question file (``xor_dev_full_v1_1.jsonl`` and its kin).

    Each line holds ``id``, ``question``, ``lang`` (ISO 639-1: ``ar``, ``bn``, ``fi``, ``ja``,
    ``ko``, ``ru``, ``te``) and ``answers`` (a list of strings, or one string; absent in the
    question-only test files, which give examples without answers). Other fields are ignored.

    Args:
        path: The JSONL file (plain or gzip).
        langs: Languages to keep (any code xling knows); ``None``: all.

    Returns:
        Examples in file order.

    Raises:
        InvalidInputError: If the file cannot be read, a line lacks a field or has a bad one
            (the message names ``file:line``), or an id repeats.
    """
    p = check_path(path, "XOR-TyDi file")
    wanted = _wanted(langs)

    def examples() -> Iterator[tuple[str, QAExample]]:
        for number, line in _lines(p, "XOR-TyDi file"):
            where = f"{p}:{number}"
            try:
                obj = json_object(line, where)
                missing = [k for k in ("id", "question", "lang") if k not in obj]
                if missing:
                    raise InvalidInputError(
                        'expected an XOR-TyDi record {"id", "question", "answers", "lang"}; '
                        f"missing {', '.join(missing)}"
                    )
                answers = obj.get("answers", [])
                example = QAExample(
                    _example_id(obj["id"], "id"),
                    obj["question"],
                    obj["lang"],
                    (answers,) if isinstance(answers, str) else answers,
                )
            except InvalidInputError as exc:
                raise _located(where, exc) from None
            if wanted is None or example.lang in wanted:
                yield where, example

    return _unique(examples())


def _miracl_lang(path: Path, lang: str | None) -> str:
    if lang is not None:
        return lang
    match = _MIRACL_NAME.search(path.name)
    if match is None:
        raise InvalidInputError(
            f"the language of MIRACL topics {str(path)!r} is not in its name "
            "(topics.miracl-v1.0-LANG-SPLIT.tsv); give lang"
        )
    return match.group(1)


def read_miracl(
    path: str | Path, *, lang: str | None = None, qrels: str | Path | None = None
) -> list[QAExample]:
    """Reads MIRACL topics (``qid<TAB>query``) and, if given, their qrels as gold passages.

    MIRACL has relevance judgements but no answers, so ``answers`` is empty: the examples serve
    retrieval Recall@k, not answer scores. Gold passages are the document ids (``39#0``) judged
    relevant (relevance > 0) for the question, in qrels order; a question without judgements
    has none. Judgements of questions not in the topics are ignored.

    Args:
        path: The topics TSV (``topics.miracl-v1.0-sw-dev.tsv``).
        lang: The topics' language (any code xling knows); ``None``: read from the file name
            (``miracl-v1.0-sw-…``).
        qrels: The qrels file (``qrels.miracl-v1.0-sw-dev.tsv``: ``qid Q0 docid relevance``,
            tab- or space-separated).

    Returns:
        Examples in file order.

    Raises:
        InvalidInputError: If a file cannot be read, a topics line is not ``qid<TAB>query`` or
            a qrels line not TREC's (naming ``file:line``), a qid repeats, or the language is
            neither given nor in the file name.
    """
    p = check_path(path, "MIRACL topics file")
    language = normalize_code(_miracl_lang(p, lang))
    judged = read_qrels(check_path(qrels, "MIRACL qrels file")) if qrels is not None else {}

    def examples() -> Iterator[tuple[str, QAExample]]:
        for number, line in _lines(p, "MIRACL topics file"):
            where = f"{p}:{number}"
            fields = line.split("\t")
            if len(fields) != 2:
                raise InvalidInputError(
                    f"{where} has {len(fields)} tab-separated fields; MIRACL topics lines are "
                    "'qid<TAB>query'"
                )
            qid, query = fields[0].strip(), fields[1].strip()
            gold = tuple(doc for doc, grade in judged.get(qid, {}).items() if grade > 0)
            try:
                yield where, QAExample(qid, query, language, (), gold)
            except InvalidInputError as exc:
                raise _located(where, exc) from None

    return _unique(examples())


def _read_xling(path: Path, langs: Sequence[str] | None = None) -> list[QAExample]:
    """Reads xling's QA JSONL (what :func:`write_qa_examples` writes)."""
    wanted = _wanted(langs)

    def examples() -> Iterator[tuple[str, QAExample]]:
        for number, line in _lines(path, "QA examples file"):
            where = f"{path}:{number}"
            try:
                obj = json_object(line, where)
                unknown = sorted(set(obj) - set(_XLING_KEYS))
                missing = [k for k in ("qid", "question", "lang") if k not in obj]
                if unknown or missing:
                    raise InvalidInputError(
                        'expected {"qid", "question", "lang", "answers"?, "gold_passages"?}'
                        + (f"; missing {', '.join(missing)}" if missing else "")
                        + (f"; unknown {', '.join(unknown)}" if unknown else "")
                    )
                example = QAExample(
                    obj["qid"],
                    obj["question"],
                    obj["lang"],
                    obj.get("answers", ()),
                    obj.get("gold_passages", ()),
                )
            except InvalidInputError as exc:
                raise _located(where, exc) from None
            if wanted is None or example.lang in wanted:
                yield where, example

    return _unique(examples())


def _detect(path: Path) -> str:
    """The format of a question file, told by its first non-blank line."""
    for number, line in _lines(path, "QA examples file"):
        where = f"{path}:{number}"
        if not line.lstrip().startswith("{"):
            if "\t" in line:
                return "miracl"
            break
        obj = json_object(line, where)
        if "queries" in obj and "answers" in obj:
            return "mkqa"
        if "qid" in obj:
            return "xling"
        if "id" in obj and "question" in obj:
            return "xor_tydi"
        break
    else:
        raise InvalidInputError(f"{path} holds no question")
    raise InvalidInputError(
        f"{where}: cannot tell the format; expected xling JSONL "
        '({"qid", "question", "lang", ...}), MKQA ({"example_id", "queries", "answers"}), '
        'XOR-TyDi ({"id", "question", "answers", "lang"}) or MIRACL topics (qid<TAB>query); '
        "or give format"
    )


def read_qa_examples(
    path: str | Path,
    format: QAFormat = "auto",
    *,
    langs: Sequence[str] | None = None,
    qrels: str | Path | None = None,
) -> list[QAExample]:
    """Reads questions with gold answers from a file in any of the formats known here.

    Args:
        path: The file.
        format: ``"mkqa"``, ``"xor_tydi"``, ``"miracl"`` (topics TSV), ``"xling"`` (xling's
            JSONL), or ``"auto"``: told by the first line (tab-separated text → MIRACL; JSON
            with ``queries`` → MKQA, with ``qid`` → xling, with ``id`` → XOR-TyDi).
        langs: Languages to keep (``None``: all); for MIRACL at most one, the topics'
            language (``None``: from the file name).
        qrels: MIRACL only: the qrels file whose relevant documents become gold passages.

    Returns:
        The examples in file order.

    Raises:
        InvalidInputError: On an unknown format, ``qrels`` for a format other than MIRACL,
            several languages for MIRACL, or any error of the format's reader.
    """
    p = check_path(path, "QA examples file")
    if format not in QA_FORMATS:
        raise InvalidInputError(
            f"format={preview(format)} is not allowed; use one of {', '.join(QA_FORMATS)}"
        )
    chosen = _detect(p) if format == "auto" else format
    if qrels is not None and chosen != "miracl":
        raise InvalidInputError(
            f"qrels are read with MIRACL topics only; {str(p)!r} is {chosen} (drop qrels)"
        )
    if chosen == "mkqa":
        return read_mkqa(p, langs)
    if chosen == "xor_tydi":
        return read_xor_tydi(p, langs)
    if chosen == "xling":
        return _read_xling(p, langs)
    if isinstance(langs, str):
        langs = [langs]
    if langs is not None and len(langs) != 1:
        raise InvalidInputError(
            f"MIRACL topics are in one language; give one language, not {preview(langs)}"
        )
    return read_miracl(p, lang=langs[0] if langs else None, qrels=qrels)


def write_qa_examples(path: str | Path, examples: Iterable[QAExample]) -> None:
    """Writes examples as xling's QA JSONL (one :meth:`QAExample.to_dict` a line), atomically.

    Raises:
        InvalidInputError: If the path cannot be written to, an item is not a
            :class:`QAExample`, or two examples share a ``qid``.
    """
    p = check_output_file(path, "QA examples file")
    lines: list[str] = []
    seen: set[str] = set()
    for example in examples:
        if not isinstance(example, QAExample):
            raise InvalidInputError(
                f"cannot write {preview(example)} ({type(example).__name__}); give QAExamples"
            )
        if example.qid in seen:
            raise InvalidInputError(f"qid {example.qid!r} appears twice; qids must be unique")
        seen.add(example.qid)
        lines.append(json.dumps(example.to_dict(), ensure_ascii=False))
    write_atomic(p, "".join(line + "\n" for line in lines))
