"""``ensemble:``: several embedders as one, by weighted concatenation.

``ensemble:e5-small-q4=0.7,use-m3=0.3`` embeds each text with every member and concatenates
the members' unit vectors scaled by the square roots of their weights (weights are normalised
to sum to 1), so that between two texts in languages every member covers

    cos(ensemble(a), ensemble(b)) = sum_m w_m cos_m(a, b).

A member that does not cover a text's language (USE knows 16 languages, not Swahili) gives
its weight to the others for that text: the text's language is identified (CLD2, called
directly: the embedders sit beside, not above, :mod:`xling.lid`) and the member's part of the
vector is zero, the other members' weights scaled up to sum to 1. Every
ensemble vector has unit length. The coverage of a member is registered by embedder id
(:func:`register_coverage`; ``use-m3`` is); a member without one covers every language.
``?coverage=false`` keeps every member's weight for every text (no language identification).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.imports import import_optional
from xling.core.languages import normalize_code
from xling.embedders.base import Embedder, Role

__all__ = ["EnsembleEmbedder", "parse_members", "register_coverage"]

# USE multilingual v3's 16 languages (its model card): ar, zh-cn, zh-tw, en, fr, de, it, ja,
# ko, nl, pl, pt, es, th, tr, ru; both Chinese variants are one code here.
_USE_LANGS = ("ar", "zh", "en", "fr", "de", "it", "ja", "ko", "nl", "pl", "pt", "es", "th")
_COVERAGE: dict[str, frozenset[str]] = {
    "use-m3": frozenset(normalize_code(x) for x in (*_USE_LANGS, "tr", "ru")),
}


def _language(text: str) -> str:
    """CLD2's best guess for a text as an ISO 639-3 code, or ``und``."""
    cld2 = import_optional("pycld2", "lid", "the ensemble embedder's language coverage")
    clean = "".join(ch for ch in text if ch.isprintable() or ch.isspace())
    try:
        _, _, details = cld2.detect(clean, bestEffort=True)
        raw = details[0][1]
        return normalize_code(raw) if raw not in ("un", "xxx") else "und"
    except (cld2.error, InvalidInputError, IndexError):
        return "und"


def register_coverage(embedder_id: str, langs: Iterable[str], *, replace: bool = False) -> None:
    """Records the languages an embedder covers, for the ensembles it is a member of.

    Raises:
        InvalidInputError: If the id already has a coverage and ``replace`` is false.
    """
    if embedder_id in _COVERAGE and not replace:
        raise InvalidInputError(f"embedder {embedder_id!r} already has a registered coverage")
    _COVERAGE[embedder_id] = frozenset(normalize_code(x) for x in langs)


def parse_members(arg: str) -> list[tuple[str, float]]:
    """The ``spec=weight`` members of an ensemble spec's argument, weights summing to 1.

    Args:
        arg: What follows ``ensemble:``, e.g. ``e5-small-q4=0.7,use-m3=0.3``.

    Returns:
        ``(member spec, weight)`` pairs in the order given.

    Raises:
        InvalidInputError: On a member without ``=weight``, a weight that is not a positive
            number, a member named twice, a nested ensemble or fewer than two members.
    """
    members: list[tuple[str, float]] = []
    for part in arg.split(","):
        spec, sep, raw = part.strip().rpartition("=")
        if not sep or not spec.strip():
            raise InvalidInputError(
                f"ensemble member {part.strip()!r} must be spec=weight, e.g. "
                "ensemble:e5-small-q4=0.7,use-m3=0.3"
            )
        spec = spec.strip()
        try:
            weight = float(raw)
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight <= 0:
            raise InvalidInputError(
                f"ensemble member {spec!r} has weight {raw!r}; use a positive number"
            )
        if spec.startswith("ensemble:"):
            raise InvalidInputError(f"ensemble member {spec!r} is an ensemble; list its members")
        if any(spec == known for known, _ in members):
            raise InvalidInputError(f"ensemble member {spec!r} is named twice")
        members.append((spec, weight))
    if len(members) < 2:
        raise InvalidInputError(
            f"ensemble {arg!r} has {len(members)} member; give at least two, e.g. "
            "ensemble:e5-small-q4=0.7,use-m3=0.3"
        )
    total = sum(w for _, w in members)
    return [(spec, w / total) for spec, w in members]


class EnsembleEmbedder(Embedder):
    """Weighted concatenation of member embedders (see the module).

    Args:
        members: ``(embedder, weight)`` pairs; weights are normalised to sum to 1.
        coverage: Give a member's weight to the others for texts in languages it does not
            cover; ``False``: the same weights for every text.
    """

    def __init__(self, members: list[tuple[Embedder, float]], *, coverage: bool = True) -> None:
        if len(members) < 2:
            raise InvalidInputError("an ensemble needs at least two members")
        total = sum(w for _, w in members)
        self.members = [(m, w / total) for m, w in members]
        self.id = "ensemble:" + ",".join(f"{m.id}={w:.6g}" for m, w in self.members)
        if not coverage:
            self.id += "?coverage=false"
        self.dim = sum(m.dim for m, _ in self.members)
        self.batch_size = max(m.batch_size for m, _ in self.members)
        self.coverage = [_COVERAGE.get(m.id) if coverage else None for m, _ in self.members]

    def weights(self, langs: list[str]) -> np.ndarray:
        """Each text's member weights: a member's weight goes to the others where it does
        not cover the text's language (``und``: every member counts).

        Args:
            langs: The texts' languages.

        Returns:
            ``(texts, members)`` weights, rows summing to 1.
        """
        base = np.asarray([w for _, w in self.members], dtype=np.float64)
        out = np.tile(base, (len(langs), 1))
        for j, covered in enumerate(self.coverage):
            if covered is None:
                continue
            for i, lang in enumerate(langs):
                if lang != "und" and lang not in covered:
                    out[i, j] = 0.0
        sums = out.sum(axis=1, keepdims=True)
        # A text no member covers keeps the base weights.
        return np.where(sums > 0, out / np.where(sums > 0, sums, 1.0), base)

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        if any(c is not None for c in self.coverage):
            langs = [_language(t) for t in texts]
        else:
            langs = ["und"] * len(texts)
        weights = np.sqrt(self.weights(langs)).astype(np.float32)
        parts = [
            member.embed(texts, role) * weights[:, j : j + 1]
            for j, (member, _) in enumerate(self.members)
        ]
        return np.concatenate(parts, axis=1)

    def _count_tokens(self, text: str, role: Role) -> int:
        return max(m.count_tokens(text, role) for m, _ in self.members)

    def _token_bound(self, text: str, role: Role) -> int | None:
        bounds = [m._token_bound(text, role) for m, _ in self.members]
        return None if any(b is None for b in bounds) else max(b for b in bounds if b is not None)
