"""Bitext mining evaluation of line-aligned file pairs with an embedder (``xling eval mining``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xling.core.errors import InvalidInputError
from xling.core.validation import (
    check_finite,
    check_path,
    check_positive_int,
    check_sequence,
    preview,
)
from xling.embedders import Embedder, SymmetricRoles, symmetric_role_pair
from xling.eval.bucc import BuccScore, bucc_f1
from xling.eval.files import read_references
from xling.eval.mining import MINING_KINDS, MiningResult, check_kind, mine_pairs, xsim

__all__ = ["MINING_SYMMETRIC_ROLES", "MiningPairResult", "MiningReport", "evaluate_mining"]

MINING_SYMMETRIC_ROLES: SymmetricRoles = "query-document"
"""The default pairing of the two sides of bitext mining: sources ``query:``, targets
``passage:``. Measured with the bundled e5 (``bench/symmetric_roles.py``), ratio-margin accuracy
passage/passage, query/query, query/passage: Tatoeba 112 languages 92.68, 93.12, 93.93; FLORES
fra/deu/swh/wol 97.12, 97.75, 98.12 (BUCC-style F1 there: 73.09, 76.63, 74.90)."""


@dataclass(frozen=True)
class MiningPairResult:
    """Bitext mining figures of one line-aligned file pair (see :func:`evaluate_mining`).

    Attributes:
        label: The source file's name, the pair's key in :attr:`MiningReport.results`.
        source: The source file.
        target: The target file, line ``i`` translating source line ``i``.
        pairs: Number of aligned lines.
        scores: Kind → its xSIM :class:`MiningResult`, in the order asked.
        bucc_kind: The margin kind of the BUCC F1, or ``None`` without a threshold.
        bucc: BUCC-style F1 of the mined pairs at the threshold, or ``None``.
    """

    label: str
    source: Path
    target: Path
    pairs: int
    scores: dict[str, MiningResult]
    bucc_kind: str | None = None
    bucc: BuccScore | None = None

    @property
    def accuracy(self) -> dict[str, float]:
        """Kind → mining accuracy in percent (100 − xSIM)."""
        return {name: result.accuracy for name, result in self.scores.items()}

    def to_dict(self) -> dict[str, Any]:
        """The pair's figures as JSON-ready data.

        Returns:
            The accuracy under each kind's name, then ``bucc`` (``kind``, ``threshold``,
            ``f1``, ``precision``, ``recall``) when a threshold was given, then ``pairs``.
        """
        entry: dict[str, Any] = dict(self.accuracy)
        if self.bucc is not None:
            entry["bucc"] = {
                "kind": self.bucc_kind,
                "threshold": self.bucc.threshold,
                "f1": self.bucc.f1,
                "precision": self.bucc.precision,
                "recall": self.bucc.recall,
            }
        entry["pairs"] = self.pairs
        return entry


@dataclass(frozen=True)
class MiningReport:
    """Bitext mining evaluation of file pairs with one embedder (see :func:`evaluate_mining`).

    Attributes:
        embedder: The embedder's id.
        k: The margin neighbourhood size asked for.
        kinds: The kinds evaluated, in order.
        threshold: The BUCC threshold, or ``None``.
        results: Pair label (the source file's name) → :class:`MiningPairResult`; a later pair
            whose source has the same name replaces an earlier one.
        truncated: Texts the embedder truncated to its length limit during the evaluation.
        symmetric_roles: The pairing the two sides were embedded with
            (:func:`~xling.embedders.symmetric_role_pair`).
    """

    embedder: str
    k: int
    kinds: tuple[str, ...]
    threshold: float | None
    results: dict[str, MiningPairResult]
    truncated: int
    symmetric_roles: SymmetricRoles = MINING_SYMMETRIC_ROLES

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``xling eval mining --json`` prints).

        Returns:
            ``embedder``, ``symmetric_roles``, ``k``, ``results`` (label →
            :meth:`MiningPairResult.to_dict`) and ``truncated``.
        """
        return {
            "embedder": self.embedder,
            "symmetric_roles": self.symmetric_roles,
            "k": self.k,
            "results": {label: result.to_dict() for label, result in self.results.items()},
            "truncated": self.truncated,
        }


def _check_pairs(pairs: Any) -> list[tuple[Path, Path]]:
    items = check_sequence(pairs, "pairs", "(source file, target file) pairs")
    if not items:
        raise InvalidInputError("pairs is empty; give at least one (source file, target file) pair")
    checked = []
    for i, item in enumerate(items):
        if (
            isinstance(item, str | bytes | os.PathLike)
            or not isinstance(item, Sequence)
            or len(item) != 2
        ):
            raise InvalidInputError(
                f"pairs[{i}] is {preview(item)}; each item must be a (source file, target file) "
                "pair"
            )
        checked.append((check_path(item[0], "source file"), check_path(item[1], "target file")))
    return checked


def evaluate_mining(
    pairs: Sequence[tuple[str | Path, str | Path]],
    embedder: Embedder,
    *,
    kinds: Sequence[str] = ("cosine", "ratio"),
    k: int = 4,
    threshold: float | None = None,
    symmetric_roles: SymmetricRoles = MINING_SYMMETRIC_ROLES,
) -> MiningReport:
    """Bitext mining accuracy (100 − xSIM) of line-aligned file pairs, optionally BUCC F1.

    Every file is read (and each pair's line counts compared) before anything is embedded.
    Mining is a symmetric task: the sources (the query side) and the targets (the candidates)
    are embedded in the roles of ``symmetric_roles`` (:func:`~xling.embedders.symmetric_role_pair`;
    default :data:`MINING_SYMMETRIC_ROLES`, the pairing measured best for mining). Each kind runs
    :func:`xsim` with
    the target texts, so duplicate target sentences count as found. With a ``threshold``, the
    pairs :func:`mine_pairs` finds with the first margin kind among ``kinds`` (``ratio`` if
    there is none) are scored by :func:`bucc_f1` against the diagonal gold pairs.

    Args:
        pairs: ``(source file, target file)`` pairs; line ``i`` of the target translates line
            ``i`` of the source.
        embedder: The embedder (its length limit applies to both sides).
        kinds: Members of :data:`MINING_KINDS`, in the order they are reported.
        k: Margin neighbourhood size.
        threshold: If given, also report BUCC-style F1 of the mined pairs scoring at least this.
        symmetric_roles: The roles of the two sides: ``document``, ``query`` or
            ``query-document``.

    Returns:
        The :class:`MiningReport`.

    Raises:
        InvalidInputError: If there are no pairs, a file is missing, not UTF-8 or empty, the two
            sides of a pair differ in length, ``k`` is not a positive integer, ``threshold`` is
            not finite, ``symmetric_roles`` is not a pairing, or ``embedder`` is not an
            :class:`~xling.embedders.Embedder`.
        UnknownSpecError: If a kind is unknown.
    """
    checked = _check_pairs(pairs)
    names = check_sequence(kinds, "kinds", "mining kinds")
    if not names:
        raise InvalidInputError(
            f"kinds is empty; give at least one of: {', '.join(sorted(MINING_KINDS))}"
        )
    for name in names:
        check_kind(name)
    k = check_positive_int(k, "k")
    value = None if threshold is None else check_finite(threshold, "threshold")
    source_role, target_role = symmetric_role_pair(symmetric_roles)
    if not isinstance(embedder, Embedder):
        raise InvalidInputError(
            f"embedder must be an Embedder (from xling.embedders.get_embedder), got "
            f"{preview(embedder)} ({type(embedder).__name__})"
        )
    texts: list[tuple[list[str], list[str]]] = []
    for s_path, t_path in checked:
        sources, targets = read_references(s_path), read_references(t_path)
        if len(sources) != len(targets):
            raise InvalidInputError(
                f"{s_path} has {len(sources)} lines but {t_path} has {len(targets)}; "
                "mining evaluation needs line-aligned files"
            )
        texts.append((sources, targets))
    before = embedder.truncated
    results: dict[str, MiningPairResult] = {}
    for (s_path, t_path), (sources, targets) in zip(checked, texts, strict=True):
        x, y = embedder.embed(sources, source_role), embedder.embed(targets, target_role)
        scores = {name: xsim(x, y, kind=name, k=k, target_texts=targets) for name in names}
        margin, bucc = None, None
        if value is not None:
            margin = next((m for m in names if m != "cosine"), "ratio")
            gold = [(i, i) for i in range(len(x))]
            bucc = bucc_f1(mine_pairs(x, y, kind=margin, k=k), gold, value)
        results[s_path.name] = MiningPairResult(
            s_path.name, s_path, t_path, len(sources), scores, margin, bucc
        )
    return MiningReport(
        embedder.id, k, tuple(names), value, results, embedder.truncated - before, symmetric_roles
    )
