"""Context around a hit: the adjacent chunks of its document, merged into one passage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from xling.core.records import Hit
from xling.core.validation import check_non_negative_int

if TYPE_CHECKING:
    from xling.store.pool import Pool

__all__ = ["merge_chunks", "with_neighbours"]


def merge_chunks(chunks: Sequence[tuple[int, int, str]]) -> str:
    """Joins ``(start, end, text)`` spans of one document, in order, writing overlaps once.

    Chunks cut from one text either overlap (the next starts before the previous ends) or are
    separated by the blank line between blocks, which is put back.
    """
    text, end = "", None
    for start, stop, chunk in sorted(chunks):
        if end is None:
            text, end = chunk, stop
        elif stop <= end:
            continue
        elif start < end:
            text += chunk[end - start :]
            end = stop
        else:
            text += "\n\n" + chunk
            end = stop
    return text


def with_neighbours(pool: Pool, hits: Sequence[Hit], n: int) -> list[Hit]:
    """Each chunk hit with up to ``n`` chunks of its document before and after it, merged.

    See :meth:`xling.store.pool.Pool.with_neighbours`.
    """
    check_non_negative_int(n, "neighbours")
    if n == 0:
        return list(hits)
    out = []
    for hit in hits:
        meta = hit.metadata
        doc_id, index = meta.get("doc_id"), meta.get("chunk")
        offsets = isinstance(meta.get("start"), int) and isinstance(meta.get("end"), int)
        if not isinstance(doc_id, str) or not isinstance(index, int) or not offsets:
            out.append(hit)
            continue
        where: dict[str, Any] = {
            "$and": [
                {"doc_id": doc_id},
                {"doc_hash": str(meta.get("doc_hash", ""))},
                {"chunk": {"$gte": index - n}},
                {"chunk": {"$lte": index + n}},
            ]
        }
        with pool.damage_is_named(), pool.reading() as collection:
            got = collection.get(where=where, include=["documents", "metadatas"])
        spans = {
            int(m["chunk"]): (int(m["start"]), int(m["end"]), str(text))
            for text, m in zip(got["documents"], got["metadatas"], strict=True)
            if isinstance(m.get("start"), int) and isinstance(m.get("end"), int)
        }
        spans.setdefault(index, (int(meta["start"]), int(meta["end"]), hit.text))
        ordered = [spans[i] for i in sorted(spans)]
        merged = dict(meta, start=ordered[0][0], end=ordered[-1][1], chunks=sorted(spans))
        out.append(replace(hit, text=merge_chunks(ordered), metadata=merged))
    return out
