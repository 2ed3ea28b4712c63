"""Query/document prefixes ("prompts") of embedding model families.

A family is chosen explicitly (``?prompts=e5`` in a spec), from the exact model id in
:data:`KNOWN_MODEL_PROMPTS`, or from the prompts a sentence-transformers model ships in its own
configuration, in that order. Model names are matched exactly, never by substring.
"""

from __future__ import annotations

from dataclasses import dataclass

from xling.core.errors import UnknownSpecError

__all__ = ["PromptScheme", "PROMPT_SCHEMES", "KNOWN_MODEL_PROMPTS", "get_prompt_scheme"]


@dataclass(frozen=True)
class PromptScheme:
    """Text put before queries and documents.

    Attributes:
        name: Registry key.
        query: Prefix for queries.
        document: Prefix for documents.
    """

    name: str
    query: str = ""
    document: str = ""

    def apply(self, texts: list[str], role: str) -> list[str]:
        """Returns the texts with the role's prefix."""
        prefix = self.query if role == "query" else self.document
        return [prefix + t for t in texts] if prefix else texts


PROMPT_SCHEMES: dict[str, PromptScheme] = {
    s.name: s
    for s in (
        PromptScheme("none"),
        PromptScheme("e5", "query: ", "passage: "),
        PromptScheme(
            "e5-instruct",
            "Instruct: Given a query, retrieve relevant passages that answer the query\nQuery: ",
            "",
        ),
        PromptScheme("bge", "Represent this sentence for searching relevant passages: ", ""),
        PromptScheme("arctic", "query: ", ""),
    )
}

KNOWN_MODEL_PROMPTS: dict[str, str] = {
    "intfloat/multilingual-e5-small": "e5",
    "intfloat/multilingual-e5-base": "e5",
    "intfloat/multilingual-e5-large": "e5",
    "intfloat/multilingual-e5-large-instruct": "e5-instruct",
    "sentence-transformers/LaBSE": "none",
    "BAAI/bge-m3": "none",
    "Alibaba-NLP/gte-multilingual-base": "none",
    "Snowflake/snowflake-arctic-embed-m-v2.0": "arctic",
    "Snowflake/snowflake-arctic-embed-l-v2.0": "arctic",
}


def get_prompt_scheme(name: str) -> PromptScheme:
    """Looks up a prompt scheme by name.

    Raises:
        UnknownSpecError: If no scheme has that name.
    """
    try:
        return PROMPT_SCHEMES[name]
    except KeyError:
        raise UnknownSpecError(
            f"unknown prompt scheme {name!r}; allowed: {', '.join(sorted(PROMPT_SCHEMES))}"
        ) from None
