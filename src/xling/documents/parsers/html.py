"""HTML with selectolax (lexbor): the main content's text as blocks, headings as the section
path, navigation and boilerplate dropped.

``<main>`` or ``<article>`` is read when present, else ``<body>``. Dropped: scripts, styles,
``nav``/``header``/``footer``/``aside``/``form`` (outside the main content), and elements whose
class or role marks navigation (DocBook's ``navheader``/``navfooter``/``toc``,
``role="navigation"``). ``p``/``li``/``dt``/``dd``/``blockquote``/``div`` text becomes text
blocks, ``pre`` a code block, each row of a data table a table block.
"""

from __future__ import annotations

import re
from typing import Any

from xling.documents.parsers.common import collapse_spaces, decode_text, library_error
from xling.documents.records import BlockKind, ParsedDocument, RawDocument

__all__ = ["parse_html"]

_DROP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "iframe", "object", "button", "select",
     "textarea", "head", "title", "meta", "link", "nav", "aside", "form", "dialog"}
)  # fmt: skip
_PAGE_CHROME = frozenset({"header", "footer"})
_DROP_CLASSES = frozenset(
    {"navheader", "navfooter", "toc", "breadcrumb", "breadcrumbs", "sidebar", "skip-link",
     "navbar", "menu", "cookie-banner"}
)  # fmt: skip
_DROP_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "li", "dt", "dd", "blockquote", "section", "article", "main", "ul", "ol", "dl",
     "figure", "figcaption", "caption", "address", "hr", "table", "thead", "tbody", "tfoot",
     "tr", "td", "th", "details", "summary", "body", "center", "fieldset", "legend"}
)  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_LAYOUT_INSIDE = "p, div, ul, ol, dl, pre, table, blockquote, h1, h2, h3, h4, h5, h6"
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)

Blocks = list[tuple[str, tuple[str, ...], None, BlockKind]]


def parse_html(raw: RawDocument) -> ParsedDocument:
    """Parses an HTML document.

    Raises:
        InvalidInputError: If the bytes are binary or hold no text in the main content.
    """
    from selectolax.lexbor import LexborHTMLParser

    declared = _CHARSET.search(raw.data[:4096])
    text = decode_text(raw, declared=declared.group(1).decode("ascii") if declared else None)
    try:
        tree = LexborHTMLParser(text)
    except Exception as exc:  # lexbor accepts any text; a failure here is the library's
        raise library_error(raw, "HTML", exc) from None
    title_node = tree.css_first("title")
    title = collapse_spaces(title_node.text()) if title_node is not None else None
    root = tree.css_first("main") or tree.css_first("article") or tree.body or tree.root
    walker = _Walker()
    if root is not None:
        walker.walk(root)
    if not title:
        title = walker.first_h1
    return ParsedDocument.from_blocks(raw, walker.blocks, title=title or None)


def _holds_blocks(table: Any) -> bool:
    """Whether a table lays out blocks (paragraphs, lists, other tables) rather than data;
    lexbor's ``css`` matches the node itself too, hence the ``mem_id`` test."""
    return any(n.mem_id != table.mem_id for n in table.css(_LAYOUT_INSIDE))


class _Walker:
    """Walks the tree depth-first without recursion (deep pages would exhaust the stack),
    gathering inline text until a block element starts or ends."""

    def __init__(self) -> None:
        self.blocks: Blocks = []
        self.headings: list[tuple[int, str]] = []
        self.first_h1: str | None = None
        self.buffer: list[str] = []

    def section(self) -> tuple[str, ...]:
        return tuple(h for _, h in self.headings)

    def flush(self) -> None:
        if self.buffer:
            self.blocks.append(
                (collapse_spaces("".join(self.buffer)), self.section(), None, "text")
            )
            self.buffer = []

    def walk(self, root: Any) -> None:
        # Events: (node, True) enters a node, (node, False) leaves a block element.
        stack: list[tuple[Any, bool]] = [(root, True)]
        while stack:
            node, entering = stack.pop()
            if not entering:
                self.flush()
                continue
            tag = node.tag
            if tag == "-text":
                self.buffer.append(node.text_content or "")
                continue
            if tag == "br":
                self.buffer.append("\n")
                continue
            if tag is None or tag.startswith("-") or self._dropped(node, root):
                continue
            if tag in _HEADINGS:
                self._heading(node, _HEADINGS[tag])
                continue
            if tag == "pre":
                self.flush()
                self.blocks.append((node.text(deep=True).strip("\n"), self.section(), None, "code"))
                continue
            if tag == "table" and not _holds_blocks(node):
                self.flush()
                self._table(node)
                continue
            block = tag in _BLOCK_TAGS
            if block:
                self.flush()
                stack.append((node, False))
            children = []
            child = node.child
            while child is not None:
                children.append(child)
                child = child.next
            stack.extend((c, True) for c in reversed(children))

    def _dropped(self, node: Any, root: Any) -> bool:
        tag = node.tag
        if tag in _DROP_TAGS:
            return True
        if tag in _PAGE_CHROME and root.tag not in ("main", "article"):
            return True
        attributes = node.attributes
        if "hidden" in attributes or attributes.get("aria-hidden") == "true":
            return True
        if (attributes.get("role") or "") in _DROP_ROLES:
            return True
        classes = (attributes.get("class") or "").split()
        return any(c in _DROP_CLASSES for c in classes)

    def _heading(self, node: Any, level: int) -> None:
        self.flush()
        text = collapse_spaces(node.text(deep=True))
        if not text:
            return
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, text))
        if level == 1 and self.first_h1 is None:
            self.first_h1 = text

    def _table(self, table: Any) -> None:
        section = self.section()
        caption = table.css_first("caption")
        if caption is not None:
            self.blocks.append((collapse_spaces(caption.text(deep=True)), section, None, "text"))
        for row in table.css("tr"):
            cells = [collapse_spaces(c.text(deep=True)) for c in row.css("td, th")]
            self.blocks.append((" | ".join(c for c in cells if c), section, None, "table"))
