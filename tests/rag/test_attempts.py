"""Which attempt the answer keeps: the re-ask, unless its verdict is worse than the first's.

The LLM is the loopback stand-in scripted with the two answers (what a 135M model does: invented
words first, then English under the strict instruction); the language check is the real one.
"""

from __future__ import annotations

import pytest

from tests.llm.standin import CHAT, Reply, StandIn
from xling.core.records import Question
from xling.data import sample_path
from xling.embedders import Embedder
from xling.llm import LLMClient
from xling.rag.pipeline import AnswerPipeline
from xling.retrieval import get_retriever
from xling.store import Pool, load_lines

INVENTED = "Kwamba zorbi flanta mekora dilupa"
ENGLISH = "Arthur Guinness signed a lease for the brewery in Dublin."
SWAHILI = (
    "Arthur Guinness alisaini mkataba wa kukodisha kiwanda cha bia huko Dublin kwa miaka mingi."
)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Pool:
    pool = Pool.open("attempts", e5, path=tmp_path_factory.mktemp("attempts") / "db")
    pool.index(load_lines(sample_path("eng"), "eng")[:10])
    return pool


@pytest.mark.parametrize(
    ("first", "second", "kept", "verdicts"),
    [
        (INVENTED, ENGLISH, INVENTED, ["unsure", "wrong_language"]),  # worse: the first stays
        (ENGLISH, SWAHILI, SWAHILI, ["wrong_language", "correct"]),  # better: the re-ask
        (ENGLISH, INVENTED, INVENTED, ["wrong_language", "unsure"]),
    ],
)
def test_the_better_attempt_is_kept(
    pool: Pool, first: str, second: str, kept: str, verdicts: list[str]
) -> None:
    with StandIn() as server:
        server.then(CHAT, Reply.chat(first), Reply.chat(second))
        client = LLMClient(server.url, "m", max_retries=0, timeout=10)
        pipeline = AnswerPipeline(get_retriever("bm25", pool), client)
        (answer,) = pipeline.answer_many([Question("Arthur Guinness alisaini nini?", "q", "swh")])
    assert [a.verdict for a in answer.attempts] == verdicts
    assert [a.strict for a in answer.attempts] == [False, True]
    assert answer.answer == kept
    assert answer.language_ok == (kept == SWAHILI)
    assert answer.verdict == verdicts[[first, second].index(kept)]
