"""BM25 that grows: raw postings in segments, scored at query time with global statistics.

An eager BM25 index (bm25s') stores one precomputed score per (term, document); every added
passage changes N, the mean length and some document frequencies, so all of it would have to
be recomputed. Here each :class:`Segment` keeps raw postings instead (term frequencies and
document lengths, as Lucene does), and a query computes each touched posting's weight from the
statistics of the live passages of every segment: N, the total length and the document
frequencies of the query's terms (counted over live postings). Adding passages writes one small
segment; deleting marks tombstones. The scores are those of a from-scratch index over the live
passages, bit for bit whatever the segments: every statistic is an integer, and a
(query, passage) cell sums its terms in the same order.

Ties are broken by passage id (each segment holds its passages sorted by id, and the segments'
candidates are merged by (score, id)), so the order does not depend on how the index grew.

Compaction (:meth:`GrowingBM25.compact`): a segment with more than a quarter of its passages
deleted is rewritten without them, and when there are more than :data:`MAX_SEGMENTS` segments
every one but the largest is merged into one (the largest too once the merged one reaches half
its size), so a query visits at most a few segments and tombstones never pile up. Merging
reuses the postings: no text is tokenized again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.files import write_atomic
from xling.core.numerics import top_k
from xling.core.tokenize import Tokenizer, tokenize
from xling.core.validation import check_positive_int, check_texts
from xling.retrieval.bm25_index import DEFAULT_BM25, BM25Params

__all__ = [
    "MANIFEST",
    "MAX_SEGMENTS",
    "GrowingBM25",
    "Segment",
    "load_index",
    "merge_segments",
    "save_index",
]

MAX_SEGMENTS = 8
"""More segments than this are merged (all but the largest) after an update."""
_DEAD_SHARE = 0.25  # a segment with more deleted passages than this share is rewritten
_CELLS = 1 << 24  # scores of at most this many (query, passage) cells at once
_DELTA = 0.5  # bm25s' delta for BM25L and BM25+


@dataclass
class Segment:
    """Raw BM25 postings of some passages, sorted by id; immutable once built.

    Attributes:
        ids: Passage ids, sorted (a ``str`` array).
        lengths: Tokens per passage (at least 1: a passage without tokens counts one that no
            query can produce, as xling's bm25s index does).
        terms: The segment's vocabulary, by term number.
        indptr: Postings of term ``t`` are ``indptr[t]:indptr[t + 1]``.
        docs: Passage number of each posting, increasing within a term.
        tfs: Term frequency of each posting.
    """

    ids: np.ndarray
    lengths: np.ndarray
    terms: np.ndarray
    indptr: np.ndarray
    docs: np.ndarray
    tfs: np.ndarray
    _vocab: dict[str, int] | None = field(default=None, repr=False, compare=False)
    file: str | None = field(default=None, repr=False, compare=False)
    """The file it was saved to or loaded from, in its index's folder (``None``: not yet)."""

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def vocab(self) -> dict[str, int]:
        """Term → term number."""
        if self._vocab is None:
            self._vocab = {str(t): i for i, t in enumerate(self.terms.tolist())}
        return self._vocab

    @classmethod
    def build(
        cls, ids: Sequence[str], texts: Sequence[str], tokenizer: Tokenizer = tokenize
    ) -> Segment:
        """Tokenizes the passages and builds their postings.

        Raises:
            InvalidInputError: On lists of different lengths, or a repeated id.
        """
        if len(ids) != len(texts):
            raise InvalidInputError(f"{len(ids)} ids but {len(texts)} texts for a BM25 segment")
        order = np.argsort(np.asarray(ids, dtype=str), kind="stable")
        sorted_ids = np.asarray(ids, dtype=str)[order]
        if len(sorted_ids) > 1 and (sorted_ids[1:] == sorted_ids[:-1]).any():
            raise InvalidInputError("a BM25 segment got the same passage id twice")
        vocab: dict[str, int] = {}
        token_ids: list[int] = []
        counts = np.zeros(len(ids), dtype=np.int64)
        for pos, i in enumerate(order.tolist()):
            tokens = tokenizer(texts[i])
            counts[pos] = len(tokens)
            token_ids.extend(vocab.setdefault(t, len(vocab)) for t in tokens)
        doc_of_token = np.repeat(np.arange(len(ids), dtype=np.int64), counts)
        return cls._from_pairs(
            sorted_ids,
            np.maximum(counts, 1),
            np.asarray(list(vocab), dtype=str),
            np.asarray(token_ids, dtype=np.int64),
            doc_of_token,
        )

    @classmethod
    def _from_pairs(
        cls,
        ids: np.ndarray,
        lengths: np.ndarray,
        terms: np.ndarray,
        token_ids: Sequence[int] | np.ndarray,
        doc_of_token: np.ndarray,
    ) -> Segment:
        n = max(1, len(ids))
        keys = np.asarray(token_ids, dtype=np.int64) * n + doc_of_token
        pairs, tfs = np.unique(keys, return_counts=True)  # sorted by (term, passage)
        term_of = pairs // n
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_of, minlength=len(terms)), out=indptr[1:])
        return cls(
            ids=ids,
            lengths=lengths,
            terms=terms,
            indptr=indptr,
            docs=(pairs % n).astype(np.int32),
            tfs=tfs.astype(np.int32),
        )

    def save(self, path: str | Path) -> None:
        """Writes the segment to one ``.npz`` file."""
        np.savez(
            path,
            ids=self.ids,
            lengths=self.lengths,
            terms=self.terms,
            indptr=self.indptr,
            docs=self.docs,
            tfs=self.tfs,
        )

    @classmethod
    def load(cls, path: str | Path) -> Segment:
        """Reads a segment written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as a:
            return cls(
                ids=a["ids"],
                lengths=a["lengths"],
                terms=a["terms"],
                indptr=a["indptr"],
                docs=a["docs"],
                tfs=a["tfs"],
                file=Path(path).name,
            )


def _expand(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) of every item of the ranges ``starts[i] : starts[i] + lengths[i]``."""
    owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    offsets = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(lengths) - lengths, lengths
    )
    return owner, starts[owner] + offsets


