"""Cuts one chapter out of a Debian Reference PDF, keeping that chapter's bookmarks.

Usage: ``python make_pdf_extract.py SRC.pdf FIRST LAST OUT.pdf`` (0-based page indexes,
inclusive). Needs pypdf (not an xling dependency: PDFium cannot write bookmarks).
"""

import sys
from typing import Any

import pypdf


def main(src: str, first: int, last: int, out: str) -> None:
    reader = pypdf.PdfReader(src)
    writer = pypdf.PdfWriter()
    for i in range(first, last + 1):
        writer.add_page(reader.pages[i])
    parents: dict[int, Any] = {}

    def walk(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            page = reader.get_destination_page_number(item)
            if page is not None and first <= page <= last:
                parents[level] = writer.add_outline_item(
                    title=item.title, page_number=page - first, parent=parents.get(level - 1)
                )
                for deeper in [k for k in parents if k > level]:
                    del parents[deeper]

    walk(reader.outline, 0)
    metadata = reader.metadata or {}
    writer.add_metadata(
        {
            "/Title": str(metadata.get("/Title", "")) + " (chapter extract)",
            "/Author": str(metadata.get("/Author", "")),
        }
    )
    with open(out, "wb") as handle:
        writer.write(handle)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
