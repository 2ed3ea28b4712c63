"""Few-shot machine-translation prompts: the ICL-MT templates and a chat-message variant.

Template 11 of the ICL-MT study (Zebaze, Sagot & Bawden, 2024; ArmelRandy/ICL-MT,
``templates.py``) is the default. Each demonstration is written as

    {src} sentence\\n{x}\\n{tgt} translation\\n{y}\\n###\\n

and the query follows as ``{src} sentence\\n{x}\\n{tgt} translation\\n``, where ``{src}`` and
``{tgt}`` are English language names (``English``, ``Swahili``). Demonstrations are used in the
order given: put the most similar one last so it sits next to the query, as ICL-MT does
(:mod:`xling.selectors` returns them in that order by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.languages import language_name
from xling.core.validation import check_texts

__all__ = [
    "DEFAULT_MT_TEMPLATE",
    "MT_TEMPLATES",
    "MTTemplate",
    "Demonstration",
    "get_mt_template",
    "build_mt_prompt",
    "build_mt_messages",
]

DEFAULT_MT_TEMPLATE = "icl-mt-11"


class _Pair(Protocol):
    @property
    def source(self) -> str: ...

    @property
    def target(self) -> str: ...


Demonstration = tuple[str, str] | _Pair
"""A demonstration: a ``(source, target)`` tuple or any object with ``source`` and ``target``
(such as :class:`xling.selectors.Example`)."""


@dataclass(frozen=True)
class MTTemplate:
    """A few-shot translation format: ``prefix x middle y suffix`` per demonstration.

    ``{src}`` and ``{tgt}`` in the parts are replaced by language names.

    Attributes:
        name: Registry key.
        prefix: Text before each source sentence.
        middle: Text between a source sentence and its translation.
        suffix: Text after each translation (the separator between demonstrations).
        header: Text before everything.
    """

    name: str
    prefix: str
    middle: str
    suffix: str
    header: str = ""

    def parts(self, src: str, tgt: str) -> tuple[str, str, str, str]:
        """``(header, prefix, middle, suffix)`` with the language names filled in."""
        names = {"src": language_name(src), "tgt": language_name(tgt)}
        return (
            self.header.format(**names),
            self.prefix.format(**names),
            self.middle.format(**names),
            self.suffix.format(**names),
        )

    def headers(self, src: str, tgt: str) -> list[str]:
        """The non-empty label lines a model may echo (``English sentence``, ``###``)."""
        _, prefix, middle, suffix = self.parts(src, tgt)
        return [h for h in (middle.strip(), prefix.strip(), suffix.strip()) if h]


# ICL-MT templates whose demonstrations are separated by "###" (the ones used with 5+ shots).
MT_TEMPLATES: dict[str, MTTemplate] = {
    t.name: t
    for t in (
        MTTemplate("icl-mt-7", "{src}\n", "\ntranslates into\n{tgt}\n", "\n###\n"),
        MTTemplate("icl-mt-9", "{src}: ", "\n{tgt}: ", "\n###\n"),
        MTTemplate("icl-mt-11", "{src} sentence\n", "\n{tgt} translation\n", "\n###\n"),
    )
}


def get_mt_template(name: str | MTTemplate) -> MTTemplate:
    """Looks up a template by name (a template object is returned as is).

    Raises:
        UnknownSpecError: If no template has that name (the message lists them).
    """
    if isinstance(name, MTTemplate):
        return name
    try:
        return MT_TEMPLATES[name]
    except (KeyError, TypeError):
        raise UnknownSpecError(
            f"unknown MT template {name!r}; allowed: {', '.join(sorted(MT_TEMPLATES))}"
        ) from None


def _pairs(demonstrations: Sequence[Demonstration]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for i, demo in enumerate(demonstrations):
        if isinstance(demo, tuple):
            if len(demo) != 2:
                raise InvalidInputError(
                    f"demonstration {i} is a {len(demo)}-tuple; use (source, target)"
                )
            pairs.append((demo[0], demo[1]))
        elif hasattr(demo, "source") and hasattr(demo, "target"):
            pairs.append((demo.source, demo.target))
        else:
            raise InvalidInputError(
                f"demonstration {i} is {demo!r:.60}; use a (source, target) tuple or an Example"
            )
    check_texts([p[0] for p in pairs], "demonstration sources")
    check_texts([p[1] for p in pairs], "demonstration targets")
    return pairs


def build_mt_prompt(
    query: str,
    demonstrations: Sequence[Demonstration],
    src: str,
    tgt: str,
    template: str | MTTemplate = DEFAULT_MT_TEMPLATE,
) -> str:
    """Builds a few-shot (or zero-shot) translation prompt for a completion model.

    Args:
        query: The sentence to translate.
        demonstrations: Example pairs, in prompt order (the last one is next to the query).
        src: Source language code (ISO 639-1, ISO 639-3 or FLORES-200: ``en``, ``eng``,
            ``eng_Latn``).
        tgt: Target language code.
        template: Template name or object; default ICL-MT template 11.

    Returns:
        The prompt, ending where the model should write the translation.

    Raises:
        InvalidInputError: On an empty query or demonstration, or an unknown language code.
        UnknownSpecError: On an unknown template name.

    Example:
        >>> print(build_mt_prompt("Good morning.", [("Thank you.", "Asante.")], "en", "sw"))
        English sentence
        Thank you.
        Swahili translation
        Asante.
        ###
        English sentence
        Good morning.
        Swahili translation
        <BLANKLINE>
    """
    (text,) = check_texts([query], "query")
    header, prefix, middle, suffix = get_mt_template(template).parts(src, tgt)
    body = "".join(f"{prefix}{x}{middle}{y}{suffix}" for x, y in _pairs(demonstrations))
    return f"{header}{body}{prefix}{text}{middle}"


def build_mt_messages(
    query: str,
    demonstrations: Sequence[Demonstration],
    src: str,
    tgt: str,
    template: str | MTTemplate = DEFAULT_MT_TEMPLATE,
    *,
    system: str | None = None,
) -> list[dict[str, str]]:
    """Builds the chat-message form of the same prompt, for chat models.

    Each demonstration becomes a user turn (the template's source part and the target label)
    and an assistant turn (the translation alone); the query is the last user turn.

    Args:
        query: The sentence to translate.
        demonstrations: Example pairs, in prompt order.
        src: Source language code.
        tgt: Target language code.
        template: Template name or object.
        system: System message; default an instruction naming both languages. Pass ``""`` for
            none.

    Returns:
        OpenAI-style messages (``{"role", "content"}``), usable with ``LLMClient.chat``.
    """
    (text,) = check_texts([query], "query")
    _, prefix, middle, _ = get_mt_template(template).parts(src, tgt)
    if system is None:
        system = (
            f"You translate {language_name(src)} into {language_name(tgt)}. "
            "Reply with the translation only."
        )
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    label = middle.rstrip("\n")
    for x, y in _pairs(demonstrations):
        messages.append({"role": "user", "content": f"{prefix}{x}{label}"})
        messages.append({"role": "assistant", "content": y})
    messages.append({"role": "user", "content": f"{prefix}{text}{label}"})
    return messages
