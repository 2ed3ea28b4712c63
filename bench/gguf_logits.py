"""Are the served embedded models the GGUFs they come from? Logits at each conversion step.

Runs in the serving venv (it needs torch, transformers and gguf, which live there), against a
running embedded server::

    ~/.cache/xling/llm/vllm-venv/bin/python bench/gguf_logits.py --url http://127.0.0.1:8011/v1 \\
        --model gemma3-270m

On a few multilingual texts, three models are compared token by token:

* ``gguf``: transformers' GGUF loader on the assembled GGUF (dequantized on load);
* ``converted``: the safetensors model dir xling serves (``xling llm prepare``);
* ``vllm``: the server's prompt logprobs (``prompt_logprobs=0``: each prompt token's logprob).

Prints max |Δ logit| gguf↔converted (the converter refuses anything but 0) and max |Δ logprob|
converted↔vllm (float32 on both; kernels differ). Ends with ``RESULT gguf_vs_converted=…
converted_vs_vllm=…``.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TEXTS = [
    "English: The library opens at nine.\nFrench: La bibliothèque ouvre à neuf heures.",
    "Kiswahili ni lugha ya Kibantu inayozungumzwa Afrika Mashariki.",
    "Die Forscher hoffen, Krebs früh zu erkennen.",
    "東京は日本の首都です。",
]


def vllm_logprobs(url: str, model: str, ids: list[int]) -> list[float]:
    body = json.dumps({"model": model, "prompt": ids, "max_tokens": 1, "temperature": 0,
                       "prompt_logprobs": 0}).encode()  # fmt: skip
    request = urllib.request.Request(f"{url}/completions", body,
                                     {"content-type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as response:
        choice = json.load(response)["choices"][0]
    found = []
    for position, entry in enumerate(choice["prompt_logprobs"][1:], start=1):
        found.append(float(entry[str(ids[position])]["logprob"]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--home", type=Path, default=Path.home() / ".cache" / "xling" / "llm")
    args = parser.parse_args()
    folder = args.home / "models" / args.model
    provenance = json.loads((folder / "xling-provenance.json").read_text())
    gguf_dir = args.home / "gguf"
    gguf = gguf_dir / provenance["gguf_file"]
    if not gguf.exists():  # a package that holds the file itself
        import importlib.util

        spec = importlib.util.find_spec(provenance["gguf_package"])
        assert spec is not None and spec.submodule_search_locations
        gguf = Path(list(spec.submodule_search_locations)[0]) / provenance["gguf_file"]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    converted = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    loaded = AutoModelForCausalLM.from_pretrained(
        os.fspath(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    ).eval()
    worst_gguf = worst_vllm = 0.0
    for text in TEXTS:
        ids = tokenizer(text, return_tensors="pt").input_ids
        with torch.no_grad():
            a = converted(ids).logits[0]
            b = loaded(ids).logits[0]
        worst_gguf = max(worst_gguf, (a - b).abs().max().item())
        mine = torch.log_softmax(a, dim=-1)
        token_ids = ids[0].tolist()
        ours = [mine[i - 1, token_ids[i]].item() for i in range(1, len(token_ids))]
        theirs = vllm_logprobs(args.url, args.model, token_ids)
        delta = max(abs(x - y) for x, y in zip(ours, theirs, strict=True))
        worst_vllm = max(worst_vllm, delta)
        print(
            f"{len(token_ids):3d} tokens: max |Δ logprob| converted↔vllm {delta:.2e}  {text[:40]!r}"
        )
    print(f"max |Δ logit| gguf↔converted {worst_gguf:.3g}; max |Δ logprob| converted↔vllm "
          f"{worst_vllm:.3g}")  # fmt: skip
    print(f"RESULT gguf_vs_converted={worst_gguf:.3g} converted_vs_vllm={worst_vllm:.3g}")


if __name__ == "__main__":
    main()
