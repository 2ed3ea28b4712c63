"""R-BM25: BM25 candidates re-ranked for n-gram recall, mapped back to pool rows."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from tests.selectors.conftest import PoolMaker
from xling.core.tokenize import tokenize
from xling.retrieval.bm25_index import BM25Index
from xling.selectors import RBM25Selector, SelectionConfig, get_selector
from xling.selectors.recall import ngram_counts


def _score(query: dict[tuple[str, ...], float], candidate: Counter[tuple[str, ...]]) -> float:
    """Agrawal et al.'s n-gram overlap score of one candidate, written as plain loops."""
    correct, total = [0.0] * 4, [0.0] * 4
    for gram, weight in query.items():
        total[len(gram) - 1] += weight
        if gram in candidate:
            correct[len(gram) - 1] += min(weight, candidate[gram])
    if not any(correct):
        return 0.0
    logs, smooth, order = [], 1.0, 0
    for n in range(4):
        if total[n] == 0:
            break
        order = n + 1
        if correct[n] == 0:
            smooth *= 2
            logs.append(math.log(100.0 / (smooth * total[n])))
        else:
            logs.append(math.log(100.0 * correct[n] / total[n]))
    return math.exp(sum(logs) / order)


def _reference(query: str, candidates: list[int], texts: list[str], k: int) -> list[int]:
    """The greedy selection for one query, over pool indices (not list positions)."""
    weights: dict[tuple[str, ...], float] = dict(ngram_counts(tokenize(query)))
    grams = {p: ngram_counts(tokenize(texts[p])) for p in candidates}
    chosen: list[int] = []
    while len(chosen) < k:
        # Rounded like the vectorised code: equal scores go to the better BM25 candidate.
        scores = [
            (-1.0 if p in chosen else round(_score(weights, grams[p]), 9)) for p in candidates
        ]
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        if scores[best] < 0.01:
            break
        chosen.append(candidates[best])
        for gram in weights:
            if gram in grams[candidates[best]]:
                weights[gram] *= 0.1
    rest = [p for p in candidates if p not in chosen]
    return chosen + rest[: k - len(chosen)]


def test_matches_the_scalar_algorithm_on_flores(
    flores_pool: PoolMaker, flores: Callable[[str, str], list[str]]
) -> None:
    pool = flores_pool("eng", "fra")
    queries = flores("eng", "devtest")[:25]
    selector = RBM25Selector(pool)
    ranking = selector.rank(queries, 8)
    top100, _ = BM25Index(pool.sources).search(queries, 100)
    for i, query in enumerate(queries):
        expected = _reference(query, top100[i].tolist(), pool.sources, 8)
        assert ranking.indices[i].tolist() == expected, i


def test_picks_are_pool_rows_not_positions_in_the_top_100(flores_pool: PoolMaker) -> None:
    pool = flores_pool("eng", "fra")
    # Dev sentences far beyond row 100, with one word changed so they are not leaks.
    rows = [150, 420, 777, 996]
    queries = [pool.sources[r].replace(" the ", " a ", 1) for r in rows]
    assert all(q != pool.sources[r] for q, r in zip(queries, rows, strict=True))
    chosen = get_selector(pool, SelectionConfig(method="r-bm25")).select(queries, 5)
    # nearest-last: the best pick is last. ICL-MT's code would return a row < 100 here.
    assert [examples[-1].row for examples in chosen] == rows
    assert [examples[-1].target for examples in chosen] == [pool.targets[r] for r in rows]


def test_later_picks_cover_what_the_first_missed(flores_pool: PoolMaker) -> None:
    pool = flores_pool("eng", "fra")
    query = "The scientists said the vaccine trial in Guinea would start next month."
    ranked = RBM25Selector(pool).select([query], 3)[0][::-1]  # best first
    covered = set(tokenize(ranked[0].source))
    new_words = set(tokenize(ranked[1].source)) & (set(tokenize(query)) - covered)
    assert new_words, (ranked[0].source, ranked[1].source)
    # The first score is the best recall score among the BM25 top 100 (later ones are taken
    # after down-weighting, so they need not be lower).
    top100, _ = BM25Index(pool.sources).search([query], 100)
    weights = dict(ngram_counts(tokenize(query)))
    best = max(_score(weights, ngram_counts(tokenize(pool.sources[p]))) for p in top100[0])
    assert abs(ranked[0].score - best) < 1e-6 and ranked[2].score > 0


def test_a_query_sharing_no_word_is_filled_in_bm25_order(flores_pool: PoolMaker) -> None:
    pool = flores_pool("eng", "fra", n=200)
    # Nothing matches: every recall score is 0 (< 0.01), so no greedy pick happens and the
    # slots are filled with BM25's order, which for all-zero scores is pool order.
    examples = RBM25Selector(pool, order="nearest-first").select(["Zqxw vbnm plkj."], 4)[0]
    assert [e.row for e in examples] == [0, 1, 2, 3]
    assert all(e.score == 0 for e in examples)
