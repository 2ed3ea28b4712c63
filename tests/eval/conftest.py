"""Fixtures for the eval tests: ICL-MT outputs and a tiny COMET checkpoint built locally."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def iclmt(shared_data: Path) -> Path:
    """The ICL-MT Llama-2-7B outputs and score files."""
    return shared_data / "iclmt-outputs" / "llama-2-7b"


@pytest.fixture(scope="session")
def tiny_comet(
    tmp_path_factory: pytest.TempPathFactory, flores: Callable[[str, str], list[str]]
) -> Path:
    """A COMET regression model on a tiny, randomly initialised XLM-R, saved like a real one.

    The tokenizer is a 400-piece unigram model trained here on FLORES dev lines and wrapped as
    ``XLMRobertaTokenizerFast``; nothing is downloaded. Returns the model folder
    (``checkpoints/model.ckpt`` + ``hparams.yaml``).
    """
    pytest.importorskip("comet")
    import pytorch_lightning as pl
    import torch
    import yaml
    from comet.models import RegressionMetric
    from tokenizers import SentencePieceUnigramTokenizer, processors
    from transformers import XLMRobertaConfig, XLMRobertaTokenizerFast

    root = tmp_path_factory.mktemp("tiny-comet")
    encoder = root / "xlmr"
    lines = [line for lang in ("eng", "fra", "swh", "wol") for line in flores(lang, "dev")[:150]]
    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator(
        lines,
        vocab_size=400,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        show_progress=False,
    )
    unigram.add_special_tokens(["<mask>"])
    unigram.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = XLMRobertaTokenizerFast(
        tokenizer_object=unigram._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=128,
    )
    tokenizer.save_pretrained(encoder)
    XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    ).save_pretrained(encoder)

    torch.manual_seed(0)
    model = RegressionMetric(
        pretrained_model=str(encoder),
        load_pretrained_weights=False,
        local_files_only=True,
        hidden_sizes=[16],
        final_activation="sigmoid",
    )
    (root / "checkpoints").mkdir()
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.strategy.connect(model)
    trainer.save_checkpoint(root / "checkpoints" / "model.ckpt")
    hparams = {**dict(model.hparams), "class_identifier": "regression_metric"}
    (root / "hparams.yaml").write_text(yaml.safe_dump(hparams), encoding="utf-8")
    return root