def _idf(df: np.ndarray, n: int, method: str) -> np.ndarray:
    """bm25s' IDF of each document frequency (0 where the term occurs in no live passage)."""
    d = np.maximum(df, 1).astype(np.float64)
    if method == "lucene":
        idf = np.log(1 + (n - d + 0.5) / (d + 0.5))
    elif method == "robertson":
        idf = np.log(np.maximum((n - d + 0.5) / (d + 0.5), 1.0))
    elif method == "atire":
        idf = np.log(n / d)
    elif method == "bm25l":
        idf = np.log((n + 1) / (d + 0.5))
    else:  # bm25+
        idf = np.log((n + 1) / d)
    return np.where(df > 0, idf, 0.0)


def _tfc(tf: np.ndarray, norm: np.ndarray, params: BM25Params) -> np.ndarray:
    """bm25s' term-frequency component; ``norm`` is ``1 - b + b * length / mean length``."""
    k1, method = params.k1, params.method
    if method in ("lucene", "robertson"):
        return tf / (k1 * norm + tf)
    if method == "atire":
        return tf * (k1 + 1) / (tf + k1 * norm)
    if method == "bm25l":
        c = tf / norm
        return (k1 + 1) * (c + _DELTA) / (k1 + c + _DELTA)
    return (k1 + 1) * tf / (k1 * norm + tf) + _DELTA  # bm25+


def _tfc_absent(params: BM25Params) -> float:
    """The term-frequency component of a term a passage lacks (not 0 for BM25L and BM25+)."""
    if params.method == "bm25l":
        return (params.k1 + 1) * _DELTA / (params.k1 + _DELTA)
    return _DELTA if params.method == "bm25+" else 0.0


