"""An OpenAI-compatible LLM stand-in on loopback that answers what a test scripts; no vLLM.

A real HTTP server (``http.server`` in a thread) on a free port: the client under test talks to
it through real sockets, so its timeouts, retries and deadline run for real. By default it
serves ``/v1/models``, ``/tokenize``, ``/detokenize``, ``/v1/chat/completions`` (answering
:attr:`StandIn.content`) and ``/v1/completions``; a test scripts faults per path: malformed or
cut-short bodies, any status, an answer that never comes, or one that trickles in byte by byte;
or it answers every request to a path by a function of the request body (:meth:`StandIn.answer`),
for a stand-in model that reads the prompt.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Reply", "StandIn", "CHAT", "MODELS", "TOKENIZE"]

CHAT = "/v1/chat/completions"
MODELS = "/v1/models"
TOKENIZE = "/tokenize"


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        status: The HTTP status.
        body: The body bytes.
        declared_length: The ``Content-Length`` sent; larger than the body means the
            connection closes before the body is complete (a body cut short).
        hang: Never answer; the handler waits until the client goes away or the stand-in stops.
        trickle: Seconds between single bytes of the body (0: all at once).
    """

    status: int = 200
    body: bytes = b""
    declared_length: int | None = None
    hang: bool = False
    trickle: float = 0.0

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Reply:
        """A JSON answer."""
        return cls(status, json.dumps(data).encode())

    @classmethod
    def chat(
        cls,
        content: str | None,
        *,
        finish_reason: str = "stop",
        reasoning: str | None = None,
        completion_tokens: int = 3,
    ) -> Reply:
        """A chat completion whose message is ``content``; ``reasoning`` is sent apart from it,
        as vLLM does when it runs a reasoning parser."""
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reasoning is not None:
            message["reasoning"] = reasoning
        return cls.json(
            {
                "choices": [{"message": message, "finish_reason": finish_reason}],
                "usage": {"prompt_tokens": 10, "completion_tokens": completion_tokens},
            }
        )

    @classmethod
    def next_token(cls, top: dict[str, float]) -> Reply:
        """A one-token chat completion: its likeliest token, with ``top`` as its alternatives
        (token text → logprob), in the OpenAI ``logprobs.content`` shape vLLM answers with."""
        token = max(top, key=top.__getitem__)
        alternatives = [{"token": t, "logprob": lp} for t, lp in top.items()]
        step = {"token": token, "logprob": top[token], "top_logprobs": alternatives}
        return cls.json(
            {
                "choices": [
                    {
                        "message": {"role": "assistant", "content": token},
                        "logprobs": {"content": [step]},
                        "finish_reason": "length",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 1},
            }
        )


class StandIn:
    """The stand-in server; use as a context manager.

    Attributes:
        content: What the default chat answer says.
        seen: Requests received per path.
        hanging: Requests being held by a ``hang`` reply right now.
        held: Requests held by a ``hang`` reply so far.
        stopping: Set when the stand-in stops (held and trickling answers end).
    """

    def __init__(self) -> None:
        self.content = "[2] > [1]"
        self.seen: Counter[str] = Counter()
        self.hanging = 0
        self.held = 0
        self._next: dict[str, list[Reply]] = {}
        self._always: dict[str, Reply] = {}
        self._answer: dict[str, Callable[[dict[str, Any]], Reply]] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stand_in = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL with ``/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def then(self, path: str, *replies: Reply) -> None:
        """The next requests to ``path`` get ``replies``, one each, in order."""
        with self._lock:
            self._next.setdefault(path, []).extend(replies)

    def always(self, path: str, reply: Reply) -> None:
        """Every request to ``path`` (``"*"``: any path) gets ``reply`` once the scripted
        ones are used up."""
        with self._lock:
            self._always[path] = reply

    def answer(self, path: str, reply: Callable[[dict[str, Any]], Reply]) -> None:
        """Every request to ``path`` gets ``reply(body)`` (the request's JSON body) once the
        scripted ones are used up; it runs on the server's thread, one request at a time."""
        with self._lock:
            self._answer[path] = reply

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # -- used by the handler -----------------------------------------------------------------
    def reply_for(self, path: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.seen[path] += 1
            queued = self._next.get(path)
            if queued:
                return queued.pop(0)
            if path in self._answer:
                return self._answer[path](body)
            reply = self._always.get(path) or self._always.get("*")
        return reply if reply is not None else self._default(path, body)

    def _default(self, path: str, body: dict[str, Any]) -> Reply:
        if path == MODELS:
            return Reply.json({"object": "list", "data": [{"id": "stand-in", "object": "model"}]})
        if path == TOKENIZE:
            return Reply.json({"tokens": list(range(len(str(body.get("prompt", "")).split())))})
        if path == "/detokenize":
            return Reply.json({"prompt": " ".join("w" for _ in body.get("tokens", []))})
        if path == CHAT:
            return Reply.chat(self.content)
        if path == "/v1/completions":
            return Reply.json({"choices": [{"text": self.content, "finish_reason": "stop"}]})
        return Reply.json({"error": {"message": f"no route {path}"}}, status=404)

    def hold(self, connection: socket.socket) -> None:
        """Holds a request unanswered until the client closes the connection or we stop."""
        with self._lock:
            self.hanging += 1
            self.held += 1
        try:
            while not self.stopping.is_set():
                readable, _, _ = select.select([connection], [], [], 0.05)
                if readable and not connection.recv(1, socket.MSG_PEEK):
                    return  # the client went away
        finally:
            with self._lock:
                self.hanging -= 1


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def _answer(self) -> None:
        stand_in: StandIn = self.server.stand_in  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        reply = stand_in.reply_for(self.path, body if isinstance(body, dict) else {})
        if reply.hang:
            stand_in.hold(self.connection)
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        declared = reply.declared_length if reply.declared_length is not None else len(reply.body)
        self.send_header("Content-Length", str(declared))
        if declared != len(reply.body) or reply.trickle:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            if reply.trickle:
                for i in range(len(reply.body)):
                    if stand_in.stopping.is_set():
                        return
                    self.wfile.write(reply.body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(reply.trickle)
            else:
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = _answer  # noqa: N815 - http.server API
    do_POST = _answer  # noqa: N815 - http.server API

    def log_message(self, *args: object) -> None:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return None  # a client that went away mid-answer is what some tests do
