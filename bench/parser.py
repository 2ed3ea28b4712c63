"""Speed of the rerank answer parser on hostile answers (the speed claims the tests left behind).

``tests/rerankers/test_parser_limits.py`` checks what the parser returns and only rules out
quadratic time with a bound a loaded machine always keeps; the figures live here:

- unclosed ``<think>`` tags, 10,000 to 80,000 of them (70 to 560 KB): milliseconds per parse,
  and the time per tag at 80,000 over that at 10,000 (about 1 when the time is linear; the
  regex version it replaced took 11 s at 20,000 tags and grew 2x per tag per doubling, 8x here);
- an answer twice as long as ``MAX_ANSWER_CHARS``: only the start is read.

Best of ``--repeats`` runs each. Goals: the 80,000-tag parse under 0.5 s, growth per tag
under 3, the overlong answer under 0.05 s.

    .venv/bin/python bench/parser.py

Ends with ``RESULT think_80k_s=… growth_per_tag=… overlong_s=…`` and exits 1 when a goal is
missed.
"""

from __future__ import annotations

import argparse
import sys
import time

from xling.rerankers import parse_permutation
from xling.rerankers.permutation import MAX_ANSWER_CHARS

__all__ = ["best_seconds", "main"]


def best_seconds(text: str, n: int, repeats: int) -> float:
    """The fastest of ``repeats`` parses of ``text`` into a permutation of ``n``."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        parse_permutation(text, n)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    """Times the parser, prints a table and the ``RESULT`` line; 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per input (best counts)")
    args = parser.parse_args(argv)

    sizes = [10_000, 20_000, 40_000, 80_000]
    think = {tags: best_seconds("<think>" * tags, 20, args.repeats) for tags in sizes}
    overlong = best_seconds("[2] > [1] " + "x" * (2 * MAX_ANSWER_CHARS) + " [3]", 3, args.repeats)
    print(f"{'input':<34} {'seconds':>10} {'us per tag':>11}")
    for tags, seconds in think.items():
        label = f"{tags:,} unclosed <think> tags"
        print(f"{label:<34} {seconds:>10.4f} {seconds / tags * 1e6:>11.3f}")
    print(f"{f'answer of {2 * MAX_ANSWER_CHARS:,} chars':<34} {overlong:>10.4f}")

    growth = (think[80_000] / 80_000) / (think[10_000] / 10_000)
    goals = {
        "80,000 tags under 0.5 s": think[80_000] < 0.5,
        "time per tag grows under 3x over 8x the input": growth < 3,
        "overlong answer under 0.05 s": overlong < 0.05,
    }
    for goal, ok in goals.items():
        print(f"{'met   ' if ok else 'MISSED'} {goal}")
    print(
        f"RESULT think_80k_s={think[80_000]:.4f} growth_per_tag={growth:.2f} "
        f"overlong_s={overlong:.4f}"
    )
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
