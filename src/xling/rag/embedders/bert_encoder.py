"""A post-LayerNorm BERT encoder over a transformers ``BertModel`` state dict, in plain PyTorch.

The forward pass is transformers' ``BertModel`` (absolute positions from 0, token type 0, erf
GELU, no dropout) written out so that the matmuls can run in bfloat16 while the residual
stream, LayerNorms and pooling stay in float32, and Q, K and V are one matmul. With
``dtype=torch.float32`` it computes what ``BertModel`` computes (the tests compare the two).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["BertEncoder"]


class BertEncoder:
    """The encoder layers of a BERT model, called on word vectors.

    Args:
        state: ``BertModel`` parameter names -> tensors (``embeddings.word_embeddings`` is
            not needed: callers pass word vectors).
        heads: Attention heads.
        eps: LayerNorm epsilon.
        dtype: The matmuls' dtype (``torch.float32`` or ``torch.bfloat16``).
    """

    def __init__(self, state: Mapping[str, Any], heads: int, eps: float, dtype: Any) -> None:
        import torch

        self._torch = torch
        self.heads = heads
        self.eps = eps
        self.dtype = dtype
        f32 = torch.float32

        def get(name: str, as_dtype: Any = f32) -> Any:
            return state[name].to(as_dtype).contiguous()

        prefix = "embeddings."
        self.positions = get(prefix + "position_embeddings.weight")
        self.token_type = get(prefix + "token_type_embeddings.weight")[0]
        self.ln = (get(prefix + "LayerNorm.weight"), get(prefix + "LayerNorm.bias"))
        self.layers: list[dict[str, Any]] = []
        i = 0
        while f"encoder.layer.{i}.attention.self.query.weight" in state:
            p = f"encoder.layer.{i}."
            attn = p + "attention.self."
            qkv_w = torch.cat([state[f"{attn}{n}.weight"] for n in ("query", "key", "value")])
            qkv_b = torch.cat([state[f"{attn}{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(
                {
                    "qkv": (qkv_w.to(dtype).contiguous(), qkv_b.to(dtype)),
                    "ao": (
                        get(p + "attention.output.dense.weight", dtype),
                        get(p + "attention.output.dense.bias", dtype),
                    ),
                    "aln": (
                        get(p + "attention.output.LayerNorm.weight"),
                        get(p + "attention.output.LayerNorm.bias"),
                    ),
                    "fi": (
                        get(p + "intermediate.dense.weight", dtype),
                        get(p + "intermediate.dense.bias", dtype),
                    ),
                    "fo": (
                        get(p + "output.dense.weight", dtype),
                        get(p + "output.dense.bias", dtype),
                    ),
                    "oln": (get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")),
                }
            )
            i += 1
        self.hidden = int(self.positions.shape[1])

    def __call__(self, words: Any, mask: Any) -> Any:
        """Last hidden states.

        Args:
            words: Float32 word vectors, ``(batch, length, hidden)``; rows are right-padded.
            mask: Bool ``(batch, length)``, true on real tokens.

        Returns:
            Float32 ``(batch, length, hidden)``.
        """
        torch = self._torch
        fn = torch.nn.functional
        batch, length, hidden = words.shape
        heads, width = self.heads, hidden // self.heads
        x = words + self.positions[:length] + self.token_type
        x = fn.layer_norm(x, (hidden,), *self.ln, eps=self.eps)
        # Padded keys are masked out; a batch without padding needs no mask (a faster kernel).
        keys = None if bool(mask.all()) else mask[:, None, None, :]
        for layer in self.layers:
            qkv = fn.linear(x.to(self.dtype), *layer["qkv"])
            q, k, v = qkv.view(batch, length, 3, heads, width).permute(2, 0, 3, 1, 4)
            ctx = fn.scaled_dot_product_attention(q, k, v, attn_mask=keys)
            ctx = ctx.transpose(1, 2).reshape(batch, length, hidden)
            attended = fn.linear(ctx, *layer["ao"]).to(torch.float32)
            x = fn.layer_norm(x + attended, (hidden,), *layer["aln"], eps=self.eps)
            mid = fn.gelu(fn.linear(x.to(self.dtype), *layer["fi"]))
            out = fn.linear(mid, *layer["fo"]).to(torch.float32)
            x = fn.layer_norm(x + out, (hidden,), *layer["oln"], eps=self.eps)
        return x
