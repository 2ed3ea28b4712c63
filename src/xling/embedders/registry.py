"""Embedder specs: a registry from spec strings to embedder factories.

Spec grammar: ``NAME`` for a fixed embedder (``e5-small-q4``, ``e5-small-torch``, ``use-m3``)
or ``KIND:ARG`` for a family (``st:BAAI/bge-m3``, ``hf:./my-model``,
``openai:http://127.0.0.1:8000/v1#e5``, ``ensemble:e5-small-q4=0.7,use-m3=0.3``: members
without options, see :mod:`xling.embedders.ensemble`), with options after ``?`` as
``key=value`` pairs joined by ``&`` (``st:Snowflake/...?dim=256``). ``openai:`` takes
several replicas of one model as comma-separated URLs and ``in_flight``, the requests of one
call sent at once over them (``openai:http://a:8001/v1,http://b:8002/v1#e5?in_flight=8``;
default 2 per URL).
The canonical spec string (options sorted) is the embedder's :attr:`~Embedder.id`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xling.core.errors import InvalidInputError, UnknownSpecError
from xling.core.registry import Registry
from xling.embedders.base import DEFAULT_MAX_TOKENS, Embedder, OnLong
from xling.embedders.cache import CachedEmbedder, EmbeddingCache

__all__ = [
    "EmbedderSpec",
    "DEFAULT_EMBEDDER",
    "register_embedder",
    "available_embedders",
    "parse_spec",
    "get_embedder",
    "same_embedder",
]

DEFAULT_EMBEDDER = "e5-small-q4"

Factory = Callable[["EmbedderSpec"], Embedder]
_NAMED: Registry[Factory] = Registry("embedder")
_FAMILIES: Registry[Factory] = Registry("embedder family")
# Families whose argument is ``<where>#<model>``: the servers are where vectors are computed,
# not what computes them, so two specs naming the same model elsewhere are the same embedder.
_SERVED: set[str] = set()
_INT_OPTIONS = {"dim", "batch_size", "max_length", "batch_tokens", "threads", "in_flight"}
_BOOL_OPTIONS = {"local_files_only", "input_type", "coverage"}
# Options that change how, not what, is computed; left out of the id (and never store a key).
_RUNTIME_OPTIONS = {
    "batch_size",
    "local_files_only",
    "device",
    "api_key",
    "batch_tokens",
    "threads",
    "in_flight",
}


@dataclass(frozen=True)
class EmbedderSpec:
    """A parsed spec string.

    Attributes:
        kind: The registry key: a fixed name or a family prefix.
        arg: The family's argument (model name, path or URL); empty for fixed names.
        options: Typed ``?key=value`` options.
    """

    kind: str
    arg: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def canonical(self) -> str:
        """The spec string with options in sorted order."""
        head = f"{self.kind}:{self.arg}" if self.arg else self.kind
        opts = "&".join(
            f"{k}={self.options[k]}" for k in sorted(self.options) if k not in _RUNTIME_OPTIONS
        )
        return f"{head}?{opts}" if opts else head


def register_embedder(
    name: str,
    factory: Factory,
    *,
    family: bool = False,
    served: bool = False,
    replace: bool = False,
) -> None:
    """Registers a fixed embedder name, or a ``KIND:`` family when ``family`` is true.

    Args:
        name: The name or family prefix.
        factory: Builds the embedder from a parsed spec.
        family: ``name`` is a ``KIND:`` prefix taking an argument.
        served: The family's argument is ``<server URL(s)>#<model>``: pools compare only the
            model and options (:func:`same_embedder`), so replicas and moved servers match.
        replace: Replace an existing registration.

    Raises:
        InvalidInputError: If the name is taken and ``replace`` is false.
    """
    (_FAMILIES if family else _NAMED).register(name, factory, replace=replace)
    if served:
        _SERVED.add(name)


def same_embedder(recorded: str, given: str) -> bool:
    """Whether an embedder id recorded on a pool and a given one compute the same vectors.

    Equal ids match; for a served family (``openai:``) the server URLs are left out, so a
    pool embedded through ``openai:http://a/v1#e5`` opens with ``openai:http://b/v1,http://c/v1#e5``.
    """
    if recorded == given:
        return True
    try:
        old, new = parse_spec(recorded), parse_spec(given)
    except InvalidInputError:
        return False
    if old.kind != new.kind or old.kind not in _SERVED:
        return False
    model = old.arg.rpartition("#")[2], new.arg.rpartition("#")[2]
    return (
        model[0] == model[1] and old.canonical.partition("?")[2] == new.canonical.partition("?")[2]
    )


def available_embedders() -> list[str]:
    """The registered names and families (families shown as ``kind:<arg>``)."""
    return sorted(_NAMED) + [f"{k}:<arg>" for k in sorted(_FAMILIES)]


def _parse_value(key: str, raw: str, spec: str) -> Any:
    if key in _INT_OPTIONS:
        try:
            return int(raw)
        except ValueError:
            raise InvalidInputError(
                f"option {key}={raw!r} in embedder spec {spec!r} must be an integer"
            ) from None
    if key in _BOOL_OPTIONS:
        return raw.lower() in {"1", "true", "yes"}
    return raw


def parse_spec(spec: str) -> EmbedderSpec:
    """Parses an embedder spec string.

    Raises:
        UnknownSpecError: If the spec names no registered embedder or family.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise UnknownSpecError(
            f"embedder spec {spec!r} is empty; allowed: {', '.join(available_embedders())}"
        )
    head, _, opt_text = spec.strip().partition("?")
    options: dict[str, Any] = {}
    for part in filter(None, opt_text.split("&")):
        key, sep, raw = part.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"option {part!r} in embedder spec {spec!r} must be key=value")
        options[key] = _parse_value(key, raw, spec)
    if head in _NAMED:
        return EmbedderSpec(head, "", options)
    kind, sep, arg = head.partition(":")
    if sep and kind in _FAMILIES and arg:
        return EmbedderSpec(kind, arg, options)
    raise UnknownSpecError(
        f"unknown embedder spec {spec!r}; allowed: {', '.join(available_embedders())}"
    )


