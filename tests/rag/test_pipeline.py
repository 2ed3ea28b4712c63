"""The answer pipeline against the real vLLM server (SmolLM2), real Chroma and the bundled e5."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import refused_port
from xling.core.errors import InvalidInputError, ServiceUnavailableError
from xling.core.records import Question, read_questions
from xling.data import sample_path
from xling.embedders import Embedder
from xling.llm import LLMClient
from xling.prompts.rag import ContextPassage, answer_messages, parse_citations
from xling.rag.pipeline import AnswerConfig, AnswerPipeline
from xling.rerankers import get_reranker
from xling.retrieval import get_retriever
from xling.store import Pool, load_lines

QUESTIONS = [
    Question("Qui a présenté l'iPhone sur scène ?", "fra"),
    Question("Wo ist der Gripen abgestürzt?", "deu"),
    Question("Arthur Guinness alisaini mkataba wa miaka mingapi?", "swh"),
    Question("What did Arthur Guinness sign in 1759?", "eng"),
]
RELEVANT = {"fra": 60, "deu": 2, "swh": 45, "eng": 45}  # 0-based lines of the English sample


@pytest.fixture(scope="module")
def english_pool(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Pool:
    pool = Pool.open("english", e5, path=tmp_path_factory.mktemp("rag") / "db")
    pool.index(load_lines(sample_path("eng"), "eng"))
    return pool


def test_citations_and_prompt_are_plain_text() -> None:
    assert parse_citations("Jobs [2]. Also [1, 3] and [9]; again [2]", [1, 2, 3]) == (
        [2, 1, 3],
        [9],
    )
    passages = [ContextPassage(1, "Steve Jobs.", "eng")]
    messages = answer_messages(
        "Wer?", passages, "deu", strict=True, avoid=["eng"], instruction_lang="eng"
    )
    assert "[1] Steve Jobs." in messages[1]["content"]
    assert "Answer ONLY in German; do not write in English." in messages[0]["content"]
    german = answer_messages("Wer?", passages, "deu", strict=True, avoid=["eng"])
    assert "Antworte NUR auf Deutsch" in german[0]["content"]
    assert german[1]["content"] == "Textstellen:\n[1] Steve Jobs.\n\nFrage: Wer?\n" + (
        "Antworte nur auf Deutsch."
    )


def test_question_files_name_the_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "q.jsonl"
    good.write_text('{"question": "Wer?", "lang": "de", "qid": 7}\n\n{"query": "Who?"}\n', "utf-8")
    assert read_questions(good) == [Question("Wer?", "7", "deu"), Question("Who?", "2")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Wer?"}\n{"question": "  "}\n', "utf-8")
    with pytest.raises(InvalidInputError, match=r"bad.jsonl:2: question '  ' is not allowed"):
        read_questions(bad)
    with pytest.raises(InvalidInputError, match="retrieve_k=2 is below k=5"):
        AnswerConfig(retrieve_k=2)


@pytest.mark.vllm
def test_answers_in_the_askers_language_with_citations(english_pool: Pool, llm: LLMClient) -> None:
    pipeline = AnswerPipeline(get_retriever("dense", english_pool), llm, config=AnswerConfig(k=4))
    answers = pipeline.answer_many(QUESTIONS)
    assert [a.qid for a in answers] == [q.qid for q in QUESTIONS]
    # The question's language is detected by LID (none was given).
    assert [a.query_language for a in answers] == ["fra", "deu", "swh", "eng"]
    assert all(a.query_language_detected for a in answers)
    for answer in answers:
        rows = [h.metadata["row"] for h in answer.passages]
        assert RELEVANT[answer.qid] in rows, (answer.qid, rows)
        assert answer.retrieved[: len(rows)] == [h.id for h in answer.passages]
        # The answer is the re-ask's unless that came out worse; a re-ask follows a wrong one.
        kept = [a for a in answer.attempts if a.answer == answer.answer]
        assert answer.answer and kept and answer.language_ok == kept[-1].language_ok
        if answer.attempts[-1].verdict in {"correct", answer.attempts[0].verdict}:
            assert kept[-1] is answer.attempts[-1]
        assert len(answer.attempts) == 1 or not answer.attempts[0].language_ok
        assert set(answer.citations) <= {h.id for h in answer.passages}
        assert answer.usage["calls"] == len(answer.attempts) and answer.usage["prompt_tokens"] > 50
        assert {"retrieve", "fit", "generate", "check"} <= set(answer.timings)
    english = answers[3]
    assert english.language_ok and english.language == "eng"
    line = english.to_dict()
    assert {"qid", "question", "query_language", "answer", "language", "language_ok"} <= set(line)


@pytest.mark.vllm
def test_a_wrong_language_is_asked_again_once(english_pool: Pool, llm: LLMClient) -> None:
    # SmolLM2 cannot write Wolof: the first answer is in English, the re-ask is strict, and
    # the verdict stays honest.
    pipeline = AnswerPipeline(get_retriever("dense", english_pool), llm)
    (answer,) = pipeline.answer_many(
        [Question("What did Arthur Guinness sign in 1759?", "0", "wol")]
    )
    assert [a.strict for a in answer.attempts] == [False, True]
    assert not answer.attempts[0].language_ok and answer.attempts[0].language == "eng"
    assert answer.language_ok == answer.attempts[1].language_ok
    if answer.attempts[1].verdict == "wrong_language":  # no better: the re-ask is kept
        assert answer.answer == answer.attempts[1].answer
    assert "generate_reask" in answer.timings
    no_reask = AnswerPipeline(
        get_retriever("dense", english_pool), llm, config=AnswerConfig(reask=False)
    )
    assert len(no_reask.answer("What did Arthur Guinness sign?", lang="wol").attempts) == 1


@pytest.mark.vllm
def test_a_reranker_orders_the_context(english_pool: Pool, llm: LLMClient) -> None:
    reranker = get_reranker("listwise", llm, window=10, stride=5)
    config = AnswerConfig(k=3, retrieve_k=10)
    pipeline = AnswerPipeline(
        get_retriever("hybrid", english_pool), llm, reranker=reranker, config=config
    )
    (answer,) = pipeline.answer_many([QUESTIONS[3]])
    assert answer.reranked is not None and sorted(answer.reranked) == sorted(answer.retrieved)
    assert [h.id for h in answer.passages] == answer.reranked[:3]
    assert answer.timings["rerank"] > 0


def test_an_unreachable_llm_is_one_clear_error_or_flagged(english_pool: Pool) -> None:
    url = f"http://127.0.0.1:{refused_port()}/v1"
    client = LLMClient(url, "m", timeout=2, max_retries=0, deadline=3)
    pipeline = AnswerPipeline(get_retriever("dense", english_pool), client)
    with pytest.raises(ServiceUnavailableError, match=url.removesuffix("/v1")):
        pipeline.answer_many(QUESTIONS[:2])
    kept = AnswerPipeline(
        get_retriever("dense", english_pool),
        LLMClient(url, "m", timeout=2, max_retries=0, deadline=3),
        config=AnswerConfig(on_llm_failure="passages"),
    )
    answers = kept.answer_many(QUESTIONS[:2])
    assert all(a.answer is None and a.error and a.passages for a in answers)


@pytest.mark.vllm
@pytest.mark.gemma
def test_a_base_model_answers_in_completion_style(
    english_pool: Pool, gemma_target: tuple[str, str]
) -> None:
    # Gemma 3 270M base, prompted as a text to continue: the answer stops before the next
    # "Question:" line the model would go on to write, and cites what it was shown.
    llm = LLMClient(gemma_target[0], gemma_target[1], timeout=120)
    config = AnswerConfig(k=3, style="completion", reask=False)
    pipeline = AnswerPipeline(get_retriever("dense", english_pool), llm, config=config)
    english = pipeline.answer(Question("What did Arthur Guinness sign in 1759?", "guinness", "eng"))
    assert english.answer and "Question:" not in english.answer
    assert english.usage["calls"] == 1 and english.language_ok
    assert RELEVANT["eng"] in [h.metadata["row"] for h in english.passages]
    assert set(english.citations) <= {h.id for h in english.passages}
