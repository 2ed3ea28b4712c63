"""The answer pipeline finds the asker's language with the ensemble and the deployment's and
client's priors (the LLM is down and the passages are kept: the language is what is left)."""

from __future__ import annotations

import pytest

from tests.conftest import refused_port
from xling.core.errors import InvalidInputError
from xling.core.records import Question
from xling.data import sample_path
from xling.embedders import Embedder
from xling.llm import LLMClient
from xling.rag.pipeline import AnswerConfig, AnswerPipeline
from xling.retrieval import get_retriever
from xling.store import Pool, load_lines

NORWEGIAN = "Hvor ligger Eiffeltårnet?"  # the same words in Danish and Norwegian Bokmål


@pytest.fixture(scope="module")
def english_pool(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Pool:
    pool = Pool.open("english", e5, path=tmp_path_factory.mktemp("asker") / "db")
    pool.index(load_lines(sample_path("eng"), "eng")[:10])
    return pool


def _pipeline(pool: Pool, **config: object) -> AnswerPipeline:
    client = LLMClient(f"http://127.0.0.1:{refused_port()}/v1", "m", max_retries=0, timeout=5)
    settings = AnswerConfig(k=2, retrieve_k=2, on_llm_failure="passages", **config)  # type: ignore[arg-type]
    return AnswerPipeline(get_retriever("bm25", pool), client, config=settings)


def test_short_questions_full_of_names_keep_their_language(english_pool: Pool) -> None:
    questions = [
        Question("Quand Steve Jobs a-t-il présenté l'iPhone à San Francisco ?", "fr"),
        Question("Où se trouve le Golden Gate Bridge ?", "fr2"),
        Question("¿Dónde está la Torre Eiffel?", "es"),
        Question("Who unveiled the iPhone?", "en"),
        Question("Wer hat das iPhone vorgestellt?", "de", lang="swh"),  # given wins
    ]
    answers = _pipeline(english_pool).answer_many(questions)
    got = [(a.query_language, a.query_language_detected) for a in answers]
    assert got == [("fra", True), ("fra", True), ("spa", True), ("eng", True), ("swh", False)]
    assert all(a.answer is None and a.error for a in answers)


def test_the_deployment_and_the_client_settle_danish_against_norwegian(
    english_pool: Pool,
) -> None:
    (alone,) = _pipeline(english_pool).answer_many([Question(NORWEGIAN, "a")])
    assert alone.query_language == "dan"
    (expected,) = _pipeline(english_pool, expected_langs=("nob", "eng")).answer_many(
        [Question(NORWEGIAN, "b")]
    )
    assert expected.query_language == "nob"
    (hinted,) = _pipeline(english_pool).answer_many(
        [Question(NORWEGIAN, "c", hint="nb-NO, nb;q=0.9, en;q=0.5")]
    )
    assert hinted.query_language == "nob"


def test_bad_priors_are_one_line() -> None:
    with pytest.raises(InvalidInputError, match="expected_langs must be a non-empty tuple"):
        AnswerConfig(expected_langs="fra")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="unknown language code 'xx'|'xx'"):
        AnswerConfig(expected_langs=("xx",))
    with pytest.raises(InvalidInputError, match="hint 3 is not allowed"):
        Question("Wo?", hint=3)  # type: ignore[arg-type]
