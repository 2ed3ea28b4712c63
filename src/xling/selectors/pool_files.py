"""Aligned pools straight from line-aligned files (FLORES style), without Chroma."""

from __future__ import annotations

from pathlib import Path

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.core.records import AlignedPool
from xling.store import read_lines

__all__ = ["load_aligned_pool"]


def load_aligned_pool(
    src_path: str | Path, tgt_path: str | Path, src_lang: str, tgt_lang: str
) -> AlignedPool:
    """Reads two line-aligned files into an in-memory pool (rows = 0-based line numbers).

    Raises:
        InvalidInputError: If a file is missing or empty, has an empty line, or the two
            files differ in length (both are named).
    """
    sources, targets = read_lines(src_path), read_lines(tgt_path)
    if len(sources) != len(targets):
        raise InvalidInputError(
            f"pool files are misaligned: {src_path} has {len(sources)} lines but {tgt_path} "
            f"has {len(targets)}; aligned files must have the same number of lines"
        )
    return AlignedPool(
        sources=sources,
        targets=targets,
        rows=list(range(len(sources))),
        src_lang=normalize_code(src_lang),
        tgt_lang=normalize_code(tgt_lang),
    )
