"""The cascade against the scripted stand-in model: orders, counts and relevance worked out by hand.

Candidates ``c0..c4`` arrive in that first-stage order (each with cosine 0.95). The stand-in
:class:`~tests.rerankers.test_scripted_orders.Judge` answers listwise prompts from the true
order ``c3 > c0 > c4 > c2 > c1`` and pointwise prompts with the ``P(yes)`` of :data:`YES`, so
the pointwise first stage gets the order wrong and the listwise second stage mends its top.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.llm.standin import CHAT, Reply, StandIn
from tests.rerankers.test_scripted_orders import TEXTS, TRUTH, Judge, judged
from xling.cli.app import main
from xling.core.errors import InvalidInputError, ServiceUnavailableError, UnknownSpecError
from xling.core.records import Hit, Question
from xling.data import sample_path
from xling.embedders import Embedder
from xling.llm import LLMClient
from xling.rag.pipeline import AnswerConfig, build_answer_pipeline
from xling.rerankers import (
    RERANKER_FAMILIES,
    CascadeReranker,
    Reranker,
    RerankerFamily,
    RerankOrder,
    RerankRequest,
    check_reranker_spec,
    get_reranker,
    reranker_forms,
)
from xling.rerankers.base import Ledger
from xling.rerankers.cascade import split_cascade
from xling.store import Pool, load_lines

# Pointwise P(yes): c2 0.9 > c1 0.7 > c3 0.6 > c0 0.2 > c4 0.1 (the first stage's order).
YES = {"c0": 0.2, "c1": 0.7, "c2": 0.9, "c3": 0.6, "c4": 0.1}
QUERY = "How do otters keep from drifting while sleeping?"


def request() -> RerankRequest:
    return RerankRequest.from_texts(
        QUERY, list(TEXTS.values()), ids=list(TEXTS), scores=[0.95] * len(TEXTS)
    )


def cascade(client: LLMClient, spec: str = "cascade:pointwise→listwise", **options: Any) -> Any:
    return get_reranker(spec, client, **{"depth": 3, **options})


async def test_the_second_stage_reorders_the_first_stages_top(
    stand_in: StandIn, client: LLMClient
) -> None:
    judge = judged(stand_in, yes_no=YES)
    result = await cascade(client).arerank(request())
    # Pointwise: c2 c1 c3 c0 c4. Its top 3 [c2 c1 c3] go to listwise in that order; the truth
    # among them is c3 > c2 > c1, so the answer is [3] > [1] > [2]. Then pointwise's rest.
    assert result.ids == ["c3", "c2", "c1", "c0", "c4"]
    assert [c.first_stage_rank for c in result.candidates] == [3, 2, 1, 0, 4]
    # Five one-passage prompts, then one listwise window of the three.
    # (The five pointwise prompts are in flight together: they arrive in any order.)
    assert sorted(judge.shown[:5]) == [["c0"], ["c1"], ["c2"], ["c3"], ["c4"]]
    assert judge.shown[5:] == [["c2", "c1", "c3"]]
    assert stand_in.seen[CHAT] == 6
    # Usage merged: 5 logprob answers (10 prompt + 1 completion tokens each) + 1 written
    # answer (10 + 3).
    assert result.usage.llm_calls == 6
    assert result.usage.prompt_tokens == 60 and result.usage.completion_tokens == 8
    assert result.windows == 1 and result.rounds == 1 + 1
    assert result.reranker == "cascade:pointwise→listwise"
    assert not result.fallbacks and not result.repairs and result.guard is None
    # Scores are rank-derived (5 - place); relevance: the listwise calibration with cosine 0.95
    # for the top 3 (sigmoid(-115.2347 + 137.585·0.95 - 18.483·r/3)), then pointwise's Platt
    # sigmoid(1.1439 + 1.2·logit(P(yes))) of c0 (0.2) and c4 (0.1).
    assert [c.score for c in result.candidates] == [5.0, 4.0, 3.0, 2.0, 1.0]
    assert [c.relevance for c in result.candidates] == pytest.approx(
        [0.9999998, 0.9999095, 0.9588713, 0.3729333, 0.1835064], abs=1e-6
    )


async def test_depth_past_the_list_and_rank_end(stand_in: StandIn, client: LLMClient) -> None:
    judge = judged(stand_in, yes_no=YES)
    # rank_end 4: pointwise ranks c0..c3 -> c2 c1 c3 c0 and c4 stays last; depth 3 as above.
    result = await cascade(client, rank_end=4).arerank(request())
    assert result.ids == ["c3", "c2", "c1", "c0", "c4"]
    assert sorted(judge.shown[:4]) == [["c0"], ["c1"], ["c2"], ["c3"]] and len(judge.shown) == 5
    # c4 was not reranked: its relevance sits at the lowest reranked one's (c0's 0.373).
    assert result.candidates[-1].relevance == pytest.approx(0.3729333, abs=1e-6)

    judge = judged(stand_in, yes_no=YES)
    result = await cascade(client, depth=50).arerank(request())
    # Depth past the list: listwise sees all five in pointwise's order c2 c1 c3 c0 c4.
    assert judge.shown[-1] == ["c2", "c1", "c3", "c0", "c4"]
    assert result.ids == TRUTH


async def test_the_guard_fuses_the_cascades_final_order(
    stand_in: StandIn, client: LLMClient
) -> None:
    judged(stand_in, yes_no=YES)
    result = await cascade(client, guard=0.5).arerank(request())
    # Cascade order c3 c2 c1 c0 c4 (first-stage places 3 2 1 0 4). Fused, ×2:
    # c3 1/61+1/64 = c0 1/64+1/61 = 0.032018 (tie: the cascade's order, c3 first);
    # c2 1/62+1/63 = c1 1/63+1/62 = 0.032002; c4 2/65 = 0.030769.
    assert result.ids == ["c3", "c0", "c2", "c1", "c4"]
    assert result.guard == 0.5
    # Relevance follows each candidate and never rises down the list: c0's 0.373 caps c2, c1.
    assert [c.relevance for c in result.candidates] == pytest.approx(
        [0.9999998, 0.3729333, 0.3729333, 0.3729333, 0.1835064], abs=1e-6
    )


async def test_trace_names_each_calls_stage(stand_in: StandIn, client: LLMClient) -> None:
    judged(stand_in, yes_no=YES)
    result = await cascade(client, trace=True).arerank(request())
    assert result.trace is not None and len(result.trace) == 6
    wheres = [call.where for call in result.trace]
    assert all(w.startswith("first stage pointwise: ") for w in wheres[:5])
    assert wheres[5].startswith("second stage listwise: ")
    assert result.trace[5].answer == "[3] > [1] > [2]"
    assert result.to_dict()["trace"][0]["where"] == wheres[0]


async def test_a_failing_second_stage_keeps_the_first_stages_order(
    stand_in: StandIn, client: LLMClient
) -> None:
    judge = Judge(TRUTH, yes_no=YES)

    def listwise_down(body: dict[str, Any]) -> Reply:
        if body.get("logprobs"):  # pointwise's yes/no; listwise writes its answer
            return judge(body)
        return Reply.json({"error": "overloaded"}, status=503)

    stand_in.answer(CHAT, listwise_down)
    result = await cascade(client).arerank(request())
    assert result.ids == ["c2", "c1", "c3", "c0", "c4"]  # pointwise's order, unchanged
    assert [f.kind for f in result.fallbacks] == ["first_stage_order"]
    assert result.fallbacks[0].reason.startswith("second stage listwise: ")
    assert result.usage.llm_calls == 5  # the failed call completed nothing
    # The second stage's fallback is its input order, mapped by the listwise calibration.
    assert result.candidates[0].relevance == pytest.approx(0.9999998, abs=1e-6)

    with pytest.raises(ServiceUnavailableError):
        await cascade(client, on_failure="raise").arerank(request())


async def test_a_server_down_for_both_stages_keeps_the_retrieval_order(
    stand_in: StandIn, client: LLMClient
) -> None:
    stand_in.always(CHAT, Reply.json({"error": "down"}, status=503))
    result = await cascade(client).arerank(request())
    assert result.ids == ["c0", "c1", "c2", "c3", "c4"] and result.fallback
    reasons = [f.reason for f in result.fallbacks]
    assert [r.split(":")[0] for r in reasons] == [
        "first stage pointwise",
        "second stage listwise",
    ]
    assert result.usage.llm_calls == 0


async def test_on_failure_and_stage_options_reach_the_stages(client: LLMClient) -> None:
    reranker = cascade(
        client, on_failure="raise", trace=True, rank_end=30, second={"window": 7, "stride": 3}
    )
    assert isinstance(reranker, CascadeReranker)
    first, second = reranker.first, reranker.second
    assert first.config.on_failure == second.config.on_failure == "raise"
    assert first.config.trace and second.config.trace
    assert first.config.rank_end is None and second.config.rank_end is None
    assert reranker.config.rank_end == 30 and reranker.config.depth == 3
    assert second.config.window == 7 and second.config.stride == 3  # type: ignore[attr-defined]
    assert first.name == "pointwise" and second.name == "listwise"


# -- specs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("pointwise→listwise", ("pointwise", "listwise")),
        ("pointwise -> listwise", ("pointwise", "listwise")),
        ("ce:/models/bge→listwise", ("ce:/models/bge", "listwise")),
        ("vllm-score:http://h:8000#bge->first", ("vllm-score:http://h:8000#bge", "first")),
        (
            "tei:http://h:8080→cohere:http://x:9/v2#m",
            ("tei:http://h:8080", "cohere:http://x:9/v2#m"),
        ),
        # A second arrow makes the second stage a cascade: a→(b→c).
        ("ce:m→listwise->first", ("ce:m", "cascade:listwise->first")),
        ("a→cascade:b→c", ("a", "cascade:b→c")),
    ],
)
def test_the_spec_is_cut_at_its_first_arrow(argument: str, expected: tuple[str, str]) -> None:
    assert split_cascade(argument, f"cascade:{argument}") == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cascade:pointwise", "reranker 'cascade:pointwise' has no arrow between its stages"),
        ("cascade:→listwise", "needs two stages, a spec on each side of the arrow"),
        ("cascade:pointwise-> ", "needs two stages"),
        ("cascade:", "reranker 'cascade:' has no argument; use cascade:<first>→<second>"),
    ],
)
def test_bad_specs_are_one_line_errors(client: LLMClient, spec: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        get_reranker(spec, client)
    assert "\n" not in str(caught.value)


def test_an_unknown_stage_lists_the_forms(client: LLMClient) -> None:
    with pytest.raises(UnknownSpecError) as caught:
        get_reranker("cascade:pointwise→bogus", client)
    message = str(caught.value)
    assert message.startswith("the second stage of 'cascade:pointwise→bogus': unknown reranker")
    assert "listwise" in message and "cascade:<first>→<second>" in message
    assert "cascade:<first>→<second>" in reranker_forms()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": 5}, r"option window=5 is not a cascade option; give a stage's own options"),
        ({"first": {"guard": 0.5}}, r"first=\{'guard': ...\} is not allowed: guard, guard_k"),
        ({"second": {"rank_end": 5}}, r"second=\{'rank_end': ...\} is not allowed"),
        ({"second": [1]}, r"second=\[1\] is not allowed; give the second stage's options"),
        ({"depth": 0}, r"depth"),
        ({"second": {"window": 0}}, r"the second stage of 'cascade:pointwise→listwise': .*window"),
    ],
)
def test_bad_options_are_one_line_errors(
    client: LLMClient, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        get_reranker("cascade:pointwise→listwise", client, **options)


def test_an_llm_stage_needs_a_client() -> None:
    with pytest.raises(InvalidInputError, match="first stage of .*'pointwise' prompts an LLM"):
        get_reranker("cascade:pointwise→listwise")


def test_a_guarded_stage_is_refused(client: LLMClient) -> None:
    guarded = get_reranker("listwise", client, guard=0.5)
    with pytest.raises(InvalidInputError, match="second stage 'listwise' runs with guard=0.5"):
        CascadeReranker(get_reranker("pointwise", client), guarded)


# -- any registered family is a stage ------------------------------------------------------------
class Reverse(Reranker):
    """A model-free reranker of the tests: reverses the order; remembers its spec argument."""

    def __init__(self, argument: str, **options: Any) -> None:
        self.argument = argument
        super().__init__(name=f"reverse:{argument}", **options)

    async def _rank(self, request: RerankRequest, ledger: Ledger) -> RerankOrder:
        return RerankOrder(order=list(range(self.span(request)))[::-1])


@pytest.fixture
def reverse_family(monkeypatch: pytest.MonkeyPatch) -> None:
    family = RerankerFamily(
        lambda spec, argument, client, options: Reverse(argument, **options),
        "reverse:<anything>",
        "reverses the order (tests)",
    )
    monkeypatch.setitem(RERANKER_FAMILIES._entries, "reverse", family)


@pytest.mark.usefixtures("reverse_family")
async def test_family_stages_get_their_whole_argument() -> None:
    spec = "cascade:reverse:http://h:8000#bge→reverse:/models/x:y"
    reranker = get_reranker(spec, depth=2)  # no client: neither stage prompts an LLM
    assert isinstance(reranker, CascadeReranker)
    assert reranker.first.argument == "http://h:8000#bge"  # type: ignore[attr-defined]
    assert reranker.second.argument == "/models/x:y"  # type: ignore[attr-defined]
    hits = tuple(Hit(f"d{i}", f"text {i}") for i in range(4))
    result = await reranker.arerank(RerankRequest("q", hits))
    # First: d3 d2 d1 d0; its top 2 reversed: d2 d3; then d1 d0.
    assert result.ids == ["d2", "d3", "d1", "d0"]
    assert result.usage.llm_calls == 0 and result.reranker == spec

    # Three stages: reverse → (reverse → reverse), inner depth 1 from second={...}.
    nested = get_reranker("cascade:reverse:a→reverse:b→reverse:c", depth=3, second={"depth": 1})
    # First: d3 d2 d1 d0; inner on [d3 d2 d1]: reversed d1 d2 d3, its top 1 [d1] reversed: d1.
    assert (await nested.arerank(RerankRequest("q", hits))).ids == ["d1", "d2", "d3", "d0"]


# -- every entry point, over the shared vLLM server ----------------------------------------------
SPEC = "cascade:pointwise→listwise"


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
        raise SystemExit(0)
    return int(exit_info.value.code or 0)


@pytest.mark.vllm
def test_xling_rerank_takes_a_cascade_spec(
    tmp_path: Path, llm_target: tuple[str, str], short_request: RerankRequest
) -> None:
    candidates = [{"id": c.id, "text": c.text} for c in short_request.candidates[:4]]
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"query": short_request.query, "candidates": candidates}) + "\n")
    out = tmp_path / "out.jsonl"
    # A long timeout: the shared server may be busy.
    argv = ["rerank", str(source), "-o", str(out), "--url", llm_target[0], "--method", SPEC,
            "--set", "depth=2", "--set", 'second={"window": 2}', "--timeout", "120"]  # fmt: skip
    assert _run(argv) == 0
    (line,) = [json.loads(text) for text in out.read_text().splitlines()]
    assert line["reranker"] == SPEC and line["fallback"] is False
    # Four yes/no prompts, then one listwise window of the two pointwise put first.
    assert line["llm_calls"] == 4 + 1 and line["windows"] == 1
    assert sorted(c["id"] for c in line["candidates"]) == sorted(c["id"] for c in candidates)
    relevance = [c["relevance"] for c in line["candidates"]]
    assert relevance == sorted(relevance, reverse=True)
    # A stage's option given to the cascade is a one-line error naming where it belongs.
    assert _run(["rerank", str(source), "--url", llm_target[0], "--method", SPEC,
                 "--window", "2"]) == 2  # fmt: skip


def test_xling_rerank_help_lists_the_cascade() -> None:
    assert "cascade:<first>→<second>" in " ".join(reranker_forms())
    assert _run(["rerank", "-", "--method", "cascade:nothing→listwise"]) == 2


@pytest.mark.vllm
def test_the_answer_pipeline_reranks_with_a_cascade(
    tmp_path: Path, e5: Embedder, llm: LLMClient
) -> None:
    pool = Pool.open("cascade", e5, path=tmp_path / "db")
    pool.index(load_lines(sample_path("eng"), "eng")[:40])
    config = AnswerConfig(k=2, retrieve_k=4, max_tokens=24, reask=False)
    pipeline = build_answer_pipeline(
        pool, llm, rerank=SPEC, rerank_options={"depth": 2}, config=config
    )
    reranker = pipeline.reranker
    assert isinstance(reranker, CascadeReranker) and reranker.name == SPEC
    # Plain dense retrieval: its cosines feed the relevance mapping, in both stages.
    assert reranker.first.config.first_stage == reranker.second.config.first_stage == "cosine"
    (answer,) = pipeline.answer_many([Question("What did Arthur Guinness sign in 1759?", "q")])
    assert answer.reranked is not None and sorted(answer.reranked) == sorted(answer.retrieved)
    assert [h.id for h in answer.passages] == answer.reranked[:2]
    assert answer.reranker_fallback is False

    built = build_answer_pipeline(pool, llm, rerank=reranker, config=config)
    assert built.reranker is reranker  # a built reranker is used as it is
    with pytest.raises(InvalidInputError, match="rerank_options are for a reranker spec"):
        build_answer_pipeline(pool, llm, rerank=reranker, rerank_options={"depth": 2})
    with pytest.raises(UnknownSpecError, match="the second stage of 'cascade:pointwise→nope'"):
        build_answer_pipeline(pool, llm, rerank="cascade:pointwise→nope")


def test_xling_ask_checks_a_spec_before_opening_the_pool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_reranker_spec(SPEC, "--rerank") == SPEC
    with pytest.raises(UnknownSpecError, match=r"--rerank='magic' is not allowed; use one of: f"):
        check_reranker_spec("magic", "--rerank")
    argv = ["ask", "Who?", "--pool", "none-such", "--chroma-path", str(tmp_path / "db"),
            "--rerank", "magic"]  # fmt: skip
    assert _run(argv) == 2
    assert "--rerank='magic' is not allowed" in capsys.readouterr().err


@pytest.mark.vllm
def test_llamaindex_reranks_nodes_with_a_cascade(llm_target: tuple[str, str]) -> None:
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    from xling.integrations.llamaindex import XlingRerank

    texts = list(TEXTS.values())[:4]
    nodes = [
        NodeWithScore(node=TextNode(id_=f"n{i}", text=text), score=0.9 - i / 100)
        for i, text in enumerate(texts)
    ]
    rerank = XlingRerank(method=SPEC, url=llm_target[0], top_n=3, options={"depth": 2})
    out = rerank.postprocess_nodes(nodes, QueryBundle(QUERY))
    assert len(out) == 3 and {n.node.node_id for n in out} <= {f"n{i}" for i in range(4)}
    scores = [n.score for n in out]
    assert all(s is not None and 0 < s < 1 for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    with pytest.raises(UnknownSpecError, match="method='cascad:x→y' is not allowed; use one of"):
        XlingRerank(method="cascad:x→y")


async def test_a_cross_encoder_cuts_the_list_for_the_llm(
    stand_in: StandIn, client: LLMClient, tiny_ce_dir: Path
) -> None:
    from tests.rerankers.test_cross_encoder import Reference

    judge = judged(stand_in)
    # The first stage is the tiny cross-encoder (its order computed here with transformers
    # directly); the listwise judge then puts its top 3 in the true order c3 > c0 > c4 > c2 > c1.
    reference = Reference(tiny_ce_dir)
    p = {cid: reference.probability(QUERY, text) for cid, text in TEXTS.items()}
    by_ce = sorted(TEXTS, key=lambda cid: -p[cid])
    top = sorted(by_ce[:3], key=TRUTH.index)
    result = await cascade(client, f"cascade:ce:{tiny_ce_dir}→listwise").arerank(request())
    assert result.ids == top + by_ce[3:]
    assert judge.shown == [by_ce[:3]]  # one window, in the cross-encoder's order
    assert result.usage.llm_calls == 2  # one scoring batch of 5 pairs, one listwise window
    # Below the LLM's top 3, relevance is the cross-encoder's probability itself (capped so it
    # never rises down the list).
    # (Within 1e-5: a batch of five and the reference's one pair at a time round differently.)
    tail = [c.relevance for c in result.candidates[3:]]
    expected = [min(p[cid], result.candidates[2].relevance) for cid in by_ce[3:]]
    assert tail == pytest.approx(expected, abs=1e-5)
