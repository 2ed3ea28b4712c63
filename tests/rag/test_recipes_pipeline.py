"""The answer pipeline's language recipes, query translation and instruction language, on real
Chroma with the bundled e5; the LLM's own translations against the real vLLM server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import refused_port
from xling.core.errors import InvalidInputError
from xling.core.records import Question
from xling.data import sample_path
from xling.embedders import Embedder
from xling.lid import get_identifier
from xling.llm import LLMClient
from xling.rag.pipeline import AnswerConfig, AnswerPipeline
from xling.retrieval import CachedTranslator, LLMTranslator, get_retriever
from xling.store import Pool, load_lines

ROWS = {*range(12), 45, 60}  # 60: Steve Jobs unveils the iPhone
DEVICE = "Wer hat das Gerät enthüllt, als er die Bühne betrat?"
TABLE = {
    (DEVICE, "deu", "eng"): "Who unveiled the device by walking onto the stage?",
    (DEVICE, "deu", "fra"): "Qui a dévoilé l'appareil en montant sur scène ?",
    (DEVICE, "deu", "swh"): "Nani alizindua kifaa hicho kwa kutembea kwenye jukwaa?",
}


def table_translate(text: str, src: str, tgt: str) -> str:
    """A translator: the hand-written translations above."""
    return TABLE[(text, src, tgt)]


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Pool:
    """14 rows of the sample in English, French, German and Swahili."""
    pool = Pool.open("four", e5, path=tmp_path_factory.mktemp("rag-recipes") / "db")
    for lang in ("eng", "fra", "deu", "swh"):
        pool.index([r for r in load_lines(sample_path(lang), lang) if r.row in ROWS])
    return pool


def _down() -> LLMClient:
    return LLMClient(f"http://127.0.0.1:{refused_port()}/v1", "m", max_retries=0, timeout=5)


def test_the_config_names_bad_recipes_and_reports_its_choices() -> None:
    config = AnswerConfig(recipe="balanced", translate_query=True, pivot="fr",
                          instruction_lang="eng")  # fmt: skip
    assert config.pivot == "fra"
    assert {k: config.to_dict()[k] for k in ("recipe", "translate_query", "pivot",
                                              "instruction_lang")} == {  # fmt: skip
        "recipe": "balanced", "translate_query": True, "pivot": "fra", "instruction_lang": "eng"
    }  # fmt: skip
    with pytest.raises(InvalidInputError, match="recipe='mixed' is not allowed; use one of: "
                       "user, pivot, all, balanced"):  # fmt: skip
        AnswerConfig(recipe="mixed")
    with pytest.raises(InvalidInputError, match="instruction_lang='deu' is not allowed"):
        AnswerConfig(instruction_lang="deu")


@pytest.mark.parametrize(
    ("recipe", "langs", "translations"),
    [
        ("user", {"deu"}, {}),
        ("pivot", {"eng"}, {"eng": TABLE[(DEVICE, "deu", "eng")]}),
        ("balanced", {"deu", "eng", "fra", "swh"}, {"fra", "eng", "swh"}),
    ],
)
def test_the_pipeline_retrieves_by_recipe_and_reports_translations(
    four: Pool, recipe: str, langs: set[str], translations: object
) -> None:
    # The LLM is down and the passages are kept: retrieval and its report are what is left.
    config = AnswerConfig(k=4, retrieve_k=8, recipe=recipe, translate_query=True,
                          on_llm_failure="passages")  # fmt: skip
    bm25 = get_retriever("bm25", four)
    pipeline = AnswerPipeline(bm25, _down(), config=config, translator=table_translate)
    (answer,) = pipeline.answer_many([Question(DEVICE, "q", "deu")])
    assert answer.answer is None and answer.error
    assert {h.lang for h in answer.passages} == langs
    assert 60 in [h.metadata["row"] for h in answer.passages]
    if isinstance(translations, dict):
        assert answer.translations == translations
    else:
        assert set(answer.translations) == translations
    assert answer.to_dict()["translations"] == answer.translations
    assert answer.instruction_lang == "deu"


def test_the_instruction_language_is_reported_with_its_fallback(four: Pool) -> None:
    config = AnswerConfig(k=2, retrieve_k=2, on_llm_failure="passages")
    pipeline = AnswerPipeline(get_retriever("dense", four), _down(), config=config)
    answers = pipeline.answer_many([Question(DEVICE, "de", "deu"), Question("Kan?", "wo", "wol")])
    # German has a written instruction; Wolof has none and falls back to English.
    assert [a.instruction_lang for a in answers] == ["deu", "eng"]
    english = AnswerConfig(k=2, retrieve_k=2, on_llm_failure="passages", instruction_lang="eng")
    (answer,) = AnswerPipeline(get_retriever("dense", four), _down(), config=english).answer_many(
        [Question(DEVICE, "de", "deu")]
    )
    assert answer.instruction_lang == "eng"


@pytest.mark.vllm
async def test_the_llm_translates_questions_once(llm: LLMClient) -> None:
    translator = CachedTranslator(LLMTranslator(llm))
    first = await translator.atranslate("Wo ist das Flugzeug abgestürzt?", "deu", "eng")
    again = await translator.atranslate("Wo ist das Flugzeug abgestürzt?", "de", "en")
    assert first == again and translator.calls == 1
    assert first.strip() and first != "Wo ist das Flugzeug abgestürzt?"
    assert translator.model is not None and "@" in translator.model
    # A 135M model translates poorly, but into English.
    assert get_identifier("pycld2").detect(first, ["eng", "deu"]).lang == "eng"


@pytest.mark.vllm
def test_pivot_with_the_llms_translation_answers_in_the_askers_language(
    four: Pool, llm: LLMClient, tmp_path: Path
) -> None:
    config = AnswerConfig(k=3, retrieve_k=6, recipe="pivot", translate_query=True)
    pipeline = AnswerPipeline(get_retriever("dense", four), llm, config=config)
    (answer,) = pipeline.answer_many([Question(DEVICE, "q", "deu")])
    assert set(answer.translations) == {"eng"} and answer.translations["eng"] != DEVICE
    assert {h.lang for h in answer.passages} == {"eng"}
    assert answer.instruction_lang == "deu"
    assert answer.answer and answer.usage["calls"] == len(answer.attempts)
