"""The document routes: upload, list and delete a pool's documents, and poll ingestion jobs.

- ``POST /v1/pools/{pool}/documents``: a multipart ``file`` (with optional ``doc_id``,
  ``title``, ``lang``, ``metadata`` (a JSON object) and ``embedder`` fields) or a JSON
  :class:`~xling.server.schemas.DocumentBody`. Uploads up to ``sync_upload_bytes`` are ingested
  before the answer (201 with the report); larger ones are parsed (a file the parser refuses
  is a 422 at once), then embedded and written in the background (202 with
  ``{job_id, status_url}``). The same file again changes nothing; a changed one replaces its
  chunks. A pool is created by its first upload.
- ``GET /v1/pools/{pool}/documents``: ``{data: [{doc_id, title, source, chunks, langs, hash,
  complete}]}``.
- ``DELETE /v1/pools/{pool}/documents/{doc_id}``: ``{deleted: true, doc_id, chunks}``; 404 for
  an unknown document.
- ``GET /v1/jobs/{id}``: a job of a pool the caller may read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from xling.core.errors import InvalidInputError, NotFoundError
from xling.server.config import ServiceConfig
from xling.server.jobs import JobRunner
from xling.server.middleware import HTTPError
from xling.server.names import check_doc_id, check_pool_name
from xling.server.routes import Authorized
from xling.server.schemas import DocumentBody
from xling.server.service import Service
from xling.server.uploads import (
    TooLargeError,
    Upload,
    file_document,
    text_document,
    writable_pool,
)

__all__ = ["UPLOAD_PATH", "add_document_routes", "upload_allowance"]

UPLOAD_PATH = r"/v1/pools/[^/]+/documents"
"""The path (pattern) whose body may be as large as an upload."""
_FORM_FRAMING = 64 * 1024  # multipart boundaries, part headers and the small fields
_FORM_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "PDF, DOCX, HTML, Markdown "
                 "or text; the format by extension, else first bytes, else content type."},
        "doc_id": {"type": "string", "description": "Default: the file name."},
        "title": {"type": "string", "description": "Default: the one the parser finds."},
        "lang": {"type": "string", "description": "Default: detected per chunk."},
        "metadata": {"type": "string", "description": "A JSON object of names to scalars."},
        "embedder": {"type": "string", "description": "For a new pool: a served embedder."},
    },
}  # fmt: skip
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": _FORM_SCHEMA},
    "application/json": {"schema": DocumentBody.model_json_schema()},
}}}  # fmt: skip


def upload_allowance(config: ServiceConfig) -> tuple[str, int]:
    """The upload route's body limit for :class:`~xling.server.middleware.BodyLimit`."""
    return UPLOAD_PATH, config.max_upload_bytes + _FORM_FRAMING


async def _read_upload(request: Request, config: ServiceConfig) -> tuple[Upload, str | None]:
    """The uploaded document (multipart or JSON) and the embedder the upload names."""
    cap = config.max_upload_bytes
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body = DocumentBody.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        upload = text_document(body.doc_id, body.text, cap=cap, title=body.title,
                               lang=body.lang, metadata=body.metadata)  # fmt: skip
        return upload, body.embedder
    if kind != "multipart/form-data":
        raise InvalidInputError(
            f"content type {kind or 'none'!r} is not accepted; send multipart/form-data with a "
            "'file' part, or application/json {doc_id, text, ...}"
        )
    form = await request.form(max_files=1, max_fields=16)
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise InvalidInputError("the form has no 'file' part; send the document as 'file'")
    fields: dict[str, str | None] = {}
    for key in ("doc_id", "title", "lang", "metadata", "embedder"):
        value = form.get(key)
        fields[key] = value if isinstance(value, str) else None
    upload = await asyncio.to_thread(
        file_document, file.file, file.filename, file.content_type, cap=cap,
        doc_id=fields["doc_id"], title=fields["title"], lang=fields["lang"],
        metadata=fields["metadata"],
    )  # fmt: skip
    return upload, fields["embedder"]


def add_document_routes(
    app: FastAPI, config: ServiceConfig, svc: Callable[[], Service], runner: JobRunner
) -> None:
    """Adds the document and job routes to ``app`` (each needs the API key)."""

    @app.post("/v1/pools/{pool}/documents", openapi_extra=_UPLOAD_BODY)
    async def upload(pool: str, request: Request, caller: Authorized) -> JSONResponse:
        service = svc()
        check_pool_name(pool)
        caller.check_write(pool)  # before reading the upload
        try:
            document, embedder = await _read_upload(request, config)
        except TooLargeError as exc:
            raise HTTPError(413, str(exc)) from None
        background = document.size > config.sync_upload_bytes
        try:
            if background:  # refuse a bad file now rather than in a job
                await asyncio.to_thread(document.check)
            target = await asyncio.to_thread(writable_pool, service, pool, caller, embedder)
        except BaseException:
            document.discard()
            raise

        def ended(succeeded: bool) -> None:
            document.discard()
            if succeeded:
                service.pools.setdefault(target.name, target)  # served from now on

        try:
            job = runner.submit(target, document.document, document.size, ended)
        except BaseException:
            document.discard()
            raise
        if background:
            return JSONResponse(
                {"job_id": job.id, "status": job.status, "status_url": f"/v1/jobs/{job.id}"},
                202,
            )
        await job.ended.wait()
        if job.exception is not None:
            raise job.exception
        return JSONResponse({**job.to_dict(), "job_id": job.id}, 201)

    @app.get("/v1/pools/{pool}/documents")
    async def list_documents(pool: str, caller: Authorized) -> dict[str, Any]:
        target = svc().pool(pool, caller)
        infos = await asyncio.to_thread(target.documents)
        return {"pool": target.name, "data": [
            {"doc_id": d.doc_id, "title": d.title, "source": d.source, "chunks": d.chunks,
             "langs": list(d.langs), "hash": d.doc_hash, "complete": d.complete}
            for d in infos
        ]}  # fmt: skip

    @app.delete("/v1/pools/{pool}/documents/{doc_id:path}")
    async def delete_document(pool: str, doc_id: str, caller: Authorized) -> dict[str, Any]:
        target = svc().pool(pool, caller)
        caller.check_write(target.name)
        check_doc_id(doc_id)
        async with runner.lock(target.name):
            report = await asyncio.to_thread(target.delete, [doc_id])
        if not report.chunks:
            raise NotFoundError(f"unknown doc_id {doc_id!r} in pool {target.name!r}")
        return {"deleted": True, "doc_id": doc_id, "chunks": report.chunks}

    @app.get("/v1/jobs/{job_id}")
    async def job(job_id: str, caller: Authorized) -> dict[str, Any]:
        return runner.get(job_id, caller).to_dict()
