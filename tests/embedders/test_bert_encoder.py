"""The plain-PyTorch BERT encoder computes what transformers' BertModel computes."""

from __future__ import annotations

import pytest

from xling.embedders.bert_encoder import BertEncoder
from xling.embedders.e5_torch import E5SmallTorchEmbedder


@pytest.mark.parametrize("padded", [False, True])
def test_float32_encoder_equals_transformers_bert_model(
    padded: bool, e5_torch: E5SmallTorchEmbedder
) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    e5_torch.encoder  # converts the weights into the cache  # noqa: B018
    assert e5_torch.weights_path is not None
    state = load_file(str(e5_torch.weights_path))
    f = e5_torch.model_file
    config = BertConfig(
        vocab_size=1, hidden_size=f.hidden, num_hidden_layers=f.layers,
        num_attention_heads=f.heads, intermediate_size=f.ffn, max_position_embeddings=f.positions,
        type_vocab_size=f.token_types, layer_norm_eps=f.eps, hidden_act="gelu",
    )  # fmt: skip
    reference = BertModel(config, add_pooling_layer=False).eval()
    reference.load_state_dict({**state, "embeddings.word_embeddings.weight": torch.zeros(1, 384)})
    ours = BertEncoder(state, f.heads, f.eps, "float32")
    torch.manual_seed(0)
    words = torch.randn(3, 17, f.hidden) * 0.05
    mask = torch.ones(3, 17, dtype=torch.bool)
    if padded:
        mask[1, 9:] = False
        mask[2, 4:] = False
    with torch.inference_mode():
        expected = reference(inputs_embeds=words, attention_mask=mask.long()).last_hidden_state
        got = ours(words, mask)
    torch.testing.assert_close(got[mask], expected[mask], atol=2e-4, rtol=1e-4)


def test_int8_encoder_stays_close_to_float32(e5_torch: E5SmallTorchEmbedder) -> None:
    import torch
    from safetensors.torch import load_file

    e5_torch.encoder  # noqa: B018
    assert e5_torch.weights_path is not None
    state = load_file(str(e5_torch.weights_path))
    f = e5_torch.model_file
    exact = BertEncoder(state, f.heads, f.eps, "float32")
    int8 = BertEncoder(state, f.heads, f.eps, "int8")
    # Real word vectors of a real sentence, padded in a batch with a shorter one.
    rows = [e5_torch.tokenizer.encode("passage: " + t) for t in ("Habari ya asubuhi.", "Jambo")]
    words, mask = e5_torch.padded_batch(rows)
    assert mask.sum(dim=1).tolist() == [len(r) for r in rows] and not bool(mask.all())
    with torch.inference_mode():
        a, b = exact(words, mask)[mask], int8(words, mask)[mask]
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)
    assert cos.min() > 0.99, cos
    assert not torch.equal(a, b)  # int8 arithmetic really ran
