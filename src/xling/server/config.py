"""The service's settings: what it serves and its limits (flags and TOML keys of the same names)."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from xling.core.errors import InvalidInputError
from xling.core.validation import check_fields, check_positive_int, preview
from xling.rerankers.guard import FITTED, GuardSetting, parse_guard_setting
from xling.server.access import ALL_POOLS, KeyGrant
from xling.server.names import check_pool_name
from xling.server.served_rerankers import check_reranker_names

__all__ = ["ApiKeys", "ServiceConfig", "parse_key_grants", "read_api_keys"]


@dataclass
class ServiceConfig:
    """What ``xling serve`` serves, and the limits it enforces.

    Attributes:
        pools: Pool names served (each opens with the embedder it records).
        chroma_path: Embedded Chroma folder (one machine).
        chroma_url: Chroma server or Cloud URL (for several service replicas).
        llm_urls: OpenAI-compatible LLM servers; none: the LLM routes answer 503.
        llm_model: The served model's name (default: the server's).
        embedders: Further embedder specs ``/v1/embeddings`` may use besides the pools' own.
        rerankers: Rerank models served besides the built-in LLM rerankers: name → reranker
            spec (``{"fast": "cascade:pointwise→listwise"}``), each built once at start; clients
            name them, never a spec.
        host: Address to listen on.
        port: Port to listen on.
        api_keys: Bearer keys that may read and write every pool; with ``api_grants`` empty
            too: no authentication.
        api_grants: Bearer keys with the pools each may read and write (a TOML key file).
        max_body_bytes: Largest request body (413 above).
        max_documents: Most documents of one rerank request.
        max_text_chars: Longest text (query, document, input) in characters.
        max_k: Largest ``k`` / ``top_n`` of retrieval.
        max_batch: Most queries or inputs in one request.
        max_llm_waiting: LLM-bound requests allowed to wait; beyond, 503 with ``Retry-After``.
        rate_limit: Requests per minute and key (0: no limit).
        cors_origins: Origins allowed by CORS (empty: CORS off).
        llm_concurrency: LLM requests in flight per server.
        drain_seconds: On SIGTERM, seconds requests in flight may take to finish before exit.
        max_messages: Most messages of one chat completion request (its oldest turns are
            dropped anyway to fit the LLM's context; this bounds the work of reading them).
        max_chat_chars: Most characters of all of one chat's messages together.
        read_timeout: Seconds a client may take to send a request's head, and the longest pause
            within its body; then the connection is closed.
        keep_alive_timeout: Seconds an idle kept-alive connection stays open.
        max_connections: Most open connections (lowered to fit the open-file limit); over it,
            the connection idle the longest is closed.
        max_header_bytes: Largest request line plus headers (431 above).
        max_hits: Most hits of one retrieve request (queries x k).
        auth_failures: Failed authentications a minute allowed per client address before
            that address is answered 429 (even with a good key); 0: no limit.
        max_upload_bytes: Largest document upload (413 above); the documents route's body may
            exceed ``max_body_bytes`` up to this (plus the multipart framing).
        sync_upload_bytes: Uploads up to this size are ingested before the answer (201 with
            the report); larger ones in the background (202 with a job to poll).
        max_queued_jobs: Ingestion jobs allowed to wait; beyond, 503 with ``Retry-After``.
        rerank_guard: The weak-judge guard of every rerank the service runs (``/rerank``,
            ``/v2/rerank``, answers and chats): ``"fitted"`` (each reranker's fitted weight,
            :func:`~xling.rerankers.guard.default_guard`), the reranker's weight in (0, 1] in a
            fusion with the order the documents came in (:mod:`xling.rerankers.guard`), or
            ``"off"`` (``None``).
    """

    pools: list[str] = field(default_factory=list)
    chroma_path: str | None = None
    chroma_url: str | None = None
    llm_urls: list[str] = field(default_factory=list)
    llm_model: str | None = None
    embedders: list[str] = field(default_factory=list)
    rerankers: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: list[str] = field(default_factory=list)
    api_grants: list[KeyGrant] = field(default_factory=list)
    max_body_bytes: int = 2 * 1024 * 1024
    max_documents: int = 1000
    max_text_chars: int = 20_000
    max_k: int = 1000
    max_batch: int = 256
    max_llm_waiting: int = 64
    rate_limit: int = 0
    cors_origins: list[str] = field(default_factory=list)
    llm_concurrency: int = 32
    drain_seconds: int = 30
    max_messages: int = 1000
    max_chat_chars: int = 500_000
    read_timeout: int = 10
    keep_alive_timeout: int = 5
    max_connections: int = 1000
    max_header_bytes: int = 64 * 1024
    max_hits: int = 10_000
    auth_failures: int = 10
    max_upload_bytes: int = 50 * 1024 * 1024
    sync_upload_bytes: int = 1024 * 1024
    max_queued_jobs: int = 64
    rerank_guard: GuardSetting = FITTED

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_documents", "max_text_chars", "max_k", "max_batch",
                     "max_llm_waiting", "llm_concurrency", "drain_seconds", "port", "max_messages",
                     "max_chat_chars", "read_timeout", "keep_alive_timeout", "max_connections",
                     "max_header_bytes", "max_hits", "max_upload_bytes", "sync_upload_bytes",
                     "max_queued_jobs"):  # fmt: skip
            check_positive_int(getattr(self, name), name)
        for name in ("rate_limit", "auth_failures"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"{name}={value!r} is not allowed; use 0 or more")
        self.rerankers = check_reranker_names(self.rerankers)
        self.rerank_guard = parse_guard_setting(self.rerank_guard, "rerank_guard")
        if self.chroma_path and self.chroma_url:
            raise InvalidInputError("give chroma_path or chroma_url, not both")
        if any(not isinstance(g, KeyGrant) for g in self.api_grants):
            # From a TOML config's [[serve.api_grants]] tables: the key file's rules.
            self.api_grants = parse_key_grants({"key": self.api_grants}, "api_grants")
        granted = {g.key for g in self.api_grants}
        if any(key in granted for key in self.api_keys):
            raise InvalidInputError(
                "a key is both a plain key (all pools) and a key with grants; give it once"
            )

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> ServiceConfig:
        """Reads ``[serve]`` (or top-level) keys of a TOML file; ``overrides`` win.

        Raises:
            InvalidInputError: On a file that is not TOML or an unknown key.
        """
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"config {path}: {exc}") from None
        section = data.get("serve", data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise InvalidInputError(
                f"config {path}: unknown key(s) {', '.join(unknown)}; allowed: "
                f"{', '.join(sorted(known))}"
            )
        return cls(**{**section, **{k: v for k, v in overrides.items() if v is not None}})


class ApiKeys(NamedTuple):
    """The keys a service accepts.

    Attributes:
        plain: Keys that may read and write every pool.
        grants: Keys with the pools each may read and write.
    """

    plain: list[str]
    grants: list[KeyGrant]


_GRANT_FIELDS = ("key", "read", "write")
_TOML_KEY_TABLE = re.compile(r"^\s*\[\[\s*key\s*\]\]", re.MULTILINE)


def _pools(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(
            f'{where} is {preview(value)}; use a list of pool names, or ["*"] for all'
        )
    return frozenset(v if v == ALL_POOLS else check_pool_name(v) for v in value)


def parse_key_grants(data: Mapping[str, Any], where: str) -> list[KeyGrant]:
    """The ``[[key]]`` tables of a key file: ``key = "..."``, ``read = ["docs", ...]``,
    ``write = [...]`` (optional; ``"*"``: every pool).

    Args:
        data: The parsed TOML document.
        where: The file, for messages (which never show a key, only its table's number).

    Raises:
        InvalidInputError: On another top-level key, an unknown field, a missing or empty
            ``key`` or ``read``, a key given twice, a bad pool name, or a pool written but
            not read.
    """
    other = sorted(set(data) - {"key"})
    if other:
        raise InvalidInputError(f"{where}: unknown top-level key(s) {', '.join(other)}; use "
                                "[[key]] tables with key, read and write")  # fmt: skip
    tables = data.get("key")
    if not isinstance(tables, list) or not tables:
        raise InvalidInputError(f"{where}: no [[key]] table; give at least one")
    grants: list[KeyGrant] = []
    first: dict[str, int] = {}
    for n, table in enumerate(tables, 1):
        at = f"{where}: [[key]] #{n}"
        if not isinstance(table, Mapping):
            raise InvalidInputError(f"{at} is not a table; use key, read and write")
        check_fields(table, _GRANT_FIELDS, at)
        key = table.get("key")
        if not isinstance(key, str) or not key.strip() or key != key.strip() or " " in key:
            raise InvalidInputError(f'{at} needs key = "...": a non-empty string without spaces')
        if key in first:
            raise InvalidInputError(f"{at} repeats the key of [[key]] #{first[key]}")
        first[key] = n
        if "read" not in table:
            raise InvalidInputError(f'{at} has no read list; give read = ["pool", ...] or ["*"]')
        read = _pools(table["read"], f"{at} read")
        if not read:
            raise InvalidInputError(f"{at} has an empty read list; give at least one pool")
        write = _pools(table.get("write", []), f"{at} write")
        unreadable = sorted(p for p in write if ALL_POOLS not in read and p not in read)
        if unreadable:
            raise InvalidInputError(
                f"{at} may write {', '.join(unreadable)} but not read it; add it to read"
            )
        grants.append(KeyGrant(key, read, write))
    return grants


def read_api_keys(path: str | Path | None) -> ApiKeys:
    """The keys of ``--api-keys-file`` and ``$XLING_API_KEYS`` (comma-separated, plain).

    The file is either one key a line (each may read and write every pool), or TOML with
    ``[[key]]`` tables (see :func:`parse_key_grants`): a file named ``*.toml`` or holding a
    ``[[key]]`` line.

    Raises:
        InvalidInputError: On an unreadable file, bad TOML or a bad table (one line, which
            never shows a key).
    """
    plain: list[str] = []
    grants: list[KeyGrant] = []
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"--api-keys-file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise InvalidInputError(f"--api-keys-file {path}: not UTF-8 text") from None
        if Path(path).suffix == ".toml" or _TOML_KEY_TABLE.search(text):
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise InvalidInputError(f"--api-keys-file {path}: not TOML ({exc})") from None
            grants = parse_key_grants(data, f"--api-keys-file {path}")
        else:
            plain += [line.strip() for line in text.splitlines() if line.strip()]
    plain += [k.strip() for k in os.environ.get("XLING_API_KEYS", "").split(",") if k.strip()]
    plain = list(dict.fromkeys(plain))
    if {g.key for g in grants} & set(plain):
        raise InvalidInputError(
            f"--api-keys-file {path}: a key of a [[key]] table is also in $XLING_API_KEYS "
            "(which grants every pool); give it once"
        )
    return ApiKeys(plain, grants)
