"""The chunker on real text with the bundled e5 embedder's own tokenizer.

Texts: FLORES-200 dev (CC BY-SA 4.0), NTREX-128 (CC BY-SA 4.0) and Tatoeba (CC BY 2.0 FR)
sentences; the code block is written here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from xling.core.errors import InvalidInputError
from xling.documents.chunking import Chunker, model_window
from xling.documents.records import BlockKind, Chunk, Document, ParsedDocument, read_document
from xling.embedders import get_embedder
from xling.embedders.base import Embedder

BlockSpec = tuple[str, Sequence[str], int | None, BlockKind]

# NTREX-128, newstest2019 zho-CN lines 2-4, 6-9 and 11 (line 5 opens a quote it never closes):
# one paragraph of 8 sentences, each ending in 。
CHINESE = [
    "有人提议应将 AM 的头衔改为MWP（威尔士议会议员)，这让有些 AM 惊愕不已。",
    "之所以会这样，是因为有计划将国民议会的名称更改为“威尔士议会”。",
    "整个政坛的 AM 担心这会惹来嘲笑。",
    "对于威尔士之外的读者：在威尔士语中，twp 表示笨蛋，pwp 表示粪便。",
    "一位 Plaid AM 表示，该党团总体上（对此次名称更改）“不太满意”，已经提议以其他名称代替。",
    "一位威尔士保守党人士表示，其党团对此次名称变更秉持“开放的态度”，但他指出这是从 MWP 到 "
    "Muppet 的一种简短的口头表达。",
    "在此背景下，威尔士字母 w 的发音与英国约克郡英语中字母 u 的发音类似。",
    "“威尔士政府 2017 年法案”赋予“威尔士国民议会”更改其名称的权力。",
]
# Tatoeba eng (from the tha-eng pairs): short sentences for overlap.
SHORT = [
    "How is your job search going?",
    "It's time to wake Tom up.",
    "He lives in the woods all by himself.",
    "The best book about life is life itself.",
    "I want to buy this jacket.",
    "For oral use.",
    "Keep all medicines out of the reach and sight of children.",
    "I had never been on a plane before.",
]
CODE = "\n".join(f"result_{i} = compute(values[{i}], scale=2.5)  # step {i}" for i in range(12))


def parsed(blocks: Sequence[BlockSpec], lang: str | None = "eng") -> ParsedDocument:
    document = Document("manual.md", text="(parsed below)", lang=lang)
    return ParsedDocument.from_blocks(read_document(document, "text"), blocks)


@pytest.fixture(scope="module")
def english(flores: Callable[[str, str], list[str]]) -> list[str]:
    return flores("eng", "dev")[:40]


def check_chunks(chunks: list[Chunk], doc: ParsedDocument, budget: int, e5: Embedder) -> None:
    """What holds of every chunking: offsets, order, budget, one heading per chunk."""
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert e5.count_tokens(chunk.embedded_text) <= budget
        assert chunk.tokens == e5.count_tokens(chunk.text)
        assert chunk.text == chunk.text.strip()
        for block in doc.blocks:
            if block.start < chunk.end and chunk.start < block.end:
                assert block.section == chunk.section


def test_chunks_fit_the_budget_keep_offsets_and_never_cross_a_heading(
    e5: Embedder, english: list[str]
) -> None:
    doc = parsed(
        [
            (" ".join(english[0:6]), (), None, "text"),
            (" ".join(english[6:14]), ("Science",), None, "text"),
            (" ".join(english[14:20]), ("Science",), None, "text"),
            (" ".join(english[20:24]), ("Science", "Flights"), None, "text"),
            (" ".join(english[24:40]), ("Sport",), None, "text"),
        ]
    )
    chunks = Chunker(e5, chunk_tokens=96, overlap=0).chunk(doc)
    check_chunks(chunks, doc, 96, e5)
    assert [c.section for c in chunks].count(("Science", "Flights")) >= 1
    # Without overlap the chunks tile the text: every sentence is in exactly one chunk, and a
    # chunk ends where a FLORES sentence ends.
    covered = " ".join(c.text for c in chunks).split()
    assert covered == " ".join(english[:40]).split()
    for chunk in chunks:
        assert any(chunk.text.endswith(line) for line in english[:40])
    # Two blocks under one heading may share a chunk, joined by the blank line between them.
    assert any("\n\n" in c.text for c in chunks if c.section == ("Science",))


def test_a_chinese_paragraph_over_budget_splits_at_full_stops(e5: Embedder) -> None:
    paragraph = "".join(CHINESE)
    doc = parsed([(paragraph, ("威尔士",), None, "text")], lang="cmn")
    chunks = Chunker(e5, chunk_tokens=64, overlap=0).chunk(doc)
    check_chunks(chunks, doc, 64, e5)
    assert len(chunks) >= 3
    assert "".join(c.text for c in chunks) == paragraph
    for chunk in chunks:
        # Each chunk is a run of whole sentences of the paragraph.
        assert chunk.text.endswith("。")
        rest = chunk.text
        while rest:
            head = next(s for s in CHINESE if rest.startswith(s))
            rest = rest[len(head) :]
    # Found by script when the language is not given.
    auto = Chunker(e5, chunk_tokens=64, overlap=0).chunk(
        parsed([(paragraph, (), None, "text")], None)
    )
    assert [c.text for c in auto] == [c.text for c in chunks]


def test_a_sentence_alone_over_budget_is_cut_by_tokens(e5: Embedder, english: list[str]) -> None:
    sentence = english[0]  # 43 words, 62 e5 tokens with the passage prefix
    doc = parsed([(sentence, (), None, "text")])
    chunks = Chunker(e5, chunk_tokens=24, overlap=0).chunk(doc)
    check_chunks(chunks, doc, 24, e5)
    assert len(chunks) >= 3
    # Cut where the tokens run out, moved back to the space before the word cut.
    assert " ".join(c.text for c in chunks) == sentence
    words = set(sentence.split())
    for chunk in chunks:
        assert chunk.text.split()[0] in words and chunk.text.split()[-1] in words
    # A Chinese sentence without spaces or commas near the cut is cut inside it, by tokens.
    unbroken = "威尔士国民议会议员担心看起来像笨蛋" * 4 + "。"
    doc = parsed([(unbroken, (), None, "text")], lang="cmn")
    pieces = Chunker(e5, chunk_tokens=24, overlap=0).chunk(doc)
    check_chunks(pieces, doc, 24, e5)
    assert len(pieces) >= 2
    assert "".join(c.text for c in pieces) == unbroken


def test_overlap_repeats_the_previous_chunks_last_sentence(e5: Embedder) -> None:
    doc = parsed([(" ".join(SHORT), (), None, "text")])
    chunks = Chunker(e5, chunk_tokens=40, overlap=16).chunk(doc)
    check_chunks(chunks, doc, 40, e5)
    assert len(chunks) >= 3
    for previous, chunk in zip(chunks, chunks[1:], strict=False):
        last = next(s for s in SHORT if previous.text.endswith(s))
        assert chunk.text.startswith(last)
        assert chunk.start < previous.end
    no_overlap = Chunker(e5, chunk_tokens=40, overlap=0).chunk(doc)
    for previous, chunk in zip(no_overlap, no_overlap[1:], strict=False):
        assert chunk.start > previous.end


def test_overlap_stays_under_its_heading(e5: Embedder) -> None:
    doc = parsed(
        [
            (" ".join(SHORT[:4]), ("One",), None, "text"),
            (" ".join(SHORT[4:]), ("Two",), None, "text"),
        ]
    )
    chunks = Chunker(e5, chunk_tokens=48, overlap=24).chunk(doc)
    check_chunks(chunks, doc, 48, e5)
    first_of_two = next(c for c in chunks if c.section == ("Two",))
    assert first_of_two.text.startswith(SHORT[4])


def test_heading_prefix(e5: Embedder, english: list[str]) -> None:
    blocks: list[BlockSpec] = [
        (english[0], (), 1, "text"),
        (" ".join(english[1:8]), ("Package management", "Basic operations"), 2, "text"),
    ]
    doc = parsed(blocks)
    with_prefix = Chunker(e5, chunk_tokens=80, overlap=0, heading_prefix=True).chunk(doc)
    check_chunks(with_prefix, doc, 80, e5)
    assert with_prefix[0].prefix == ""  # before the first heading
    assert with_prefix[0].page == 1
    assert {c.prefix for c in with_prefix[1:]} == {"Package management > Basic operations\n"}
    assert {c.page for c in with_prefix[1:]} == {2}
    assert with_prefix[1].embedded_text.startswith("Package management > Basic operations\n")
    without = Chunker(e5, chunk_tokens=80, overlap=0, heading_prefix=False).chunk(doc)
    assert {c.prefix for c in without} == {""}
    # The prefix takes room from the text: at least as many chunks with it.
    assert len(with_prefix) >= len(without)


def test_code_is_kept_whole_where_it_fits_and_split_at_lines_otherwise(e5: Embedder) -> None:
    small = "pip install xling\nxling ingest docs/ --pool manual"
    doc = parsed(
        [
            ("Run these two commands.", ("Install",), None, "text"),
            (small, ("Install",), None, "code"),
            (CODE, ("Reference",), None, "code"),
        ]
    )
    chunks = Chunker(e5, chunk_tokens=64, overlap=0).chunk(doc)
    check_chunks(chunks, doc, 64, e5)
    assert chunks[0].text == "Run these two commands.\n\n" + small
    code_lines = CODE.split("\n")
    rest = chunks[1:]
    assert len(rest) >= 2
    assert "\n".join(c.text for c in rest) == CODE
    for chunk in rest:
        assert all(line in code_lines for line in chunk.text.split("\n"))


def test_tables_split_at_rows(e5: Embedder) -> None:
    rows = [f"| {lang} | {name} | {n} sentences |" for lang, name, n in [
        ("eng", "English", 997), ("deu", "German", 997), ("swh", "Swahili", 997),
        ("fra", "French", 997), ("wol", "Wolof", 997), ("jpn", "Japanese", 1997),
        ("cmn", "Chinese", 1997), ("tha", "Thai", 1000),
    ]]  # fmt: skip
    table = "\n".join(rows)
    doc = parsed([(table, ("Data",), None, "table")])
    chunks = Chunker(e5, chunk_tokens=48, overlap=0).chunk(doc)
    check_chunks(chunks, doc, 48, e5)
    assert len(chunks) >= 2
    assert [row for c in chunks for row in c.text.split("\n")] == rows


def test_default_budget_is_a_little_under_the_window(e5: Embedder) -> None:
    assert model_window(e5) == 512
    assert Chunker(e5).chunk_tokens == 480
    assert Chunker(e5).overlap == 32
    short = get_embedder("e5-small-q4", cache=False, max_tokens=300)
    assert model_window(short) == 300
    assert Chunker(short).chunk_tokens == 268
    assert Chunker(e5).heading_prefix is True


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"chunk_tokens": 0},
            "chunk_tokens=0 is not allowed; use an integer between 16 and the embedder's "
            "window (512)",
        ),
        (
            {"chunk_tokens": 513},
            "chunk_tokens=513 is not allowed; use an integer between 16 and the embedder's "
            "window (512)",
        ),
        (
            {"chunk_tokens": "256"},
            "chunk_tokens='256' is not allowed; use an integer between 16 and the embedder's "
            "window (512)",
        ),
        (
            {"chunk_tokens": 128, "overlap": 128},
            "overlap=128 is not allowed; use an integer from 0 to 127 (below chunk_tokens=128)",
        ),
        (
            {"overlap": -1},
            "overlap=-1 is not allowed; use an integer from 0 to 479 (below chunk_tokens=480)",
        ),
        ({"heading_prefix": "yes"}, "heading_prefix='yes' is not allowed; use True or False"),
    ],
)
def test_bad_options_get_one_clear_line(
    e5: Embedder, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError) as error:
        Chunker(e5, **options)  # type: ignore[arg-type]
    assert str(error.value) == message


def test_bad_inputs_to_chunk(e5: Embedder) -> None:
    chunker = Chunker(e5)
    with pytest.raises(InvalidInputError, match="use a ParsedDocument"):
        chunker.chunk("plain text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="lang='klingon' is not allowed"):
        chunker.chunk(parsed([("Hello there.", (), None, "text")]), lang="klingon")
    with pytest.raises(InvalidInputError, match="use an xling Embedder"):
        Chunker("e5-small-q4")  # type: ignore[arg-type]
