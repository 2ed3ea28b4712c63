"""Few-shot MT prompts the LlamaIndex way: a ``PromptTemplate`` whose examples an xling
selector fills, for any LlamaIndex LLM."""

from __future__ import annotations

from typing import Any

from llama_index.core.prompts import PromptTemplate

from xling.core.errors import InvalidInputError
from xling.prompts.mt import DEFAULT_MT_TEMPLATE, MTTemplate, get_mt_template
from xling.selectors import Selector

__all__ = ["few_shot_template"]


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def few_shot_template(
    selector: Selector,
    src: str,
    tgt: str,
    *,
    k: int = 5,
    template: str | MTTemplate = DEFAULT_MT_TEMPLATE,
) -> PromptTemplate:
    """A translation prompt with the variable ``source``; its ``examples`` come from ``selector``.

    ``template.format(source="...")`` selects ``k`` examples for that sentence (any xling
    strategy: bm25, s2s, margin, ...) and renders ICL-MT's template, ending where the model
    writes the translation.

    Args:
        selector: Any xling selector over an aligned pool of the direction.
        src: Source language code.
        tgt: Target language code.
        k: Examples per prompt.
        template: The MT template (default ICL-MT template 11).

    Raises:
        InvalidInputError: If ``k`` is not a positive integer.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k={k!r} is not allowed; use an integer >= 1")
    header, prefix, middle, suffix = get_mt_template(template).parts(src, tgt)

    def examples(**kwargs: Any) -> str:
        source = kwargs.get("source")
        if not isinstance(source, str) or not source.strip():
            raise InvalidInputError("the prompt needs source=<the sentence to translate>")
        chosen = selector.select([source], k)[0]
        return "".join(f"{prefix}{e.source}{middle}{e.target}{suffix}" for e in chosen)

    text = f"{_escape(header)}{{examples}}{_escape(prefix)}{{source}}{_escape(middle)}"
    return PromptTemplate(text, function_mappings={"examples": examples})