class GrowingBM25:
    """BM25 over segments of raw postings, with tombstones; see the module's description.

    Args:
        segments: The segments (ids must not repeat across their live passages).
        dead: Each segment's deleted passage numbers (default none).
        tokenizer: Text → tokens; default :func:`tokenize`.
    """

    def __init__(
        self,
        segments: Sequence[Segment] = (),
        dead: Sequence[Sequence[int]] | None = None,
        *,
        tokenizer: Tokenizer = tokenize,
    ) -> None:
        self.tokenizer = tokenizer
        self.segments: list[Segment] = list(segments)
        self.live: list[np.ndarray] = []
        for i, seg in enumerate(self.segments):
            live = np.ones(len(seg), dtype=bool)
            if dead is not None:
                live[np.asarray(dead[i], dtype=np.int64)] = False
            self.live.append(live)

    def __len__(self) -> int:
        return int(sum(int(live.sum()) for live in self.live))

    def live_ids(self) -> list[str]:
        """Ids of every live passage."""
        return [str(i) for seg, live in zip(self.segments, self.live, strict=True)
                for i in seg.ids[live].tolist()]  # fmt: skip

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Adds passages as one new segment.

        Raises:
            InvalidInputError: On an id already live in the index, or a repeated id.
        """
        if not ids:
            return
        old = self.masks(ids)
        if any(m.any() for m in old):
            raise InvalidInputError("a passage added to a BM25 index is already in it")
        seg = Segment.build(ids, texts, self.tokenizer)
        self.segments.append(seg)
        self.live.append(np.ones(len(seg), dtype=bool))

    def delete(self, ids: Collection[str]) -> int:
        """Marks passages deleted (ids not in the index are ignored); returns how many were."""
        found = 0
        for live, mask in zip(self.live, self.masks(ids), strict=True):
            hit = mask & live
            found += int(hit.sum())
            live[hit] = False
        return found

    def masks(self, ids: Collection[str]) -> list[np.ndarray]:
        """Each segment's passages among ``ids`` (live or not), as boolean arrays."""
        wanted = np.asarray(list(ids), dtype=str)
        out = []
        for seg in self.segments:  # ids are sorted: a binary search each, not a scan
            mask = np.zeros(len(seg), dtype=bool)
            if len(seg) and len(wanted):
                pos = np.minimum(np.searchsorted(seg.ids, wanted), len(seg) - 1)
                mask[pos[seg.ids[pos] == wanted]] = True
            out.append(mask)
        return out

    def compact(self) -> bool:
        """Applies the compaction policy (see the module); returns whether anything merged."""
        victims = {
            i
            for i, live in enumerate(self.live)
            if len(live) and (len(live) - int(live.sum())) > _DEAD_SHARE * len(live)
        }
        if len(self.segments) > MAX_SEGMENTS:
            largest = max(range(len(self.segments)), key=lambda i: len(self.segments[i]))
            victims |= set(range(len(self.segments))) - {largest}
            rest = sum(int(self.live[i].sum()) for i in victims)
            if rest * 2 >= int(self.live[largest].sum()):
                victims.add(largest)
        if not victims:
            return False
        chosen = sorted(victims)
        merged = merge_segments([(self.segments[i], self.live[i]) for i in chosen])
        keep = [i for i in range(len(self.segments)) if i not in victims]
        self.segments = [self.segments[i] for i in keep]
        self.live = [self.live[i] for i in keep]
        if len(merged):
            self.segments.append(merged)
            self.live.append(np.ones(len(merged), dtype=bool))
        return True

    def search(
        self,
        queries: Sequence[str],
        k: int,
        params: BM25Params = DEFAULT_BM25,
        *,
        allowed: Sequence[np.ndarray] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """(passage id, score) of the ``k`` best live passages of each query, best first.

        Passages scoring 0 or less are left out; ties go to the lower id.

        Args:
            queries: Query texts.
            k: Passages per query.
            params: k1, b and the variant, applied at query time.
            allowed: Per segment, which passages may be returned (:meth:`masks`); ``None``: all.

        Returns:
            One list per query.
        """
        texts = check_texts(queries, "queries")
        check_positive_int(k, "k")
        n = len(self)
        if n == 0:
            return [[] for _ in texts]
        pairs = zip(self.segments, self.live, strict=True)
        total = sum(int(seg.lengths[live].sum()) for seg, live in pairs)
        widest = max(len(seg) for seg in self.segments)
        step = max(1, _CELLS // max(1, widest))
        out: list[list[tuple[str, float]]] = []
        for start in range(0, len(texts), step):
            out.extend(self._search(texts[start : start + step], k, params, allowed, n, total))
        return out

    def _search(
        self,
        queries: Sequence[str],
        k: int,
        params: BM25Params,
        allowed: Sequence[np.ndarray] | None,
        n: int,
        total: int,
    ) -> list[list[tuple[str, float]]]:
        unique: dict[str, int] = {}
        occ_q: list[int] = []
        occ_u: list[int] = []
        for q, query in enumerate(queries):
            for token in self.tokenizer(query):
                occ_q.append(q)
                occ_u.append(unique.setdefault(token, len(unique)))
        qs, us = np.asarray(occ_q, dtype=np.int64), np.asarray(occ_u, dtype=np.int64)
        nu = len(unique)
        # Pass 1: every segment's live postings of the query terms, and their global df.
        gathered = []
        df = np.zeros(nu, dtype=np.int64)
        for seg, live in zip(self.segments, self.live, strict=True):
            vocab = seg.vocab
            tid = np.fromiter((vocab.get(t, -1) for t in unique), dtype=np.int64, count=nu)
            known = tid >= 0
            starts = np.where(known, seg.indptr[np.maximum(tid, 0)], 0)
            lengths = np.where(known, seg.indptr[np.maximum(tid, 0) + 1], 0) - starts
            owner, post = _expand(starts, lengths)
            docs = seg.docs[post].astype(np.int64)
            keep = live[docs]
            owner, docs, tfs = owner[keep], docs[keep], seg.tfs[post][keep]
            counts = np.bincount(owner, minlength=nu)
            df += counts
            gathered.append((owner, docs, tfs, counts))
        # Pass 2: weights from the global statistics, summed per (query, passage).
        idf = _idf(df, n, params.method)
        absent = idf * _tfc_absent(params)
        base = np.bincount(qs, weights=absent[us], minlength=len(queries)) if nu else None
        mean = total / n
        rows: list[list[tuple[float, str]]] = [[] for _ in queries]
        # Without a score for absent terms, only passages with a posting can score above 0:
        # few queries touch a small share of a large pool, so their cells are summed sparsely.
        sparse = _tfc_absent(params) == 0.0
        for s, (seg, live) in enumerate(zip(self.segments, self.live, strict=True)):
            owner, docs, tfs, counts = gathered[s]
            m = len(seg)
            norm = 1 - params.b + params.b * seg.lengths[docs] / mean
            weight = idf[owner] * _tfc(tfs.astype(np.float64), norm, params) - absent[owner]
            ptr = np.concatenate([[0], np.cumsum(counts)])
            occ, post = _expand(ptr[us], counts[us])
            flat = qs[occ] * m + docs[post]
            if sparse and len(flat) * 4 < len(queries) * m:
                found = _sparse_top(flat, weight[post], m, k, live, allowed, s)
            else:
                found = _dense_top(flat, weight[post], m, k, len(queries), base, live, allowed, s)
            for q, i, v in zip(*found, strict=True):
                rows[q].append((v, str(seg.ids[i])))
        return [[(i, v) for v, i in sorted(row, key=lambda c: (-c[0], c[1]))[:k]] for row in rows]


def _dense_top(
    flat: np.ndarray,
    weights: np.ndarray,
    m: int,
    k: int,
    nq: int,
    base: np.ndarray | None,
    live: np.ndarray,
    allowed: Sequence[np.ndarray] | None,
    s: int,
) -> tuple[list[int], list[int], list[float]]:
    """(query, passage, score) of each query's ``k`` best passages of one segment, from the
    (query, passage) cell of every weighted posting, over a dense score matrix."""
    scores = np.bincount(flat, weights=weights, minlength=nq * m).reshape(nq, m)
    if base is not None:
        scores += base[:, None]
    scores32 = scores.astype(np.float32)
    scores32[scores32 <= 0] = -np.inf
    scores32[:, ~live] = -np.inf
    if allowed is not None:
        scores32[:, ~allowed[s]] = -np.inf
    idx, vals = top_k(scores32, min(k, m))
    keep = (idx >= 0) & np.isfinite(vals)
    qs = np.broadcast_to(np.arange(nq)[:, None], idx.shape)
    return qs[keep].tolist(), idx[keep].tolist(), vals[keep].tolist()


def _sparse_top(
    flat: np.ndarray,
    weights: np.ndarray,
    m: int,
    k: int,
    live: np.ndarray,
    allowed: Sequence[np.ndarray] | None,
    s: int,
) -> tuple[list[int], list[int], list[float]]:
    """As :func:`_dense_top` (same sums, in the same order), over the touched cells only."""
    cells, inverse = np.unique(flat, return_inverse=True)
    scores = np.bincount(inverse.ravel(), weights=weights, minlength=len(cells)).astype(np.float32)
    qs, docs = cells // m, cells % m
    keep = (scores > 0) & live[docs]
    if allowed is not None:
        keep &= allowed[s][docs]
    qs, docs, scores = qs[keep], docs[keep], scores[keep]
    order = np.lexsort((docs, -scores, qs))  # by query, best first, ties to the lower id
    qs, docs, scores = qs[order], docs[order], scores[order]
    starts = np.searchsorted(qs, qs, side="left")
    first = np.arange(len(qs)) - starts < k
    return qs[first].tolist(), docs[first].tolist(), scores[first].tolist()


def merge_segments(parts: Sequence[tuple[Segment, np.ndarray]]) -> Segment:
    """One segment holding the live passages of several, from their postings (no tokenizing).

    Args:
        parts: (segment, live mask) pairs.
    """
    ids = np.concatenate([seg.ids[live] for seg, live in parts]).astype(str)
    order = np.argsort(ids, kind="stable")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    n = max(1, len(ids))
    vocab: dict[str, int] = {}
    term_parts, doc_parts, tf_parts = [], [], []
    offset = 0
    for seg, live in parts:
        remap = np.full(len(seg), -1, dtype=np.int64)
        remap[live] = rank[offset : offset + int(live.sum())]
        offset += int(live.sum())
        term_of = np.repeat(np.arange(len(seg.terms), dtype=np.int64), np.diff(seg.indptr))
        keep = live[seg.docs]
        used = np.flatnonzero(np.bincount(term_of[keep], minlength=len(seg.terms)))
        tmap = np.full(len(seg.terms), -1, dtype=np.int64)
        tmap[used] = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for t in seg.terms[used].tolist()),
            dtype=np.int64,
            count=len(used),
        )
        term_parts.append(tmap[term_of[keep]])
        doc_parts.append(remap[seg.docs[keep]])
        tf_parts.append(seg.tfs[keep])
    terms = np.concatenate(term_parts) if term_parts else np.zeros(0, dtype=np.int64)
    docs = np.concatenate(doc_parts) if doc_parts else np.zeros(0, dtype=np.int64)
    tfs = np.concatenate(tf_parts) if tf_parts else np.zeros(0, dtype=np.int32)
    key_order = np.argsort(terms * n + docs, kind="stable")
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=len(vocab)), out=indptr[1:])
    lengths = np.concatenate([seg.lengths[live] for seg, live in parts])[order]
    return Segment(
        ids=ids[order],
        lengths=lengths.astype(np.int64),
        terms=np.asarray(list(vocab), dtype=str),
        indptr=indptr,
        docs=docs[key_order].astype(np.int32),
        tfs=tfs[key_order].astype(np.int32),
    )


