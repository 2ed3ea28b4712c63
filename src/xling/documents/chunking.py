"""Cutting a parsed document into chunks by the pool embedder's own tokens.

A chunk is a span of the parsed text that fits a token budget (by default a little under the
embedder's window: 480 of e5's 512 tokens, see :data:`DEFAULT_CHUNK_TOKENS`). Chunks are
packed greedily from whole sentences
(:func:`~xling.documents.sentences.sentence_spans`), within runs of blocks under one heading
(a chunk never crosses a heading); a code block or table is kept whole where it fits and is
otherwise split at line boundaries; a sentence or line alone over the budget is cut where the
tokens run out (at a space or clause mark near there when there is one, never inside a
character and its combining marks). Each chunk may start with the last sentences of the
previous one (``overlap`` tokens at most) and may be embedded after its heading path.

Each sentence is counted once (counts are cached across documents, so boilerplate repeated in
many documents costs nothing); the sum of a chunk's sentence counts is checked against the
count of the chunk itself, which is what the budget bounds.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from xling.core.errors import InvalidInputError
from xling.core.validation import preview
from xling.documents.language import AUTO, check_lang, chunk_languages
from xling.documents.records import SECTION_SEPARATOR, Block, Chunk, ParsedDocument
from xling.documents.sentences import sentence_spans, strip_span
from xling.embedders.base import Embedder, longest_prefix

__all__ = [
    "DEFAULT_CHUNK_TOKENS",
    "DEFAULT_OVERLAP",
    "DEFAULT_WINDOW",
    "MIN_CHUNK_TOKENS",
    "Chunker",
    "model_window",
]

DEFAULT_WINDOW = 512
"""The window assumed for an embedder that does not state one (BERT-style encoders)."""
MIN_CHUNK_TOKENS = 16
"""The smallest ``chunk_tokens`` allowed."""
DEFAULT_OVERLAP = 32
"""Tokens of trailing sentences a chunk repeats from the previous one, by default (measured
by ``bench/documents.py`` on e5 with 256-token chunks: R@5 83.2 with 32, 81.6 with 64)."""
DEFAULT_CHUNK_TOKENS = 480
"""The default budget, a little under e5's 512-token window (measured by ``bench/documents.py``
on the Debian Reference, 56 questions in 7 languages, heading prefix on, dense R@5: 128 tokens
82.1, 256 83.2, 400 84.2, 480 84.7); smaller for a smaller window (``window - 32``)."""

_CACHE_SIZE = 1 << 16  # sentence token counts kept; the cache is emptied when full
_CUT_MARKS = frozenset("，、；：,;:")  # a cut after one of these reads better than mid-clause


class _Unit(NamedTuple):
    """A sentence, code line, table row or whole code block: what chunks are packed from."""

    start: int  # offsets in the parsed text
    end: int
    tokens: int  # the embedder's tokens for the text, without its fixed overhead
    block: int  # index of its block
    prose: bool  # False for code: left out of language detection


def model_window(embedder: Embedder) -> int:
    """The most tokens an embedder reads into one vector.

    Its ``window_tokens`` attribute (or ``max_length``, the Hugging Face tokenizer limit), of
    the embedder or the one it wraps, else :data:`DEFAULT_WINDOW`; never more than the
    embedder's ``max_tokens``.
    """
    window = DEFAULT_WINDOW
    for obj in (embedder, getattr(embedder, "inner", None)):
        stated = getattr(obj, "window_tokens", None) or getattr(obj, "max_length", None)
        if isinstance(stated, int) and not isinstance(stated, bool) and stated > 0:
            window = stated
            break
    cap = embedder.max_tokens
    return min(window, cap) if cap else window


@dataclass
class Chunker:
    """Cuts parsed documents into chunks that fit an embedder's token budget.

    Attributes:
        embedder: The pool's embedder: its tokenizer measures the chunks.
        chunk_tokens: The most tokens a chunk's embedded text (heading prefix included) may
            have, as :meth:`~xling.embedders.base.Embedder.count_tokens` counts it (role
            prefix and special tokens included); ``None``: :data:`DEFAULT_CHUNK_TOKENS`, or
            the window (:func:`model_window`) less 32 if that is smaller. Between 16 and the
            window.
        overlap: The most tokens of whole trailing sentences of the previous chunk (under the
            same heading) that a chunk repeats; 0 for none. Below ``chunk_tokens``.
        heading_prefix: Whether a chunk is embedded after its heading path and a line break
            (:attr:`Chunk.prefix`); the prefix counts against the budget. On by default:
            measured +4.6 points of R@5 (+5.9 for questions in other languages than the
            manual's) by ``bench/documents.py``.
        lid_backend: The language-identification backend for detected languages
            (:func:`~xling.documents.language.chunk_languages`); ``None`` for the default.
    """

    embedder: Embedder
    chunk_tokens: int | None = None
    overlap: int = DEFAULT_OVERLAP
    heading_prefix: bool = True
    lid_backend: str | None = None
    _budget: int = field(default=0, init=False, repr=False, compare=False)
    _overhead: int | None = field(default=None, init=False, repr=False, compare=False)
    _counts: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Checks the options; ``chunk_tokens=None`` becomes the default budget.

        Raises:
            InvalidInputError: On a bad embedder, ``chunk_tokens``, ``overlap`` or
                ``heading_prefix``.
        """
        if not isinstance(self.embedder, Embedder):
            raise InvalidInputError(
                f"embedder={preview(self.embedder)} is not allowed; use an xling Embedder "
                "(xling.embedders.get_embedder)"
            )
        window = model_window(self.embedder)
        if self.chunk_tokens is None:
            self.chunk_tokens = max(MIN_CHUNK_TOKENS, min(DEFAULT_CHUNK_TOKENS, window - 32))
        budget = self.chunk_tokens
        if (
            isinstance(budget, bool)
            or not isinstance(budget, int)
            or not MIN_CHUNK_TOKENS <= budget <= window
        ):
            raise InvalidInputError(
                f"chunk_tokens={preview(budget)} is not allowed; use an integer between "
                f"{MIN_CHUNK_TOKENS} and the embedder's window ({window})"
            )
        overlap = self.overlap
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < budget:
            raise InvalidInputError(
                f"overlap={preview(overlap)} is not allowed; use an integer from 0 to "
                f"{budget - 1} (below chunk_tokens={budget})"
            )
        if not isinstance(self.heading_prefix, bool):
            raise InvalidInputError(
                f"heading_prefix={preview(self.heading_prefix)} is not allowed; use True or False"
            )
        self._budget = budget

    def signature(self) -> str:
        """What the chunks depend on besides the document: embedder and options, as one string.

        A document ingested again with another signature is re-chunked (an update).
        """
        return (
            f"{self.embedder.id}|tokens={self.chunk_tokens}|overlap={self.overlap}|"
            f"prefix={int(self.heading_prefix)}|lid={self.lid_backend or ''}|v1"
        )

    @property
    def overhead(self) -> int:
        """Tokens the embedder adds to any text (role prefix, special tokens), measured once.

        Measured as ``2·count(s) − count(s + " " + s)`` for a short sentence ``s``: what a
        text costs on its own beyond what it adds inside a longer one.
        """
        if self._overhead is None:
            probe = "Hello."
            one = self.embedder.count_tokens(probe)
            two = self.embedder.count_tokens(f"{probe} {probe}")
            self._overhead = max(0, 2 * one - two)
        return self._overhead

    def chunk(self, parsed: ParsedDocument, lang: str | None = None) -> list[Chunk]:
        """Cuts a parsed document into chunks.

        Args:
            parsed: The document, as a parser made it.
            lang: The language of every chunk (any code
                :func:`~xling.core.languages.normalize_code` knows); ``None``: the document's
                ``lang``, else detected per chunk; ``"auto"``: detected per chunk even where
                the document names a language.

        Returns:
            The chunks in reading order, ``index`` 0, 1, ...; ``text`` is
            ``parsed.text[start:end]`` (blank lines between blocks included).

        Raises:
            InvalidInputError: If ``parsed`` is not a :class:`ParsedDocument` or ``lang`` is
                unknown.
            MissingDependencyError: If languages are detected and no LID backend is installed.
        """
        if not isinstance(parsed, ParsedDocument):
            raise InvalidInputError(
                f"parsed={preview(parsed)} is not allowed; use a ParsedDocument (a parser's output)"
            )
        wanted = check_lang(lang if lang is not None else parsed.document.lang)
        segment_lang = None if wanted in (None, AUTO) else wanted
        text = parsed.text
        spans: list[tuple[list[_Unit], str, int]] = []
        for run in _runs(parsed.blocks):
            prefix = self._prefix(parsed.blocks[run[0]].section)
            # Tokens left for sentences: the budget less the overhead and the prefix's tokens.
            room = self._budget - (self._count(prefix) if prefix else self.overhead)
            units = [u for b in run for u in self._units(parsed, b, segment_lang, room)]
            for first, end, total in self._pack(text, units, prefix, room):
                spans.append((units[first:end], prefix, total))
        prose = [
            " ".join(text[u.start : u.end] for u in units if u.prose) or None
            for units, _, _ in spans
        ]
        langs = chunk_languages(prose, wanted, backend=self.lid_backend)
        chunks = []
        for index, ((units, prefix, total), code) in enumerate(zip(spans, langs, strict=True)):
            start, end = units[0].start, units[-1].end
            body = text[start:end]
            block = parsed.blocks[units[0].block]
            chunks.append(
                Chunk(
                    doc_id=parsed.document.doc_id,
                    index=index,
                    text=body,
                    start=start,
                    end=end,
                    section=block.section,
                    page=block.page,
                    lang=code,
                    tokens=self.embedder.count_tokens(body) if prefix else total,
                    prefix=prefix,
                )
            )
        return chunks

    def _count(self, text: str) -> int:
        n = self._counts.get(text)
        if n is None:
            if len(self._counts) >= _CACHE_SIZE:
                self._counts.clear()
            n = self._counts[text] = self.embedder.count_tokens(text)
        return n

    def _prefix(self, section: tuple[str, ...]) -> str:
        """The heading path and a line break, cut to half the budget; ``""`` when off."""
        if not self.heading_prefix or not section:
            return ""
        path = SECTION_SEPARATOR.join(section)
        limit = self._budget // 2
        if self._count(path) > limit:
            path = path[: longest_prefix(path, limit, self.embedder.count_tokens, 4 * limit)]
        return path.rstrip() + "\n" if path.strip() else ""

    def _units(
        self, parsed: ParsedDocument, b: int, lang: str | None, room: int
    ) -> Iterator[_Unit]:
        """The packing units of block ``b``, each within ``room`` tokens."""
        block = parsed.blocks[b]
        if block.kind == "text":
            spans = sentence_spans(block.text, lang)
        elif self._count(block.text) - self.overhead <= room:
            whole = strip_span(block.text, 0, len(block.text))
            spans = [whole] if whole is not None else []
        else:  # code at line boundaries, tables at rows
            spans = _line_spans(block.text)
        for start, end in spans:
            yield from self._fit(parsed.text, block.start + start, block.start + end, b,
                                 block.kind != "code", room)  # fmt: skip

    def _fit(
        self, text: str, start: int, end: int, b: int, prose: bool, room: int
    ) -> Iterator[_Unit]:
        """``text[start:end]`` as one unit, or cut by tokens into units of at most ``room``."""
        overhead = self.overhead
        while start < end:
            piece = text[start:end]
            n = self._count(piece) - overhead
            if n <= room:
                yield _Unit(start, end, n, b, prose)
                return
            cut = _tidy_cut(
                piece, longest_prefix(piece, room + overhead, self.embedder.count_tokens, 4 * room)
            )
            head = strip_span(text, start, start + cut)
            if head is not None:
                yield _Unit(*head, self._count(text[head[0] : head[1]]) - overhead, b, prose)
            start += cut
            while start < end and text[start].isspace():
                start += 1

    def _pack(
        self, text: str, units: list[_Unit], prefix: str, room: int
    ) -> list[tuple[int, int, int]]:
        """Greedy packing: ``(first unit, end unit, tokens)`` per chunk, overlap included.

        ``units`` may be cut further in place where a unit joined to the prefix is over budget.
        """
        out: list[tuple[int, int, int]] = []
        first = new = 0
        while new < len(units):
            cost = sum(u.tokens for u in units[first:new])
            end = new
            while end < len(units) and cost + units[end].tokens <= room:
                cost += units[end].tokens
                end += 1
            if end == new:  # the overlap leaves no room for the next unit
                if first < new:
                    first += 1
                    continue
                end = new + 1
            # Sentence counts summed are an estimate; the chunk's own count decides.
            while True:
                chunk = prefix + text[units[first].start : units[end - 1].end]
                total = self.embedder.count_tokens(chunk)
                if total <= self._budget:
                    break
                if end - 1 > new:
                    end -= 1
                elif first < new:
                    first += 1
                else:
                    unit = units[new]
                    if unit.end - unit.start <= 1:
                        break  # a single character over budget: nothing smaller to send
                    smaller = max(1, unit.tokens - (total - self._budget))
                    units[new : new + 1] = self._fit(
                        text, unit.start, unit.end, unit.block, unit.prose, smaller
                    )
                    end = new + 1
            out.append((first, end, total))
            new = end
            first = self._overlap_start(units, first, end)
        return out

    def _overlap_start(self, units: Sequence[_Unit], first: int, end: int) -> int:
        """The first of the trailing units of ``units[first:end]`` within ``overlap`` tokens.

        The chunk's own first unit is never repeated, so every chunk moves on.
        """
        start, cost = end, 0
        while start - 1 > first and cost + units[start - 1].tokens <= self.overlap:
            start -= 1
            cost += units[start].tokens
        return start


def _runs(blocks: Sequence[Block]) -> Iterator[list[int]]:
    """Indices of consecutive blocks under the same heading path."""
    run: list[int] = []
    for i, block in enumerate(blocks):
        if run and blocks[run[-1]].section != block.section:
            yield run
            run = []
        run.append(i)
    if run:
        yield run


def _line_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the non-blank lines (trailing whitespace left out, indentation kept)."""
    spans, offset = [], 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip()
        if stripped.strip():
            spans.append((offset, offset + len(stripped)))
        offset += len(line)
    return spans


def _tidy_cut(piece: str, cut: int) -> int:
    """Moves a cut by tokens back to a space or clause mark in its last quarter, if any, and
    never between a character and its combining marks; at least one character."""
    if cut >= len(piece):
        return len(piece)
    for i in range(cut, max(1, cut - cut // 4) - 1, -1):
        if piece[i].isspace() or piece[i - 1] in _CUT_MARKS:
            return i
    while cut > 1 and unicodedata.category(piece[cut]) in ("Mn", "Mc", "Me"):
        cut -= 1
    return max(1, cut)
