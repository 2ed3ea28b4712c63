"""Translation pairs of one direction read out of a Chroma pool: the selectors' input.

A pool stores each text once, with the pairs it belongs to in its metadata (``pair_keys``);
:func:`aligned_pool` joins the source side to the target side by those keys, in row order.
"""

from __future__ import annotations

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.records import AlignedPool
from xling.store.pool import Pool
from xling.store.records import pair_keys

__all__ = ["aligned_pool"]


def _side(
    pool: Pool, lang: str, side: str, with_vectors: bool
) -> tuple[list[str], list[set[str]], list[int], np.ndarray | None]:
    """One language's texts, the pairs each is on ``side`` of, rows, vectors."""
    _, texts, metas, vectors = pool.listing({"lang": lang}, with_vectors)
    pairs: list[set[str]] = []
    for meta in metas:
        keys = {p for p, s in pair_keys(meta).items() if s == side}
        if meta.get("side") == side and meta.get("pair_id"):  # the older layout
            keys.add(str(meta["pair_id"]))
        pairs.append(keys)
    rows = [int(m["row"]) if m.get("row") is not None else i for i, m in enumerate(metas)]
    return texts, pairs, rows, vectors


def aligned_pool(
    pool: Pool, src_lang: str, tgt_lang: str, *, with_vectors: bool = True
) -> AlignedPool:
    """The translation pairs of one direction, in row order, for ICL example selection.

    Args:
        pool: An open Chroma pool holding both sides.
        src_lang: The source language (any code form: ``en``, ``eng``, ``eng_Latn``).
        tgt_lang: The target language.
        with_vectors: Carry the stored vectors (and the pool's embedder id), so dense
            selectors embed only the queries.

    Raises:
        InvalidInputError: If the pool holds no pairs for that direction.
        ServiceUnavailableError: If the server does not answer or the pool is damaged.
    """
    s, t = normalize_code(src_lang), normalize_code(tgt_lang)
    src_texts, src_pairs, src_rows, src_vecs = _side(pool, s, "src", with_vectors)
    tgt_texts, tgt_pairs, _, tgt_vecs = _side(pool, t, "tgt", with_vectors)
    tgt_by_pair = {pair: i for i, keys in enumerate(tgt_pairs) for pair in keys}
    keep = []
    for i, keys in enumerate(src_pairs):
        for pair in sorted(keys):
            if pair in tgt_by_pair:
                keep.append((i, tgt_by_pair[pair]))
    if not keep:
        raise InvalidInputError(f"pool {pool.name!r} holds no {s}->{t} translation pairs")
    keep.sort(key=lambda pair: (src_rows[pair[0]], pair[0]))
    si, ti = [a for a, _ in keep], [b for _, b in keep]
    return AlignedPool(
        sources=[src_texts[i] for i in si],
        targets=[tgt_texts[i] for i in ti],
        rows=[src_rows[i] for i in si],
        src_lang=s,
        tgt_lang=t,
        source_vectors=src_vecs[si] if src_vecs is not None else None,
        target_vectors=tgt_vecs[ti] if tgt_vecs is not None else None,
        embedder_id=pool.embedder.id,
    )
