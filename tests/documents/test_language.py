"""Per-chunk languages: given, or detected from each chunk's prose (code left out).

Texts: FLORES-200 dev (CC BY-SA 4.0) German and English sentences; the code is written here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from xling.core.errors import InvalidInputError, MissingDependencyError
from xling.documents.chunking import Chunker
from xling.documents.language import check_lang, chunk_languages
from xling.documents.records import Document, ParsedDocument, read_document
from xling.embedders.base import Embedder
from xling.lid import get_identifier

# English code, with English comments and names, as in a German manual's samples.
CODE = """# Install the package and build the search index from the documents folder
pip install xling
xling ingest documents/ --pool manual --chunk-tokens 256
# Then ask a question about the manual
xling ask "How do I remove a package?" --pool manual"""

Flores = Callable[[str, str], list[str]]


def parsed(
    blocks: list[tuple[str, tuple[str, ...], str]], lang: str | None = None
) -> ParsedDocument:
    document = Document("handbuch.md", text="(parsed below)", lang=lang)
    raw = read_document(document, "markdown")
    return ParsedDocument.from_blocks(raw, [(t, s, None, k) for t, s, k in blocks])


def test_a_german_chunk_with_an_english_code_block_is_german(e5: Embedder, flores: Flores) -> None:
    german = flores("deu", "dev")
    doc = parsed(
        [
            (german[0], ("Installation",), "text"),
            (CODE, ("Installation",), "code"),
            (CODE.upper(), ("Installation",), "code"),
            (CODE, ("Beispiel",), "code"),  # a chunk of code alone: the document's language
        ]
    )
    chunks = Chunker(e5, chunk_tokens=256, overlap=0).chunk(doc)
    assert len(chunks) == 2
    assert CODE in chunks[0].text
    # Read whole, the first chunk is mostly English; its prose is German.
    assert get_identifier("pycld2").detect(chunks[0].text).lang == "eng"
    assert [c.lang for c in chunks] == ["deu", "deu"]


def test_a_bilingual_document_gets_a_language_per_chunk(e5: Embedder, flores: Flores) -> None:
    english, german = flores("eng", "dev"), flores("deu", "dev")
    doc = parsed(
        [
            (" ".join(english[10:16]), ("Introduction",), "text"),
            (" ".join(german[10:16]), ("Einleitung",), "text"),
            (" ".join(english[16:20]), ("Usage",), "text"),
        ]
    )
    chunks = Chunker(e5, chunk_tokens=128, overlap=0).chunk(doc)
    expected = {("Introduction",): "eng", ("Einleitung",): "deu", ("Usage",): "eng"}
    assert [c.lang for c in chunks] == [expected[c.section] for c in chunks]
    assert {c.lang for c in chunks} == {"eng", "deu"}


def test_a_given_language_wins(e5: Embedder, flores: Flores) -> None:
    english = flores("eng", "dev")
    doc = parsed([(" ".join(english[:3]), (), "text")], lang="de")
    chunker = Chunker(e5, chunk_tokens=64, overlap=0)
    assert {c.lang for c in chunker.chunk(doc)} == {"deu"}  # the document's language
    assert {c.lang for c in chunker.chunk(doc, lang="fr")} == {"fra"}  # the caller's
    assert {c.lang for c in chunker.chunk(doc, lang="auto")} == {"eng"}  # detected


def test_chunk_languages_fills_code_and_short_prose_with_the_majority(flores: Flores) -> None:
    german, english = flores("deu", "dev"), flores("eng", "dev")
    prose = [german[0], None, "Ja.", german[1], english[0]]
    assert chunk_languages(prose) == ["deu", "deu", "deu", "deu", "eng"]
    assert chunk_languages([None, None]) == [None, None]
    assert chunk_languages([]) == []
    assert chunk_languages([german[0], None], "swh_Latn") == ["swh", "swh"]


def test_detection_without_a_backend_says_how_to_install_one(
    monkeypatch: pytest.MonkeyPatch, flores: Flores
) -> None:
    monkeypatch.setitem(sys.modules, "pycld2", None)  # import pycld2 now fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'xling\[lid\]'"):
        chunk_languages([flores("deu", "dev")[0]], backend="pycld2")


def test_check_lang() -> None:
    assert check_lang("de") == "deu"
    assert check_lang("auto") == "auto"
    assert check_lang(None) is None
    with pytest.raises(InvalidInputError) as error:
        check_lang("german-ish")
    assert str(error.value) == (
        "lang='german-ish' is not allowed; use a language code (de, deu, swh_Latn), 'auto' or "
        "None to detect each chunk's language"
    )