MANIFEST = "index.json"
"""The file, in an index's folder, that names its segments and tombstones."""
_FORMAT = 1


def save_index(index: GrowingBM25, folder: Path, header: dict[str, Any]) -> None:
    """Writes an index to a folder so that a concurrent reader sees the old or the new one.

    New segments are written first (each to its own new file, never rewritten), then the
    manifest (which names the segments and their tombstones) replaces the old one in one
    rename; segment files named by neither it nor the manifest it replaced are removed last.

    Args:
        index: The index (built with :func:`tokenize`; the tokenizer is not stored).
        folder: Its folder.
        header: What the caller keys it by (the pool's state), kept in the manifest.
    """
    if index.tokenizer is not tokenize:
        raise InvalidInputError("only a BM25 index built with xling's tokenize can be saved")
    folder.mkdir(parents=True, exist_ok=True)
    for seg in index.segments:
        if seg.file is None or not (folder / seg.file).is_file():
            name = f"seg-{uuid.uuid4().hex}.npz"
            write_atomic(folder / name, seg.save)
            seg.file = name
    manifest = {
        **header,
        "format": _FORMAT,
        "segments": [
            {"file": seg.file, "dead": np.flatnonzero(~live).tolist()}
            for seg, live in zip(index.segments, index.live, strict=True)
        ],
    }
    # Files of the manifest replaced stay one more write, for readers still loading them.
    previous = _manifest(folder) or {}
    kept = {str(p.get("file")) for p in previous.get("segments", []) if isinstance(p, dict)}
    write_atomic(folder / MANIFEST, json.dumps(manifest))
    named = {seg.file for seg in index.segments} | kept
    for path in folder.glob("seg-*.npz"):
        if path.name not in named:
            path.unlink(missing_ok=True)


def _manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def load_index(folder: Path) -> tuple[GrowingBM25, dict[str, Any]] | None:
    """Reads an index written by :func:`save_index` and its manifest's header.

    Returns:
        ``None`` when there is none or it cannot be read (a damaged file, or writers that
        removed a segment before we could load it three times running): the caller then
        builds the index again.
    """
    for _ in range(3):
        try:
            manifest = _manifest(folder)
            if manifest is None or manifest.get("format") != _FORMAT:
                return None
            parts = manifest["segments"]
            segments = [Segment.load(folder / str(part["file"])) for part in parts]
            dead = [list(part["dead"]) for part in parts]
            return GrowingBM25(segments, dead), manifest
        except FileNotFoundError:
            continue  # a writer replaced the manifest and removed a segment: read it again
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
    return None
