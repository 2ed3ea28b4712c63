"""Dify's External Knowledge API: ``POST /retrieval``.

In Dify, add an External Knowledge API whose endpoint is this server's base URL
(``http://host:8080``; Dify appends ``/retrieval``) and whose API key is an xling key; the
External Knowledge ID of a knowledge base is a pool name. Dify sends ``{knowledge_id, query,
retrieval_setting: {top_k, score_threshold}, metadata_condition}`` with ``Authorization:
Bearer KEY`` and reads ``{"records": [{content, score, title, metadata}]}``.

Records come from the dense retriever, best first: ``score`` is the cosine similarity of the
query and the chunk (negative ones reported as 0), and ``score_threshold`` drops records
scored below it (Dify sends 0.0 when its threshold is off). ``title`` is the document's title,
else its source, else its id; ``metadata`` is an object, never null: the chunk's ``doc_id``,
``section``, ``chunk``, ``lang``, the user's own fields, and ``id`` (the chunk's pool id).

Errors are Dify's ``{"error_code", "error_msg"}``:

====  =====  ===========================================================================
code  HTTP   when
====  =====  ===========================================================================
1001  403    no ``Authorization: Bearer KEY`` header (or another scheme), keys being set
1002  403    a key the service does not know
1003  429    the key's rate limit (``Retry-After``)
2001  404    ``knowledge_id`` names no pool this key may read (or is not a pool name)
3001  422    a bad body: a missing field, a wrong type, ``top_k`` over the server's cap
3002  422    a metadata condition xling cannot run (the operator is named, with the
             supported ones: is, is not, in, not in, =, ≠, >, <, ≥, ≤, before, after)
5001  503    Chroma does not answer (``Retry-After``)
5000  500    an internal error (logged on the server)
====  =====  ===========================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from xling.core.errors import (
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
    UnknownSpecError,
)
from xling.core.records import Hit
from xling.retrieval.merging import merge_hits
from xling.retrieval.metadata_filters import dify_where
from xling.server.access import Caller
from xling.server.admission import Admission
from xling.server.config import ServiceConfig
from xling.server.middleware import Authorizer, HTTPError, Unauthenticated
from xling.server.names import check_pool_name
from xling.server.schemas import DifyRetrievalBody
from xling.server.service import Service

__all__ = ["DIFY_DEFAULT_TOP_K", "DifyError", "add_dify_routes", "dify_record"]

DIFY_DEFAULT_TOP_K = 5
"""Records returned when Dify sends no ``top_k``."""


class DifyError(Exception):
    """An error answered in Dify's shape."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers

    def response(self) -> JSONResponse:
        """``{"error_code", "error_msg"}`` with its status."""
        body = {"error_code": self.code, "error_msg": self.message}
        return JSONResponse(body, self.status, self.headers)


def dify_record(hit: Hit) -> dict[str, Any]:
    """A hit as a Dify record: ``content``, ``score`` in [0, 1], ``title`` and ``metadata``
    (an object, never null)."""
    meta = dict(hit.metadata)
    title = meta.get("title") or meta.get("source") or meta.get("doc_id") or ""
    if hit.lang:
        meta["lang"] = hit.lang
    meta["id"] = hit.id
    score = min(1.0, max(0.0, hit.score)) if hit.score is not None else 0.0
    return {"content": hit.text, "score": score, "title": str(title), "metadata": meta}


async def _caller(request: Request) -> Caller:
    authorizer: Authorizer = request.app.state.authorizer
    try:
        return await authorizer(request)
    except Unauthenticated as exc:
        if exc.malformed:
            raise DifyError(
                403,
                1001,
                "Invalid Authorization header format. Expected 'Bearer <api-key>' format.",
            ) from None
        raise DifyError(403, 1002, "Authorization failed: unknown API key.") from None
    except HTTPError as exc:
        raise DifyError(exc.status, 1003, exc.detail, exc.headers) from None


def _body(raw: bytes) -> DifyRetrievalBody:
    try:
        return DifyRetrievalBody.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "body"
        raise DifyError(422, 3001, f"{where}: {first.get('msg', 'invalid')}") from None


def add_dify_routes(
    app: FastAPI, config: ServiceConfig, svc: Callable[[], Service], admission: Admission
) -> None:
    """Adds ``POST /retrieval`` (Dify's External Knowledge API) to ``app``."""
    del admission  # retrieval takes no LLM slot

    async def records(request: Request) -> list[dict[str, Any]]:
        caller = await _caller(request)
        body = _body(await request.body())
        try:
            check_pool_name(body.knowledge_id)
        except InvalidInputError as exc:
            raise DifyError(404, 2001, f"The knowledge does not exist: {exc}") from None
        setting = body.retrieval_setting
        top_k = setting.top_k or DIFY_DEFAULT_TOP_K
        if top_k > config.max_k:
            raise DifyError(
                422, 3001, f"top_k is {top_k}, over this server's cap of {config.max_k}"
            )
        if len(body.query) > config.max_text_chars or not body.query.strip():
            raise DifyError(422, 3001, f"query must hold 1-{config.max_text_chars} characters")
        try:
            where = dify_where(body.metadata_condition)
        except InvalidInputError as exc:
            raise DifyError(422, 3002, str(exc)) from None
        try:
            _, found = await svc().aretrieve(
                body.knowledge_id, "dense", "asymmetric", [body.query], top_k, caller, where=where
            )
        except NotFoundError:
            raise DifyError(
                404, 2001, f"The knowledge does not exist: {body.knowledge_id!r}"
            ) from None
        hits = merge_hits(found, top_k, setting.score_threshold or None)
        return [dify_record(h) for h in hits]

    # The body is read in the handler, so that even its validation errors are Dify-shaped.
    @app.post("/retrieval", tags=["dify"])
    async def dify_retrieval(request: Request) -> JSONResponse:
        """Dify's External Knowledge API (errors in Dify's shape, see :mod:`xling.server.dify`)."""
        try:
            return JSONResponse({"records": await records(request)})
        except DifyError as exc:
            return exc.response()
        except (InvalidInputError, UnknownSpecError) as exc:
            return DifyError(422, 3001, str(exc)).response()
        except ServiceUnavailableError as exc:
            return DifyError(503, 5001, str(exc), {"Retry-After": "5"}).response()
        except Exception:
            logging.getLogger("xling.server").exception("internal error in /retrieval")
            return DifyError(500, 5000, "internal error (logged on the server)").response()
