"""BM25 (through ``bm25s``) over pool texts, with xling's script-aware tokenizer.

Scoring is vectorised over all queries at once: bm25s builds the eager index (one precomputed
score per (term, document)), and the score matrix of a batch of queries is a single sparse
gather-and-sum over those postings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from xling.core.errors import InvalidInputError, missing_extra_error
from xling.core.numerics import top_k
from xling.core.tokenize import Tokenizer, tokenize
from xling.core.validation import check_finite, check_positive_int, check_texts

__all__ = ["BM25_METHODS", "DEFAULT_BM25", "BM25Index", "BM25Method", "BM25Params"]

BM25Method = Literal["lucene", "robertson", "atire", "bm25l", "bm25+"]
BM25_METHODS: tuple[BM25Method, ...] = get_args(BM25Method)
"""The BM25 variants, by bm25s' names."""
# Scores of at most this many cells are materialised at once when scoring many queries.
_CELLS_PER_CHUNK = 1 << 24


@dataclass(frozen=True)
class BM25Params:
    """BM25's parameters, checked on creation; every BM25 user takes its defaults from here.

    Attributes:
        k1: Term-frequency saturation (>= 0).
        b: Length normalisation, in [0, 1].
        method: BM25 variant (``lucene`` is Lucene's, the bm25s default).

    Raises:
        InvalidInputError: On a ``k1`` or ``b`` out of range, or an unknown method.
    """

    k1: float = 1.5
    b: float = 0.75
    method: BM25Method = "lucene"

    def __post_init__(self) -> None:
        check_finite(self.k1, "k1", minimum=0.0)
        check_finite(self.b, "b", minimum=0.0, maximum=1.0)
        if self.method not in BM25_METHODS:
            raise InvalidInputError(
                f"unknown BM25 method {self.method!r}; allowed: {', '.join(BM25_METHODS)}"
            )


DEFAULT_BM25 = BM25Params()
"""Lucene BM25 with k1=1.5, b=0.75."""


class BM25Index:
    """BM25 over a fixed list of texts (a pool side), built with ``bm25s``.

    Args:
        texts: The documents, in pool order.
        params: k1, b and the BM25 variant.
        tokenizer: Text → tokens; default :func:`tokenize`.

    Raises:
        InvalidInputError: On an empty list or an empty text.
    """

    def __init__(
        self,
        texts: Sequence[str],
        params: BM25Params = DEFAULT_BM25,
        *,
        tokenizer: Tokenizer = tokenize,
    ) -> None:
        docs = check_texts(texts, "BM25 documents")
        if not docs:
            raise InvalidInputError("BM25 needs at least one document; the list is empty")
        try:
            import bm25s
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise missing_extra_error("bm25s", "all", "BM25 retrieval") from exc
        self.tokenizer = tokenizer
        self.size = len(docs)
        corpus = [tokenizer(doc) for doc in docs]
        # bm25s cannot index a document without tokens (all punctuation); give it a token that
        # no query can produce, so it scores 0 for every query.
        corpus = [tokens or ["\x00"] for tokens in corpus]
        self._bm25 = bm25s.BM25(k1=params.k1, b=params.b, method=params.method)
        self._bm25.index(corpus, show_progress=False)
        self._vocab: dict[str, int] = dict(self._bm25.vocab_dict)
        scores = self._bm25.scores
        self._data = np.asarray(scores["data"], dtype=np.float32)
        self._docs = np.asarray(scores["indices"], dtype=np.int64)
        self._indptr = np.asarray(scores["indptr"], dtype=np.int64)
        nonocc = getattr(self._bm25, "nonoccurrence_array", None)
        self._nonoccurrence = None if nonocc is None else np.asarray(nonocc, dtype=np.float32)

    def __len__(self) -> int:
        return self.size

    def save(self, path: str | Path) -> None:
        """Writes the index (the precomputed postings and the vocabulary) to one ``.npz`` file.

        Only an index built with the default :func:`tokenize` can be saved, since the tokenizer
        itself is not stored.
        """
        if self.tokenizer is not tokenize:
            raise InvalidInputError("only a BM25 index built with xling's tokenize can be saved")
        terms = sorted(self._vocab, key=self._vocab.__getitem__)
        extra = {} if self._nonoccurrence is None else {"nonoccurrence": self._nonoccurrence}
        np.savez(
            path,
            data=self._data,
            docs=self._docs,
            indptr=self._indptr,
            terms=np.asarray(terms, dtype=str),
            size=np.asarray([self.size]),
            **extra,
        )

    @classmethod
    def load(cls, path: str | Path) -> BM25Index:
        """Reads an index written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as arrays:
            index = cls.__new__(cls)
            index.tokenizer = tokenize
            index.size = int(arrays["size"][0])
            index._vocab = {str(t): i for i, t in enumerate(arrays["terms"].tolist())}
            index._data = arrays["data"]
            index._docs = arrays["docs"]
            index._indptr = arrays["indptr"]
            index._nonoccurrence = arrays["nonoccurrence"] if "nonoccurrence" in arrays else None
        return index

    def _query_terms(self, queries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(query number, term id) of every known query token, duplicates kept."""
        qs: list[int] = []
        terms: list[int] = []
        for i, query in enumerate(queries):
            for token in self.tokenizer(query):
                term = self._vocab.get(token)
                if term is not None:
                    qs.append(i)
                    terms.append(term)
        return np.asarray(qs, dtype=np.int64), np.asarray(terms, dtype=np.int64)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """The BM25 score of every (query, document) pair.

        Args:
            queries: Query texts.

        Returns:
            A ``(len(queries), len(self))`` float32 array; it equals bm25s' ``get_scores`` of
            each query's tokens.
        """
        texts = check_texts(queries, "queries")
        out = np.zeros((len(texts), self.size), dtype=np.float32)
        qs, terms = self._query_terms(texts)
        if len(terms):
            starts, ends = self._indptr[terms], self._indptr[terms + 1]
            lengths = ends - starts
            # Expand each (query, term) into the term's postings without a Python loop.
            owner = np.repeat(np.arange(len(terms)), lengths)
            offsets = np.arange(int(lengths.sum())) - np.repeat(
                np.cumsum(lengths) - lengths, lengths
            )
            post = starts[owner] + offsets
            flat = qs[owner] * self.size + self._docs[post]
            out += (
                np.bincount(flat, weights=self._data[post], minlength=out.size)
                .reshape(out.shape)
                .astype(np.float32)
            )
            if self._nonoccurrence is not None:
                out += np.bincount(qs, weights=self._nonoccurrence[terms], minlength=len(texts))[
                    :, None
                ].astype(np.float32)
        return out

    def search(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best documents of each query (ties broken by document order).

        Args:
            queries: Query texts.
            k: Documents per query, at most ``len(self)``.

        Returns:
            ``(indices, scores)``, each ``(len(queries), k)``, best first.
        """
        texts = check_texts(queries, "queries")
        check_positive_int(k, "k", maximum=self.size)
        step = max(1, _CELLS_PER_CHUNK // self.size)
        parts = [top_k(self.scores(texts[i : i + step]), k) for i in range(0, len(texts), step)]
        if not parts:
            return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
        )
