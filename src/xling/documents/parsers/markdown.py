"""Markdown with markdown-it-py (CommonMark and GFM tables): headings give the section path,
code is kept as code blocks, table rows as table blocks, the title from front matter or the
first level-1 heading."""

from __future__ import annotations

import re
from typing import Any

from xling.documents.parsers.common import collapse_spaces, decode_text, library_error
from xling.documents.records import BlockKind, ParsedDocument, RawDocument

__all__ = ["parse_markdown"]

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_TAG = re.compile(r"<[^>]*>")


def parse_markdown(raw: RawDocument) -> ParsedDocument:
    """Parses a Markdown document.

    Raises:
        InvalidInputError: If the bytes are binary, or hold no text.
    """
    from markdown_it import MarkdownIt

    text = decode_text(raw)
    title = None
    front = _FRONT_MATTER.match(text)
    if front:
        found = _FRONT_TITLE.search(front.group(1))
        if found:
            title = found.group(1).strip().strip("\"'")
        text = text[front.end() :]
    try:
        tokens = MarkdownIt("commonmark").enable("table").parse(text)
    except Exception as exc:  # markdown-it does not refuse text; anything here is a bug in it
        raise library_error(raw, "Markdown", exc) from None
    blocks: list[tuple[str, tuple[str, ...], None, BlockKind]] = []
    headings: list[tuple[int, str]] = []
    row: list[str] | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            level = int(token.tag[1])
            heading = _inline_text(tokens[i + 1]) if i + 1 < len(tokens) else ""
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, heading))
            if title is None and level == 1 and heading:
                title = heading
            i += 3
            continue
        section = tuple(h for _, h in headings)
        if kind in ("fence", "code_block"):
            blocks.append((token.content.rstrip("\n"), section, None, "code"))
        elif kind == "tr_open":
            row = []
        elif kind == "inline" and row is not None:
            row.append(_inline_text(token))
        elif kind == "tr_close" and row is not None:
            blocks.append((" | ".join(c for c in row if c), section, None, "table"))
            row = None
        elif kind == "inline":
            blocks.append((_inline_text(token), section, None, "text"))
        elif kind == "html_block":
            blocks.append((collapse_spaces(_TAG.sub(" ", token.content)), section, None, "text"))
        i += 1
    return ParsedDocument.from_blocks(raw, blocks, title=title)


def _inline_text(token: Any) -> str:
    """The plain text of an inline token: markup dropped, link texts and image alts kept."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append("\n")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline_text(child))
    return collapse_spaces("".join(parts))
