"""Embedders over local or hub transformer models: sentence-transformers and plain transformers."""

from __future__ import annotations

from typing import Any

import numpy as np

from xling.core.errors import InvalidInputError, missing_extra_error
from xling.embedders.base import Embedder, Role
from xling.embedders.prefixes import KNOWN_MODEL_PROMPTS, PromptScheme, get_prompt_scheme

__all__ = ["SentenceTransformerEmbedder", "HFMeanPoolingEmbedder"]


def _scheme_for(model_name: str, prompts: str | None, own: dict[str, str] | None) -> PromptScheme:
    if prompts is not None:
        return get_prompt_scheme(prompts)
    if model_name in KNOWN_MODEL_PROMPTS:
        return get_prompt_scheme(KNOWN_MODEL_PROMPTS[model_name])
    if own:
        return PromptScheme(
            "model", own.get("query", ""), own.get("document", own.get("passage", ""))
        )
    return get_prompt_scheme("none")


class _TokenizerEmbedder(Embedder):
    """Counts tokens with a transformers tokenizer (``_tokenizer``) on the prompted text."""

    _tokenizer: Any

    def _count_tokens(self, text: str, role: Role) -> int:
        prompted = self._prompt(role) + text
        return len(self._tokenizer(prompted, add_special_tokens=True, verbose=False)["input_ids"])


class SentenceTransformerEmbedder(_TokenizerEmbedder):
    """Any sentence-transformers model (LaBSE, multilingual-e5-*, BGE-M3 dense, mGTE, Arctic 2.0).

    Args:
        model: Hub name or local path.
        dim: Matryoshka truncation (e.g. 256 for Arctic-Embed 2.0); rows are re-normalised.
        prompts: A prompt scheme name (see :mod:`xling.embedders.prefixes`); by default the
            model's known scheme, else the prompts in its own configuration, else none.
        batch_size: Texts per forward pass.
        device: torch device, e.g. ``"cpu"`` or ``"cuda"``.
        local_files_only: Never reach a model hub.
        spec_id: The canonical spec string, used as :attr:`id`.
    """

    scheme: PromptScheme

    def __init__(
        self,
        model: str,
        *,
        dim: int | None = None,
        prompts: str | None = None,
        batch_size: int = 32,
        device: str | None = None,
        local_files_only: bool = False,
        spec_id: str | None = None,
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise missing_extra_error(
                "sentence_transformers", "st", f"embedder st:{model}"
            ) from exc
        kwargs: dict[str, Any] = {"device": device}
        if local_files_only:
            kwargs["local_files_only"] = True
        self._model = SentenceTransformer(model, **kwargs)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        full = int(get_dim() or 0)
        if dim is not None and not 0 < dim <= full:
            raise InvalidInputError(f"dim={dim} is not allowed for {model}; use 1..{full}")
        self.dim = dim or full
        self._tokenizer = self._model.tokenizer
        self._truncate = dim
        own = getattr(self._model, "prompts", None) or None
        self.scheme = _scheme_for(model, prompts, own)
        self.batch_size = batch_size
        self.id = spec_id or f"st:{model}"

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        vectors = self._model.encode(
            self.scheme.apply(texts, role),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        vectors = np.asarray(vectors, dtype=np.float32)
        return vectors[:, : self._truncate] if self._truncate else vectors


class HFMeanPoolingEmbedder(_TokenizerEmbedder):
    """A plain transformers encoder with attention-masked mean pooling.

    Args:
        model: Hub name or local path of an encoder (``AutoModel``).
        prompts: A prompt scheme name; default from :data:`KNOWN_MODEL_PROMPTS`, else none.
        max_length: Tokens per text; longer texts are truncated by the tokenizer.
        batch_size: Texts per forward pass.
        device: torch device.
        local_files_only: Never reach a model hub.
        spec_id: The canonical spec string, used as :attr:`id`.
    """

    scheme: PromptScheme

    def __init__(
        self,
        model: str,
        *,
        prompts: str | None = None,
        max_length: int = 512,
        batch_size: int = 32,
        device: str | None = None,
        local_files_only: bool = False,
        spec_id: str | None = None,
    ) -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise missing_extra_error("transformers", "st", f"embedder hf:{model}") from exc
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local_files_only)
        self._model = AutoModel.from_pretrained(model, local_files_only=local_files_only)
        self._model.eval()
        self._device = device or "cpu"
        self._model.to(self._device)
        self.dim = int(self._model.config.hidden_size)
        self.scheme = _scheme_for(model, prompts, None)
        self.max_length = max_length
        self.batch_size = batch_size
        self.id = spec_id or f"hf:{model}"

    def _encode(self, texts: list[str], role: Role) -> np.ndarray:
        torch = self._torch
        batch = self._tokenizer(
            self.scheme.apply(texts, role),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self._device)
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return pooled.float().cpu().numpy()
