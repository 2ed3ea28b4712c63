"""Builds ``src/xling/lid/data/profiles.json.gz``: common words and character 3-grams per language.

The evidence that a text is in a language (:mod:`xling.lid.evidence`) compares the text's words
and character 3-grams with the language's most frequent ones. The lists come from Tatoeba (the
LASER test set, CC BY 2.0 FR; every language but English from its ``xxx`` side, English from
the ``eng`` sides) and, for the languages ``../shared/data/flores`` holds, FLORES-200 ``dev``
(CC BY-SA 4.0):

* Tatoeba lines ``[0, 50 %)`` and FLORES ``dev`` build the lists;
* Tatoeba lines ``[50 %, 75 %)`` and FLORES ``devtest[:300]`` measure each language's floor (the
  5th percentile of the evidence score of its real sentences);
* Tatoeba lines ``[75 %, 100 %)`` and FLORES ``devtest[500:]`` are left for the benchmark.

    PYTHONPATH=src .venv/bin/python scripts/build_lid_profiles.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections import Counter
from pathlib import Path

from xling.core.errors import InvalidInputError
from xling.core.languages import normalize_code
from xling.lid import available_lid_backends, get_identifier
from xling.lid.evidence import (
    PROFILE_TRIGRAMS,
    PROFILE_WORDS,
    LanguageProfile,
    score,
    tokens,
    trigrams,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "xling" / "lid" / "data" / "profiles.json.gz"


def splits(shared: Path, code: str) -> tuple[list[str], list[str]]:
    """The lines that build a language's lists, and those that measure its floor."""
    tatoeba = shared / "tatoeba"
    if code == "eng":
        lines = [
            line
            for path in sorted(tatoeba.glob("tatoeba.*-eng.eng"))[:20]
            for line in path.read_text("utf-8").splitlines()[:100]
        ]
    else:
        lines = (tatoeba / f"tatoeba.{code}-eng.{code}").read_text("utf-8").splitlines()
    half, three_quarters = len(lines) // 2, len(lines) * 3 // 4
    build, floor = lines[:half], lines[half:three_quarters]
    flores = shared / "flores" / code
    if flores.is_dir():
        build += (flores / "dev.txt").read_text("utf-8").splitlines()
        floor += (flores / "devtest.txt").read_text("utf-8").splitlines()[:300]
    return build, floor


def main() -> None:
    """Writes the profiles of every Tatoeba language some LID backend knows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    known = set().union(
        *(get_identifier(n).supported_languages() for n in available_lid_backends())
    )
    raw_codes = {
        p.name.split(".")[1].split("-")[0]
        for p in (args.shared / "tatoeba").glob("tatoeba.*-eng.*")
    }
    profiles: dict[str, dict[str, object]] = {}
    for raw in sorted(raw_codes | {"eng"}):
        try:
            code = normalize_code(raw)
        except InvalidInputError:
            continue
        if code not in known or code in profiles:
            continue
        build, floor_lines = splits(args.shared, raw)
        words = Counter(w for line in build for w in tokens(line))
        grams = Counter(g for line in build for g in trigrams(line))
        profile = LanguageProfile(
            code,
            frozenset(w for w, _ in words.most_common(PROFILE_WORDS)),
            frozenset(g for g, _ in grams.most_common(PROFILE_TRIGRAMS)),
            0.0,
        )
        scores = sorted(score(line, profile) for line in floor_lines if tokens(line))
        if len(scores) < 50:
            continue
        profiles[code] = {
            "words": sorted(profile.words),
            "trigrams": sorted(profile.trigrams),
            "floor": round(scores[len(scores) // 20], 3),
        }
        print(code, len(scores), profiles[code]["floor"])
    payload = json.dumps({"languages": profiles}, ensure_ascii=False, sort_keys=True)
    OUT.write_bytes(gzip.compress(payload.encode("utf-8"), mtime=0))
    print(f"{len(profiles)} languages, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
