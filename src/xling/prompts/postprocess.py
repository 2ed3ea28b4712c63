"""Cleaning a model's continuation of a few-shot MT prompt down to the translation.

Few-shot prompts invite the model to go on writing demonstrations after the translation. The
translation is what comes before the first demonstration separator (``###``), the first line
break, or an echoed template label (``English sentence``, ``Swahili translation``), whichever
comes first. A label the model writes *before* its answer (``Swahili translation\\nHabari``) is
dropped rather than cutting the answer to nothing.

The stop sequences sent with the request (:func:`mt_stop_sequences`) are the ones of the ICL-MT
code: the separator and the source label that opens the next demonstration. A bare line break
is deliberately not one of them: a model that opens with a blank line would end its answer
before writing it, while :func:`clean_translation` strips leading blank lines first and cuts at
the first line break after that. Nor is the target label (a model may start with it).
"""

from __future__ import annotations

from collections.abc import Sequence

from xling.prompts.mt import DEFAULT_MT_TEMPLATE, MTTemplate, get_mt_template

__all__ = ["MT_MAX_NEW_TOKENS", "MT_STOP", "clean_translation", "mt_stop_sequences"]

MT_STOP: tuple[str, ...] = ("###",)
"""Stop sequences for MT completions with the ###-separated templates (no bare ``\\n``)."""

MT_MAX_NEW_TOKENS = 75
"""The ICL-MT code's default generation budget (``--max_new_tokens``)."""


def mt_stop_sequences(
    src: str | None = None, tgt: str | None = None, template: str | MTTemplate = DEFAULT_MT_TEMPLATE
) -> list[str]:
    """Stop sequences for a completion request: the separator and the source label.

    Example:
        >>> mt_stop_sequences("eng", "swh")
        ['###', 'English sentence']
    """
    _, prefix, _, suffix = get_mt_template(template).parts(src, tgt) if src and tgt else ("",) * 4
    return list(dict.fromkeys(s for s in (*MT_STOP, suffix.strip(), prefix.strip()) if s))


def _strip_leading_labels(text: str, labels: Sequence[str]) -> str:
    changed = True
    while changed:
        changed = False
        for label in labels:
            if label and text.startswith(label):
                text = text[len(label) :].lstrip(" :\t\r\n")
                changed = True
    return text


def clean_translation(
    text: str,
    src: str | None = None,
    tgt: str | None = None,
    template: str | MTTemplate = DEFAULT_MT_TEMPLATE,
    *,
    extra_stops: Sequence[str] = (),
) -> str:
    """Extracts the translation from a model's continuation.

    Args:
        text: The raw completion (what the model wrote after the prompt).
        src: Source language code, to recognise echoed labels (``English sentence``).
        tgt: Target language code (``Swahili translation``).
        template: The prompt's template.
        extra_stops: Further markers to cut at.

    Returns:
        The translation, stripped; ``""`` if the model wrote nothing usable.

    Example:
        >>> clean_translation(" Habari za asubuhi.\\n###\\nEnglish sentence\\nHi")
        'Habari za asubuhi.'
        >>> clean_translation("Swahili translation\\nAsante.", "eng", "swh")
        'Asante.'
    """
    labels = get_mt_template(template).headers(src, tgt) if src and tgt else []
    out = _strip_leading_labels(text.lstrip(), labels)
    cut = len(out)
    for marker in ("\n", *MT_STOP, *labels, *extra_stops):
        if marker:
            found = out.find(marker)
            if found != -1:
                cut = min(cut, found)
    return out[:cut].strip()
