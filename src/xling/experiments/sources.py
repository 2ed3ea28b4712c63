"""Reading an experiment's example pools and test sets from the sources a config names.

See :mod:`xling.experiments.config` for the source forms (``bundled:dev``, ``{lang}`` paths,
TSV, JSONL, ``xling:POOL``). Every reader returns line-aligned source and target sentences.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from xling.core.errors import InvalidInputError, XlingError
from xling.core.records import AlignedPool
from xling.core.validation import is_blank, json_object
from xling.data import flores_path
from xling.experiments.config import DataConfig, ExperimentConfig
from xling.selectors import SelectorCache, aligned_pool
from xling.store import load_tsv, open_pool, read_lines

__all__ = ["Direction", "TestSet", "load_directions", "load_pool", "load_test", "read_pairs"]


@dataclass(frozen=True)
class TestSet:
    """The sentences a direction translates and their references."""

    src: str
    tgt: str
    sources: tuple[str, ...]
    references: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the texts (part of each run's config hash)."""
        return _digest(self.sources, self.references)


def _digest(sources: tuple[str, ...] | list[str], targets: tuple[str, ...] | list[str]) -> str:
    h = hashlib.sha256()
    for s, t in zip(sources, targets, strict=True):
        h.update(s.encode("utf-8") + b"\t" + t.encode("utf-8") + b"\n")
    return h.hexdigest()


def _path(template: str, data: DataConfig, **names: str) -> Path:
    try:
        text = template.format(**names)
    except (KeyError, IndexError, ValueError) as exc:
        raise InvalidInputError(
            f"{template!r}: unknown placeholder {exc}; use {{lang}}, {{src}} or {{tgt}}"
        ) from None
    path = Path(text).expanduser()
    return path if path.is_absolute() else data.base / path


def _tsv(path: Path, src: str, tgt: str) -> tuple[list[str], list[str]]:
    """``source<TAB>target`` lines, read by the one TSV loader (:func:`xling.store.load_tsv`)."""
    records = load_tsv(path, src, tgt)
    return [r.text for r in records if r.side == "src"], [
        r.text for r in records if r.side == "tgt"
    ]


def _jsonl(path: Path, src: str, tgt: str) -> tuple[list[str], list[str]]:
    """Objects with the two language codes as keys, parsed by the one JSONL parser."""
    sources, targets = [], []
    for number, line in enumerate(read_lines(path), 1):
        where = f"{path}:{number}"
        row = json_object(line, where)
        pair = (row.get(src), row.get(tgt))
        if not all(isinstance(x, str) and not is_blank(x) for x in pair):
            raise InvalidInputError(f"{where}: {src!r} and {tgt!r} must be non-empty texts")
        sources.append(str(pair[0]))
        targets.append(str(pair[1]))
    return sources, targets


def read_pairs(source: str, src: str, tgt: str, data: DataConfig) -> tuple[list[str], list[str]]:
    """Line-aligned source and target sentences of a direction.

    Raises:
        InvalidInputError: On a missing or malformed file, misaligned files, or a pool that
            holds no pairs of the direction.
    """
    kind, _, rest = source.partition(":")
    if kind == "bundled" and rest:
        return read_lines(flores_path(src, rest)), read_lines(flores_path(tgt, rest))
    if kind == "xling" and rest:
        pool = open_pool(rest, path=data.chroma_path, url=data.chroma_url)
        aligned = aligned_pool(pool, src, tgt, with_vectors=False)
        return aligned.sources, aligned.targets
    if source.endswith(".tsv"):
        return _tsv(_path(source, data, src=src, tgt=tgt), src, tgt)
    if source.endswith(".jsonl"):
        return _jsonl(_path(source, data, src=src, tgt=tgt), src, tgt)
    if "{lang}" not in source:
        raise InvalidInputError(
            f"{source!r} is not a data source; use bundled:dev, a path with {{lang}}, a .tsv "
            "or .jsonl path, or xling:POOL"
        )
    src_path, tgt_path = _path(source, data, lang=src), _path(source, data, lang=tgt)
    sources, targets = read_lines(src_path), read_lines(tgt_path)
    if len(sources) != len(targets):
        raise InvalidInputError(
            f"{src_path} has {len(sources)} lines but {tgt_path} has {len(targets)}; the two "
            "sides must be line-aligned"
        )
    return sources, targets


def load_pool(data: DataConfig, src: str, tgt: str) -> tuple[AlignedPool, str]:
    """The example pool of a direction and its fingerprint (SHA-256 of the pairs)."""
    sources, targets = read_pairs(data.pool, src, tgt, data)
    pool = AlignedPool(sources, targets, list(range(len(sources))), src, tgt)
    return pool, _digest(sources, targets)


def load_test(data: DataConfig, src: str, tgt: str) -> TestSet:
    """The test set of a direction, cut to ``data.test_size`` sentences."""
    sources, targets = read_pairs(data.test, src, tgt, data)
    n = len(sources) if data.test_size is None else data.test_size
    if n > len(sources):
        raise InvalidInputError(
            f"test_size={n} but the {src}-{tgt} test set has {len(sources)} sentences"
        )
    return TestSet(src, tgt, tuple(sources[:n]), tuple(targets[:n]))


@dataclass
class Direction:
    """A direction's example pool, its fingerprint, its test set, and the selectors kept for
    it (:func:`~xling.selectors.select_examples`'s cache)."""

    pool: AlignedPool
    pool_fingerprint: str
    test: TestSet
    selectors: SelectorCache = field(default_factory=dict)


def load_directions(
    config: ExperimentConfig, problems: list[tuple[str, str]]
) -> dict[tuple[str, str], Direction]:
    """The pool and test set of every direction; what is wrong is added to ``problems``."""
    loaded: dict[tuple[str, str], Direction] = {}
    largest_k = max(config.ks)
    selecting = any(not s.zero_shot for s in config.strategies)
    for src, tgt in config.directions:
        try:
            pool, fingerprint = load_pool(config.data, src, tgt)
        except XlingError as exc:
            problems.append((f"data.pool ({src}-{tgt})", str(exc)))
            pool = None
        try:
            test = load_test(config.data, src, tgt)
        except XlingError as exc:
            problems.append((f"data.test ({src}-{tgt})", str(exc)))
            test = None
        if pool is not None and selecting and largest_k > len(pool):
            problems.append(
                ("k", f"{largest_k} is larger than the {src}-{tgt} pool ({len(pool)} pairs)")
            )
        if pool is not None and test is not None:
            loaded[(src, tgt)] = Direction(pool, fingerprint, test)
    return loaded
