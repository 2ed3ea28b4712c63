"""``xling serve --reranker NAME=SPEC``: rerank models the operator configures by spec.

Clients name models; a spec in a request is refused, so no client can make the server load a
path or call a URL. A real uvicorn service over the shared vLLM server (one small request).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import refused_port
from xling.cli.app import main
from xling.core.errors import InvalidInputError, NotFoundError
from xling.server.access import ANONYMOUS
from xling.server.chat import chat_target
from xling.server.config import ServiceConfig
from xling.server.served_rerankers import parse_reranker_options
from xling.server.service import Service

SPEC = "cascade:pointwise→listwise"


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
        raise SystemExit(0)
    return int(exit_info.value.code or 0)


@pytest.mark.vllm
def test_a_configured_cascade_answers_by_its_name_only(
    make_service: Callable[..., Any], llm_target: tuple[str, str]
) -> None:
    # The dead replica goes first: the cascade built for it fails and the request moves on.
    dead = f"http://127.0.0.1:{refused_port()}/v1"
    with make_service(llm_urls=[dead, llm_target[0]], rerankers={"fast": SPEC}) as url:
        models = httpx.get(f"{url}/v1/models").json()["data"]
        assert {"id": "fast", "object": "model", "type": "rerank"} in models
        documents = ["The Gripen crashed onto a runway.", "Guinness signed a lease.",
                     "Apple unveiled the iPhone."]  # fmt: skip
        body = {"model": "fast", "query": "Which plane crashed?", "documents": documents}
        reply = httpx.post(f"{url}/v2/rerank", json=body, timeout=300)
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert data["model"] == "fast"
        assert sorted(r["index"] for r in data["results"]) == [0, 1, 2]
        # All three reach the second stage (depth 20), so each relevance is listwise's
        # rank-only form over 3 bare documents: sigmoid(3.3702 - 19.9418·r/3), r = 0, 1, 2.
        scores = [r["relevance_score"] for r in data["results"]]
        assert scores == pytest.approx([0.96676012, 0.03636637, 4.896610e-05], rel=1e-5)
        # Three yes/no prompts and one listwise window, each a generation call with tokens.
        assert data["usage"]["prompt_tokens"] > 0 and data["usage"]["completion_tokens"] >= 4

        # A spec is not a model: 400, naming what may be asked for.
        spec = httpx.post(f"{url}/v2/rerank", json={**body, "model": SPEC})
        assert spec.status_code == 400
        detail = spec.json()["detail"]
        assert detail.startswith(f"unknown model '{SPEC}'; use one of: ")
        assert detail.endswith("xling-tdpart, fast") and "\n" not in detail
        path = httpx.post(f"{url}/v1/rerank", json={**body, "model": "ce:/etc/passwd"})
        assert path.status_code == 400 and "fast" in path.json()["detail"]


def test_chat_models_may_name_a_configured_reranker(served_db: Path) -> None:
    config = ServiceConfig(
        pools=["sample"],
        chroma_path=str(served_db),
        llm_urls=["http://127.0.0.1:9/v1"],
        rerankers={"fast": SPEC},
    )
    service = Service(config)  # built, not called: nothing listens at port 9
    assert chat_target("xling:sample:fast", service, ANONYMOUS) == ("sample", "fast")
    assert chat_target("xling:sample:listwise", service, ANONYMOUS) == ("sample", "listwise")
    with pytest.raises(NotFoundError, match=r"one of first, listwise, .*tdpart, fast\)"):
        chat_target(f"xling:sample:{SPEC}", service, ANONYMOUS)
    # One cascade per LLM replica, built at start and reused.
    client = service.llm.clients[0]
    assert service.rerankers.on("fast", client) is service.rerankers.on("fast", client)
    assert service.rerankers.on("fast", client).name == SPEC


@pytest.mark.parametrize(
    ("rerankers", "llm", "message"),
    [
        ({"fast": "cascade:nope→listwise"}, True,
         "--reranker fast=cascade:nope→listwise: the first stage of 'cascade:nope→listwise': "
         "unknown reranker 'nope'"),
        ({"fast": "bogus"}, True, "--reranker fast=bogus: unknown reranker 'bogus'"),
        ({"fast": SPEC}, False, "prompts an LLM; give it a client, LLMClient(url) (this service "
         "has no LLM: start it with --llm-url)"),
        ({"listwise": SPEC}, True, "reranker name 'listwise' is a built-in reranker's"),
        ({"xling-first": SPEC}, True, "reranker name 'xling-first' is a built-in reranker's"),
        ({"a:b": SPEC}, True, "reranker name 'a:b' is not allowed; use letters, digits"),
    ],
)  # fmt: skip
def test_a_bad_configured_spec_stops_the_start(
    served_db: Path, rerankers: dict[str, str], llm: bool, message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Service(ServiceConfig(pools=["sample"], chroma_path=str(served_db),
                              llm_urls=["http://127.0.0.1:9/v1"] if llm else [],
                              rerankers=rerankers))  # fmt: skip
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_reranker_flags_are_name_equals_spec(
    served_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_reranker_options(["fast=cascade:ce:/m#x→listwise", "b = first"]) == {
        "fast": "cascade:ce:/m#x→listwise",
        "b": "first",
    }
    with pytest.raises(InvalidInputError, match=r"--reranker 'fast' is not allowed; use NAME=SPEC"):
        parse_reranker_options(["fast"])
    with pytest.raises(InvalidInputError, match="--reranker 'a' is given twice"):
        parse_reranker_options(["a=first", "a=listwise"])
    # The command stops at start, exit 2 and one line, before it listens.
    db = str(served_db)
    assert _run(["serve", "--pool", "sample", "--chroma-path", db, "--reranker", "fast"]) == 2
    argv = ["serve", "--pool", "sample", "--chroma-path", db, "--llm-url", "http://127.0.0.1:9/v1",
            "--reranker", "fast=cascade:pointwise→nope"]  # fmt: skip
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert "--reranker fast=cascade:pointwise→nope: the second stage" in err