def get_embedder(
    spec: str | Embedder = DEFAULT_EMBEDDER,
    *,
    cache: EmbeddingCache | bool | None = True,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    on_long: OnLong = "truncate",
    **options: Any,
) -> Embedder:
    """Builds an embedder from a spec string.

    Args:
        spec: A spec string, or an :class:`Embedder` returned as is (wrapped in the cache).
        cache: ``True`` for the shared persistent cache, an :class:`EmbeddingCache`, or
            ``False``/``None`` for none.
        max_tokens: The longest text, in the model's tokens (role prefix and special tokens
            included); ``None`` for no limit. Set on the embedder returned (so on ``spec``
            itself when it is returned as is).
        on_long: ``truncate`` longer texts to the longest prefix that fits (counted in the
            embedder's ``truncated``) or ``refuse`` them.
        **options: Options merged over those in the spec (``dim=256``, ``batch_size=16``, ...).

    Returns:
        The embedder, wrapped in a :class:`CachedEmbedder` unless caching is off.

    Raises:
        UnknownSpecError: If the spec names no registered embedder.
        InvalidInputError: On a bad option, cache, ``max_tokens`` or ``on_long``.
    """
    if not isinstance(cache, EmbeddingCache | bool | None):
        raise InvalidInputError(
            f"cache={cache!r:.40} is not allowed; use True, False, None or an EmbeddingCache"
        )
    if isinstance(spec, Embedder):
        embedder = spec
    elif isinstance(spec, str):
        parsed = parse_spec(spec)
        parsed = EmbedderSpec(parsed.kind, parsed.arg, {**parsed.options, **options})
        factory = (_FAMILIES if parsed.arg else _NAMED).get(parsed.kind)
        embedder = factory(parsed)
    else:
        raise UnknownSpecError(
            f"embedder spec must be a string or an Embedder, got {spec!r:.40} "
            f"({type(spec).__name__}); allowed: {', '.join(available_embedders())}"
        )
    if not (isinstance(embedder, CachedEmbedder) or cache is False or cache is None):
        embedder = CachedEmbedder(embedder, cache if isinstance(cache, EmbeddingCache) else None)
    return embedder.set_length_limit(max_tokens, on_long)


def _check_options(spec: EmbedderSpec, allowed: set[str]) -> dict[str, Any]:
    unknown = set(spec.options) - allowed
    if unknown:
        raise InvalidInputError(
            f"embedder {spec.canonical!r} does not take option(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(allowed)) or 'none'}"
        )
    return dict(spec.options)


def _e5(spec: EmbedderSpec) -> Embedder:
    from xling.embedders.bundled import E5SmallQ4Embedder

    return E5SmallQ4Embedder(**_check_options(spec, {"batch_size"}))


def _e5_torch(spec: EmbedderSpec) -> Embedder:
    from xling.embedders.e5_torch import E5SmallTorchEmbedder

    allowed = {"batch_size", "batch_tokens", "threads", "precision"}
    return E5SmallTorchEmbedder(**_check_options(spec, allowed))


def _use(spec: EmbedderSpec) -> Embedder:
    from xling.embedders.bundled import UseM3Embedder

    return UseM3Embedder(**_check_options(spec, {"batch_size"}))


def _st(spec: EmbedderSpec) -> Embedder:
    from xling.embedders.transformer_models import SentenceTransformerEmbedder

    allowed = {"dim", "prompts", "batch_size", "device", "local_files_only"}
    return SentenceTransformerEmbedder(
        spec.arg, spec_id=spec.canonical, **_check_options(spec, allowed)
    )


def _hf(spec: EmbedderSpec) -> Embedder:
    from xling.embedders.transformer_models import HFMeanPoolingEmbedder

    allowed = {"prompts", "batch_size", "device", "local_files_only", "max_length"}
    return HFMeanPoolingEmbedder(spec.arg, spec_id=spec.canonical, **_check_options(spec, allowed))


def _openai(spec: EmbedderSpec) -> Embedder:
    from xling.embedders.openai_compat import OpenAIEmbedder

    urls, sep, model = spec.arg.rpartition("#")
    base_urls = [u.strip() for u in urls.split(",")]
    if not sep or not model or not all(base_urls):
        raise InvalidInputError(
            f"embedder spec {spec.canonical!r} must look like openai:<base_url>#<model> or "
            "openai:<base_url>,<base_url>,...#<model> (replicas of one model)"
        )
    allowed = {"prompts", "batch_size", "api_key", "input_type", "in_flight"}
    options = _check_options(spec, allowed)
    url: str | list[str] = base_urls[0] if len(base_urls) == 1 else base_urls
    return OpenAIEmbedder(url, model, spec_id=spec.canonical, **options)


def _ensemble(spec: EmbedderSpec) -> Embedder:
    from xling.embedders.ensemble import EnsembleEmbedder, parse_members

    options = _check_options(spec, {"coverage"})
    members = parse_members(spec.arg)
    return EnsembleEmbedder(
        [(get_embedder(name), weight) for name, weight in members],
        coverage=options.get("coverage", True),
    )


register_embedder("e5-small-q4", _e5)
register_embedder("e5-small-torch", _e5_torch)
register_embedder("use-m3", _use)
register_embedder("st", _st, family=True)
register_embedder("hf", _hf, family=True)
register_embedder("openai", _openai, family=True, served=True)
register_embedder("ensemble", _ensemble, family=True)
