"""The rerankers a service's operator configured by spec: ``xling serve --reranker NAME=SPEC``.

A client names a rerank model; it never gives a spec, so it cannot make the server load a
path or call a URL of its choosing. The operator names specs at start
(``--reranker fast=cascade:pointwise→listwise``, or ``[serve.rerankers]`` in TOML), each
built once (a bad spec stops the start with one line) and reused by every request. A spec
whose stages prompt an LLM is built once per LLM replica, so a failing replica's requests go
to the next as they do for the built-in names; one that needs no LLM (a cross-encoder) is
built once. A configured reranker keeps the options it was built with: the request's
``max_tokens_per_doc`` applies to the built-in names only.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from xling.core.errors import InvalidInputError
from xling.llm import LLMClient
from xling.rerankers import Reranker, available_rerankers, get_reranker
from xling.rerankers.guard import GuardSetting, resolve_guard

__all__ = ["ServedRerankers", "check_reranker_names", "parse_reranker_options"]

T = TypeVar("T")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# How a served reranker fails: raise, so the service fails over to the next replica or
# answers 503, as it does for the built-in names.
_SERVED_OPTIONS = {"on_failure": "raise"}


def parse_reranker_options(items: Sequence[str]) -> dict[str, str]:
    """``--reranker NAME=SPEC`` values as ``{name: spec}``.

    Raises:
        InvalidInputError: For an item without ``=``, or a name given twice.
    """
    named: dict[str, str] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        name, spec = name.strip(), spec.strip()
        if not sep or not name or not spec:
            raise InvalidInputError(
                f"--reranker {item!r} is not allowed; use NAME=SPEC "
                "(fast=cascade:pointwise→listwise)"
            )
        if name in named:
            raise InvalidInputError(f"--reranker {name!r} is given twice; name each spec once")
        named[name] = spec
    return check_reranker_names(named)


def check_reranker_names(specs: Mapping[str, str]) -> dict[str, str]:
    """The configured ``{name: spec}`` with each name checked.

    Raises:
        InvalidInputError: For a name that is not letters, digits, ``.``, ``_`` or ``-``
            (up to 64), or that a built-in reranker already has; or a spec that is not text.
    """
    if not isinstance(specs, Mapping):
        raise InvalidInputError(
            f"rerankers={specs!r:.60} is not allowed; give names and specs, NAME=SPEC"
        )
    for name, spec in specs.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInputError(
                f"reranker name {name!r} is not allowed; use letters, digits, '.', '_' or '-' "
                "(up to 64, starting with a letter or digit)"
            )
        taken = [n for n in available_rerankers() if name in (n, f"xling-{n}")]
        if taken:
            raise InvalidInputError(
                f"reranker name {name!r} is a built-in reranker's ({taken[0]}); choose another"
            )
        if not isinstance(spec, str) or not spec.strip():
            raise InvalidInputError(f"reranker {name!r} has spec {spec!r}; give a reranker spec")
    return dict(specs)


class ServedRerankers:
    """The configured rerankers, built once at start.

    Args:
        specs: Name → reranker spec.
        clients: The LLM replicas' clients (none: only specs without an LLM can be served).
        guard: The service's weak-judge guard setting, built into each (``"fitted"``: each
            spec's fitted weight; ``None``: off).

    Raises:
        InvalidInputError: Naming ``--reranker NAME=SPEC`` for a spec that cannot be built
            (an unknown one, bad options, an LLM stage on a service without ``--llm-url``).
    """

    def __init__(
        self,
        specs: Mapping[str, str],
        clients: Sequence[LLMClient],
        guard: GuardSetting = None,
    ) -> None:
        self.specs = check_reranker_names(specs)
        # Per name: the reranker per replica client (id), or one under None without an LLM.
        self._built: dict[str, dict[int | None, Reranker]] = {}
        for name, spec in self.specs.items():
            try:
                if clients:
                    self._built[name] = {
                        id(c): get_reranker(spec, c, **self._options(spec, guard)) for c in clients
                    }
                else:
                    self._built[name] = {
                        None: get_reranker(spec, None, **self._options(spec, guard))
                    }
            except InvalidInputError as exc:
                hint = "" if clients else " (this service has no LLM: start it with --llm-url)"
                raise InvalidInputError(f"--reranker {name}={spec}: {exc}{hint}") from None

    @staticmethod
    def _options(spec: str, guard: GuardSetting) -> dict[str, Any]:
        return {**_SERVED_OPTIONS, "guard": resolve_guard(guard, spec)}

    def names(self) -> list[str]:
        """The configured names, in the order given."""
        return list(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def needs_llm(self, name: str) -> bool:
        """Whether the named reranker was built per LLM replica (it prompts an LLM)."""
        return None not in self._built[name]

    def on(self, name: str, client: LLMClient | None) -> Reranker:
        """The named reranker for a replica's ``client`` (``None``: one without an LLM)."""
        built = self._built[name]
        return built[None] if None in built else built[id(client)]

    async def arun(
        self,
        name: str,
        work: Callable[[Reranker], Awaitable[T]],
        replicas: Callable[[Callable[[LLMClient], Awaitable[T]]], Awaitable[T]],
    ) -> T:
        """Runs ``work`` on the named reranker: through ``replicas`` (failing over) when it
        prompts an LLM, else directly."""
        if not self.needs_llm(name):
            return await work(self.on(name, None))

        async def on(client: LLMClient) -> T:
            return await work(self.on(name, client))

        return await replicas(on)

    async def aclose(self) -> None:
        """Closes each reranker's connections (its model's, and its LLM client's)."""
        for built in self._built.values():
            for reranker in built.values():
                await reranker.aclose()
