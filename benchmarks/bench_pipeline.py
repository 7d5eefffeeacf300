"""The main job at machine speed, side by side in one run: distillation, encoding, search, quickstart.

Sections (each selectable with ``--only``; rows are kept in a JSON checkpoint, so a rerun resumes):

- ``a`` profile of one distillation step: the pieces of ``optical.distill``'s step timed one by
  one (data and tokenization, teacher forward, teacher from its cache, student forward,
  objective incl. solver, backward, clipping + optimizer) with the real multilingual-e5-small on
  English-Swahili bitext, batch 16, max 64 tokens, embeddings frozen; padding share of random
  against length-bucketed batches.
- ``b`` ``optical distill`` (mse, nce, the default objective; run as its CLI, so it measures
  whatever the code does) against ``SentenceTransformerTrainer`` + ``MSELoss`` on the same work
  (same model, pairs, batch, max length, frozen embeddings, the teacher's labels included): one
  epoch, student tokens/s and the whole process's time.
- ``c`` query and document encoding, ``Encoder.encode`` (float32, bfloat16 autocast) against
  ``SentenceTransformer.encode`` at batch 1 and 64; bfloat16's ranking agreement with float32.
- ``d`` search on random unit vectors: FAISS exact, HNSW and IVF against brute force
  (``dense_search``) at 10k, 100k and 1M documents; recall@100 against exact.
- ``e`` ``optical quickstart`` end to end (a fresh output folder).
- ``f`` ``optical distill --objective mse`` eager against ``--compile`` (``torch.compile`` of the
  student), back to back in one run: the whole process, the first step (compilation) and the
  steady-state s/step.

    python benchmarks/bench_pipeline.py                       # everything, CPU sizes
    python benchmarks/bench_pipeline.py --only a,c,d --quick  # small sizes, minutes
    python benchmarks/bench_pipeline.py --preset gpu          # the same on a CUDA device

Needs the ``st`` and ``faiss`` extras. Writes benchmarks/results/pipeline.md (+ pipeline.json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import RESULTS, Checkpoint, command, header  # noqa: E402

from optical.cache import cache_dir  # noqa: E402

SECTIONS = "abcdef"
PRESETS = {
    # device, distillation precision (a DistillConfig value), search sizes
    "cpu": {"device": "cpu", "precision": None, "sizes": [10_000, 100_000, 1_000_000]},
    "gpu": {"device": "cuda", "precision": "auto", "sizes": [10_000, 100_000, 1_000_000]},
}
QUICK_SIZES = [10_000, 100_000]


# --------------------------------------------------------------------------------------------- helpers


def distill_default(name: str):
    """The default of a ``DistillConfig`` field (so the benchmark follows the code, not a copy of it)."""
    from optical.distill.run import DistillConfig

    return next(f.default for f in fields(DistillConfig) if f.name == name)


def bitext_pairs(path: Path, count: int) -> list[tuple[str, str]]:
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            src, _, tgt = line.rstrip("\n").partition("\t")
            if src and tgt:
                pairs.append((src, tgt))
            if len(pairs) == count:
                break
    return pairs


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class Stopwatch:
    """Seconds per named piece; ``with clock("piece"):`` adds the block's time (device synchronised)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.pieces: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        sync(self.device)
        started = time.perf_counter()
        yield
        sync(self.device)
        self.pieces[name] = self.pieces.get(name, 0.0) + time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def run_process(argv: list[str], env: dict | None = None) -> tuple[float, str]:
    """Run ``argv``; return its wall time and its output (raise with the output's tail on failure)."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, done.stdout + done.stderr


# ------------------------------------------------------------------------------------ a: step profile


def section_a(ckpt: Checkpoint, args) -> None:
    from optical.data.records import BitextPair
    from optical.distill.run import DistillConfig, build_objective, load_encoders
    from optical.train import LengthBucketSampler
    from optical.train.loop import _adamw, resolve_precision
    from optical.train.sampler import EpochSampler

    device = torch.device(args.device)
    objectives = [distill_default("objective")] if args.quick else [distill_default("objective"), "mse", "nce"]
    steps, warmup = (3, 1) if args.quick else (12, 2)
    pairs = bitext_pairs(args.bitext, args.pairs)
    for name in objectives:
        key = f"a/{args.device}/{name}/steps={steps}"
        if key in ckpt:
            continue
        print(f"[a] profiling {name} ({steps} steps)", flush=True)
        config = DistillConfig(teacher=args.model, student=args.model, bitext=str(args.bitext), objective=name,
                               batch_size=args.batch_size, max_length=args.max_length, freeze_embeddings=True,
                               device=args.device, **({"precision": args.precision} if args.precision else {}))
        teacher, student = load_encoders(config)
        teacher.to(device).eval().requires_grad_(False)
        student.to(device).train()
        for module in student.modules():  # what --freeze-embeddings does
            if isinstance(module, torch.nn.Embedding):
                module.weight.requires_grad_(False)
        records = [BitextPair(src, tgt, "en", "sw") for src, tgt in pairs]
        objective = build_objective(config, teacher, student, records).to(device)
        parameters = [p for p in student.parameters() if p.requires_grad]
        optimizer = _adamw(parameters, config, device)
        precision = resolve_precision(config.precision, device)
        autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                    else contextlib.nullcontext())
        if device.type == "cpu":
            torch.set_flush_denormal(True)  # as the training loop does
        sampler = EpochSampler(len(records), config.batch_size, seed=0)
        cache = None
        with contextlib.suppress(ImportError):
            from optical.distill.teacher_cache import TeacherCache

            cache = TeacherCache(teacher)
        times: dict[str, list[float]] = {}
        padding: list[float] = []
        for step in range(warmup + steps):
            clock = Stopwatch(args.device)
            with clock("data and tokenization"):
                batch = [records[i] for i in sampler.next_batch()]
                english, foreign = [p.src for p in batch], [p.tgt for p in batch]
                encoded, truncated = student.tokenize(foreign, kind="query")
                teacher_inputs, _ = teacher.tokenize(english, kind="query")
            with clock("teacher forward"), torch.no_grad(), autocast:
                teacher_batch = teacher(teacher_inputs)
            if cache is not None:
                cache.fill(english)
                with clock("teacher from cache (instead)"):
                    cache.tokens(english, device)
            with clock("student forward"), autocast:
                student_tokens = student(encoded, truncated)
            with clock("objective incl. solver"), autocast:
                loss = objective(teacher_batch, student_tokens).loss
            with clock("backward"):
                loss.backward()
            with clock("clip + optimizer"):
                torch.nn.utils.clip_grad_norm_(parameters, config.clip_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            if step >= warmup:
                for piece, seconds in clock.pieces.items():
                    times.setdefault(piece, []).append(seconds)
                padding.append(float(1.0 - student_tokens.attention_mask.float().mean()))
        lengths = [len(tgt) for _, tgt in pairs]
        bucketed = LengthBucketSampler(lengths, config.batch_size, seed=0)
        shares = []
        for _ in range(min(30, len(pairs) // config.batch_size)):
            texts = [pairs[i][1] for i in bucketed.next_batch()]
            mask = student.tokenize(texts, kind="query")[0]["attention_mask"]
            shares.append(float(1.0 - mask.float().mean()))
        ckpt.put(key, {"objective": name, "precision": precision, "steps": steps,
                       "seconds": {piece: median(v) for piece, v in times.items()},
                       "padding_random": float(np.mean(padding)), "padding_bucketed": float(np.mean(shares))})


def table_a(ckpt: Checkpoint) -> list[str]:
    rows = [r for k, r in sorted(ckpt.rows.items()) if k.startswith("a/")]
    if not rows:
        return []
    pieces = list(rows[0]["seconds"])
    lines = ["## (a) One distillation step, piece by piece", "",
             "Median seconds per piece over the measured steps (after warm-up); `share` is of the sum of the "
             "pieces that a step runs (the cache line is the alternative to the teacher forward, not counted). "
             "Padding: share of the student's batch that is padding, random batches against "
             "`LengthBucketSampler` batches.", "",
             "| objective | precision | " + " | ".join(pieces) + " | step (sum) | padding random / bucketed |",
             "|---|---|" + "---:|" * (len(pieces) + 2)]
    for row in rows:
        seconds = row["seconds"]
        total = sum(v for p, v in seconds.items() if "instead" not in p)
        cells = [f"{seconds[p]:.3f} ({seconds[p] / total:.0%})" if "instead" not in p else f"{seconds[p]:.4f}"
                 for p in pieces]
        lines.append(f"| {row['objective']} | {row['precision']} | " + " | ".join(cells)
                     + f" | {total:.3f} | {row['padding_random']:.0%} / {row['padding_bucketed']:.0%} |")
    return lines + [""]


# ------------------------------------------------------------------- b: optical distill vs sentence-transformers


# The speed-ups of this round, switched off: the distillation loop as it was before them.
BEFORE = ["--no-teacher-cache", "--no-bucket-by-length"]


def optical_distill_row(args, objective: str, pairs: int, steps: int, extra: list[str] | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-distill-") as out:
        argv = [sys.executable, "-m", "optical.cli", "distill", "--teacher", args.model, "--student", args.model,
                "--bitext", str(args.bitext), "--tgt-lang", "sw", "--max-pairs", str(pairs),
                "--steps", str(steps), "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
                "--objective", objective, "--freeze-embeddings", "--out", out, "--quiet", "--no-resume",
                "--log-every", "1", "--checkpoint-every", "1000000", "--device", args.device]
        if args.precision:
            argv += ["--precision", args.precision]
        seconds, _ = run_process(argv + (extra or []))
        records = [json.loads(line) for line in (Path(out) / "train.jsonl").read_text().splitlines() if line]
    last = records[-1]
    tokens = sum(r.get("tokens", 0.0) for r in records)
    return {"system": " ".join(["optical distill --objective", objective, *(extra or [])]), "process_s": seconds,
            "train_s": last["seconds"], "steps": last["step"], "tokens": tokens,
            "tokens_per_s": tokens / last["seconds"], "s_per_step": last["seconds"] / last["step"],
            "step_seconds": [r["seconds"] for r in records]}


def st_worker(spec: dict) -> dict:
    """Inside a fresh process: the sentence-transformers recipe for the same work, timed by parts."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import MSELoss

    started = time.perf_counter()
    pairs = bitext_pairs(Path(spec["bitext"]), spec["pairs"])
    teacher = SentenceTransformer(spec["model"], device=spec["device"])
    student = SentenceTransformer(spec["model"], device=spec["device"])
    for model in (teacher, student):
        model.max_seq_length = spec["max_length"]
    for module in student.modules():  # the same frozen tables as optical's --freeze-embeddings
        if isinstance(module, torch.nn.Embedding):
            module.weight.requires_grad_(False)
    loaded = time.perf_counter()
    labels = teacher.encode([src for src, _ in pairs], prompt="query: ", batch_size=spec["batch_size"],
                            convert_to_numpy=True, normalize_embeddings=False)
    labelled = time.perf_counter()
    dataset = Dataset.from_dict({"sentence": [tgt for _, tgt in pairs], "label": labels.tolist()})
    training = SentenceTransformerTrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="bench-st-"), num_train_epochs=1, max_steps=spec["steps"],
        per_device_train_batch_size=spec["batch_size"], learning_rate=2e-5, warmup_ratio=0.1, weight_decay=0.01,
        max_grad_norm=1.0, seed=0, prompts="query: ", report_to="none", save_strategy="no", logging_steps=1000,
        use_cpu=spec["device"] == "cpu", bf16=spec["bf16"], disable_tqdm=True, dataloader_drop_last=False)
    trainer = SentenceTransformerTrainer(model=student, args=training, train_dataset=dataset, loss=MSELoss(student))
    train_started = time.perf_counter()
    trainer.train()
    trained = time.perf_counter()
    tokenizer = student.tokenizer
    tokens = 0
    for start in range(0, min(len(pairs), spec["steps"] * spec["batch_size"]), 256):
        chunk = ["query: " + tgt for _, tgt in pairs[start:start + 256]]
        encoded = tokenizer(chunk, truncation=True, max_length=spec["max_length"], return_special_tokens_mask=True)
        tokens += sum(len(m) - sum(m) for m in encoded["special_tokens_mask"])  # optical's token mask
    return {"load_s": loaded - started, "labels_s": labelled - loaded, "train_s": trained - train_started,
            "tokens": tokens, "steps": trainer.state.global_step}


def st_row(args, pairs: int, steps: int) -> dict:
    spec = {"model": args.model, "bitext": str(args.bitext), "pairs": pairs, "steps": steps,
            "batch_size": args.batch_size, "max_length": args.max_length, "device": args.device,
            "bf16": args.device == "cuda" and torch.cuda.is_bf16_supported()}
    seconds, output = run_process([sys.executable, __file__, "--st-worker", json.dumps(spec)])
    result = next(line for line in output.splitlines() if line.startswith("ST-RESULT "))
    parts = json.loads(result.removeprefix("ST-RESULT "))
    return {"system": "sentence-transformers SentenceTransformerTrainer + MSELoss", "process_s": seconds,
            "train_s": parts["train_s"], "labels_s": parts["labels_s"], "steps": parts["steps"],
            "tokens": parts["tokens"], "tokens_per_s": parts["tokens"] / parts["train_s"],
            "s_per_step": (parts["train_s"] + parts["labels_s"]) / parts["steps"]}


def section_b(ckpt: Checkpoint, args) -> None:
    pairs = 320 if args.quick else 1920
    steps = pairs // args.batch_size
    objectives = ["mse", "nce", distill_default("objective")]
    for name in [*dict.fromkeys(objectives), "st", "mse before"]:
        key = f"b/{args.device}/{pairs}/{name}"
        if key in ckpt:
            continue
        print(f"[b] {name}: {steps} steps of {args.batch_size}", flush=True)
        if name == "st":
            row = st_row(args, pairs, steps)
        elif name.endswith(" before"):
            row = optical_distill_row(args, name.split()[0], pairs, steps, BEFORE)
        else:
            row = optical_distill_row(args, name, pairs, steps)
        ckpt.put(key, {**row, "pairs": pairs})


def table_b(ckpt: Checkpoint) -> list[str]:
    groups: dict[str, list[dict]] = {}
    for key, row in ckpt.rows.items():
        if key.startswith("b/"):
            groups.setdefault(key.rsplit("/", 1)[0], []).append(row)
    lines = []
    for group, rows in sorted(groups.items()):
        st = next((r for r in rows if r["system"].startswith("sentence")), None)
        lines += [f"## (b) One epoch of distillation ({group.split('/')[1]}, {rows[0]['pairs']} pairs, "
                  f"{rows[0]['steps']} steps of 16)", "",
                  "Process = the whole command (start-up, loading, teacher labels, training, saving); "
                  "s/step for sentence-transformers includes its share of the teacher labels. Ratios are "
                  "sentence-transformers' time over optical's (above 1: optical is faster).", "",
                  "| system | process s | train s | s/step | student tokens/s | process ratio | tokens/s ratio |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for row in rows:
            process = ratio(st["process_s"], row["process_s"]) if st else "-"
            speed = ratio(row["tokens_per_s"], st["tokens_per_s"]) if st else "-"
            lines.append(f"| {row['system']} | {row['process_s']:.1f} | {row['train_s']:.1f} | "
                         f"{row['s_per_step']:.2f} | {row['tokens_per_s']:.0f} | {process} | {speed} |")
        lines.append("")
    return lines


# ------------------------------------------------------------------------------------------ c: encoding


def section_c(ckpt: Checkpoint, args) -> None:
    from sentence_transformers import SentenceTransformer

    from optical.models import Encoder
    from optical.train.loop import cpu_has_bf16

    repeats, count = (1, 64) if args.quick else (5, 256)
    prefix = f"c/{args.device}/repeats={repeats}/texts={count}"
    native_bf16 = args.device == "cuda" or cpu_has_bf16()
    cases = {"query batch 1": ("query", count // 8, 1), "query batch 64": ("query", count, 64),
             "passage batch 64": ("passage", count, 64)}
    if all(f"{prefix}/{case}" in ckpt for case in [*cases, "bf16 rankings"]):
        return
    print(f"[c] encoding, {repeats} rounds of {count} texts", flush=True)
    queries = [tgt for _, tgt in bitext_pairs(args.bitext, count)]
    documents = wikiclir_documents(count)
    encoder = Encoder.load(args.model).to(args.device).eval()
    st = SentenceTransformer(args.model, device=args.device)
    st.max_seq_length = encoder.config.max_length  # the same truncation on both sides
    systems = {
        "optical fp32": lambda kind, texts, bs: encoder.encode(texts, kind=kind, batch_size=bs),
        "optical bf16": lambda kind, texts, bs: encoder.encode(texts, kind=kind, batch_size=bs, bf16=True),
        "sentence-transformers": lambda kind, texts, bs: st.encode(
            texts, prompt=encoder.config.query_prefix if kind == "query" else encoder.config.passage_prefix,
            batch_size=bs, normalize_embeddings=True, convert_to_tensor=True, show_progress_bar=False),
    }
    for warm_up in systems.values():
        warm_up("query", queries[:2], 2)
    for case, (kind, size, batch) in cases.items():
        if f"{prefix}/{case}" in ckpt:
            continue
        texts = (queries if kind == "query" else documents)[:size]
        # Emulated bfloat16 (no native support) is several times slower and nobody should pick it:
        # without native support it is timed on single queries only, to show the cost.
        names = [n for n in systems if native_bf16 or n != "optical bf16" or (kind == "query" and batch == 1)]
        samples: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(repeats):  # interleaved, so a busy machine slows every system alike
            for name in names:
                clock = Stopwatch(args.device)
                with clock(name):
                    for start in range(0, len(texts), batch):
                        systems[name](kind, texts[start:start + batch], batch)
                samples[name].append(clock.pieces[name] / len(texts))
        row = {name: median(v) for name, v in samples.items()}
        print(f"    {case}: " + ", ".join(f"{n} {v * 1000:.1f} ms/text" for n, v in row.items()), flush=True)
        ckpt.put(f"{prefix}/{case}", {"case": case, "per_text_s": row, "native_bf16": native_bf16,
                                      "repeats": repeats, "texts": len(texts)})
    if f"{prefix}/bf16 rankings" not in ckpt:
        # bfloat16's effect on rankings: each query's top 10 documents, float32 against bfloat16 queries.
        q32 = encoder.encode(queries, kind="query")
        q16 = encoder.encode(queries, kind="query", bf16=True)
        docs = encoder.encode(documents, kind="passage")
        theirs = systems["sentence-transformers"]("query", queries, 64).float().cpu()
        top32 = (q32 @ docs.T).topk(10, dim=1).indices.tolist()
        top16 = (q16 @ docs.T).topk(10, dim=1).indices.tolist()
        ckpt.put(f"{prefix}/bf16 rankings", {
            "bf16_min_cosine": float(torch.nn.functional.cosine_similarity(q32, q16).min()),
            "bf16_top10_overlap": float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top32, top16,
                                                                                            strict=True)])),
            "queries": len(queries), "documents": len(documents),
            "max_abs_diff_vs_st": float((q32 - theirs).abs().max())})


def wikiclir_documents(count: int) -> list[str]:
    path = cache_dir() / "bible" / "wikiclir" / "test" / "wiki-clir" / "english" / "wiki_en.documents"
    texts = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            texts.append(" ".join(parts[1:]))
            if len(texts) == count:
                break
    return texts


def table_c(ckpt: Checkpoint) -> list[str]:
    groups: dict[str, dict[str, dict]] = {}
    for key, row in ckpt.rows.items():
        if key.startswith("c/"):
            group, case = key.rsplit("/", 1)
            groups.setdefault(group, {})[case] = row
    lines = []
    for group, cases in sorted(groups.items()):
        timings = {case: row for case, row in cases.items() if "per_text_s" in row}
        names = list(dict.fromkeys(n for row in timings.values() for n in row["per_text_s"]))
        native = next(iter(timings.values()))["native_bf16"] if timings else False
        _, device, repeats, texts = group.split("/")
        lines += [f"## (c) Encoding ({device}, {repeats.replace('=', ' ')}, {texts.replace('=', ' ')}), "
                  "milliseconds per text", "",
                  "Median over interleaved rounds after a warm-up; e5-small, max 128 tokens on both sides; batch 1: "
                  "one text per call; Swahili Bible verses as queries, WikiCLIR-style English passages. Ratio: "
                  "sentence-transformers' time over optical float32's (above 1: optical is faster). Native "
                  "bfloat16 here: " + ("yes." if native else "no (emulated: slower; timed on single queries "
                                       "only)."),
                  "", "| case | texts | " + " | ".join(names) + " | ratio ST / optical fp32 |",
                  "|---|---:|" + "---:|" * (len(names) + 1)]
        for case, row in timings.items():
            values = row["per_text_s"]
            lines.append(f"| {case} | {row['texts']} | "
                         + " | ".join(f"{values[n] * 1000:.2f}" if n in values else "-" for n in names)
                         + f" | {ratio(values['sentence-transformers'], values['optical fp32'])} |")
        ranking = cases.get("bf16 rankings")
        if ranking:
            lines += ["", f"bfloat16 against float32 query vectors ({ranking['queries']} queries): smallest cosine "
                      f"{ranking['bf16_min_cosine']:.4f}; top-10 overlap over {ranking['documents']} documents "
                      f"{ranking['bf16_top10_overlap']:.3f}. Largest difference between optical's and "
                      f"`SentenceTransformer.encode`'s query vectors: {ranking['max_abs_diff_vs_st']:.1e}."]
        lines.append("")
    return lines


# ------------------------------------------------------------------------------------------- d: search


def section_d(ckpt: Checkpoint, args) -> None:
    sizes = QUICK_SIZES if args.quick else args.sizes
    for size in sizes:
        missing = [kind for kind in SEARCH_KINDS if f"d/{args.device}/{size}/{kind}" not in ckpt]
        if not missing:
            continue
        print(f"[d] {size} documents", flush=True)
        for kind, row in search_rows(size, args, kinds=missing).items():
            ckpt.put(f"d/{args.device}/{size}/{kind}", row)


SEARCH_KINDS = {  # name: (IndexConfig kind, its other fields)
    "brute": ("brute", {}),
    "exact": ("exact", {}),
    "exact, FAISS for every batch": ("exact", {"faiss_max_queries": 1 << 30}),
    "hnsw": ("hnsw", {}),
    "ivf": ("ivf", {}),
}


def search_rows(size: int, args, dim: int = 384, num_queries: int = 256, k: int = 100,
                kinds: list[str] | None = None) -> dict[str, dict]:
    """Build each index over ``size`` random unit vectors; time 256 queries at once and one at a time.

    Brute force always runs first: it is the truth that recall is measured against.
    """
    from optical.eval.index import DenseIndex, IndexConfig

    generator = torch.Generator().manual_seed(size)
    docs = torch.nn.functional.normalize(torch.randn(size, dim, generator=generator), dim=1)
    queries = torch.nn.functional.normalize(torch.randn(num_queries, dim, generator=generator), dim=1)
    rows: dict[str, dict] = {}
    truth = None
    for name in ["brute", *[kind for kind in (kinds or SEARCH_KINDS) if kind != "brute"]]:
        kind, options = SEARCH_KINDS[name]
        clock = Stopwatch(args.device)
        with clock("build"):
            # brute force searches from the device's copy; FAISS indexes hold theirs on the CPU
            index = DenseIndex(docs.to(args.device) if kind == "brute" else docs, IndexConfig(kind=kind, **options))
        asked = queries.to(args.device) if kind == "brute" else queries
        with clock("batch"):
            _, indices = index.search(asked, k)
        single = []
        for i in range(8):
            one = Stopwatch(args.device)
            with one("query"):
                index.search(asked[i:i + 1], k)
            single.append(one.pieces["query"])
        indices = indices.cpu()
        truth = indices if truth is None else truth
        recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(indices.tolist(), truth.tolist(),
                                                                          strict=True)]))
        rows[name] = {"size": size, "kind": name, "build_s": clock.pieces["build"], "batch_s": clock.pieces["batch"],
                      "query_s": median(single), "recall@100": recall,
                      "identical_to_brute": bool(torch.equal(indices, truth))}
        print(f"    {name}: build {rows[name]['build_s']:.1f} s, {num_queries} queries {rows[name]['batch_s']:.2f} s, "
              f"1 query {rows[name]['query_s'] * 1000:.1f} ms, recall@100 {recall:.3f}", flush=True)
    return {name: row for name, row in rows.items() if kinds is None or name in kinds}


def table_d(ckpt: Checkpoint) -> list[str]:
    rows = [r for k, r in ckpt.rows.items() if k.startswith("d/")]
    if not rows:
        return []
    brute = {r["size"]: r for r in rows if r["kind"] == "brute"}
    lines = ["## (d) Search, 256 random unit queries against N random unit documents (d = 384, k = 100)", "",
             "Random Gaussian vectors are the hard case for approximate indexes (no cluster structure). "
             "Recall@100 is against exact search; `identical` says whether the top 100 equal brute force's "
             "bit for bit (scores, documents, order). Speed-up: brute force's time over the index's. "
             "`exact` sends batches of more than 16 queries through torch's matrix product and smaller ones "
             "through FAISS `IndexFlatIP` (the same result); the next row sends every batch through FAISS. "
             "HNSW M=32, efConstruction 128, efSearch 256; IVF 4 sqrt(N) cells, nprobe 32.", "",
             "| N | index | build s | 256 queries s | 1 query ms | speed-up (256) | speed-up (1) | recall@100 | "
             "identical |", "|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in sorted(rows, key=lambda r: (r["size"], list(SEARCH_KINDS).index(r["kind"]))):
        base = brute.get(row["size"])
        lines.append(f"| {row['size']:,} | {row['kind']} | {row['build_s']:.1f} | {row['batch_s']:.3f} | "
                     f"{row['query_s'] * 1000:.1f} | {ratio(base['batch_s'], row['batch_s']) if base else '-'} | "
                     f"{ratio(base['query_s'], row['query_s']) if base else '-'} | {row['recall@100']:.3f} | "
                     f"{'yes' if row['identical_to_brute'] else 'no'} |")
    return lines + [""]


# ---------------------------------------------------------------------------------------- e: quickstart


def section_e(ckpt: Checkpoint, args) -> None:
    from optical.quickstart import QuickstartConfig

    steps = ["--steps", "10"] if args.quick else []
    key = f"e/{args.device}/{'quick' if args.quick else 'default'}/{QuickstartConfig.objective}"
    if key in ckpt:
        return
    print("[e] optical quickstart", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-quickstart-") as out:
        seconds, output = run_process([sys.executable, "-m", "optical.cli", "quickstart", "--out", out, *steps])
    table = [line for line in output.splitlines() if line.startswith("|")]
    maps = dict(re.findall(r"^\|\s*([^|]+?)\s*\|\s*([0-9.]+)\s*\|", "\n".join(table), flags=re.M))
    ckpt.put(key, {"process_s": seconds, "table": table, "map": maps, "args": steps})


def table_e(ckpt: Checkpoint) -> list[str]:
    lines = []
    for key, row in sorted(ckpt.rows.items()):
        if key.startswith("e/"):
            shown = " ".join(["optical quickstart", *row["args"]])
            lines += [f"## (e) `{shown}` end to end ({key.split('/')[1]}, default objective "
                      f"`{key.split('/')[3] if key.count('/') == 3 else 'ot+nce'}`)", "",
                      f"Process time {row['process_s']:.0f} s (a fresh output folder; data and model folders "
                      "already built). Its table:", "", *row["table"], ""]
    return lines


# ----------------------------------------------------------------------------- f: torch.compile of the student


def section_f(ckpt: Checkpoint, args) -> None:
    pairs = 320 if args.quick else 1920
    steps = pairs // args.batch_size
    for name, extra in (("eager", None), ("compile", ["--compile"])):
        key = f"f/{args.device}/{pairs}/{name}"
        if key not in ckpt:
            print(f"[f] mse, {name}: {steps} steps of {args.batch_size}", flush=True)
            ckpt.put(key, {**optical_distill_row(args, "mse", pairs, steps, extra), "pairs": pairs})


def table_f(ckpt: Checkpoint) -> list[str]:
    lines = []
    for prefix in sorted({k.rsplit("/", 1)[0] for k in ckpt.rows if k.startswith("f/")}):
        eager, compiled = ckpt.rows.get(prefix + "/eager"), ckpt.rows.get(prefix + "/compile")
        if not eager or not compiled:
            continue
        lines += [f"## (f) torch.compile of the student ({prefix.split('/')[1]}, `optical distill --objective mse`, "
                  f"{eager['pairs']} pairs, {eager['steps']} steps of 16)", "",
                  "Back to back in one run. First step: its wall time (for `--compile`, mostly compilation); "
                  "steady state: s/step over the steps after the tenth (shapes vary with the length buckets, "
                  "so a compiled run may recompile for a new shape early on). Ratio: eager over compiled "
                  "(above 1: compiling pays).", "",
                  "| run | process s | first step s | steady s/step | student tokens/s |", "|---|---:|---:|---:|---:|"]

        def steady(row: dict) -> float:
            times = row["step_seconds"]
            return (times[-1] - times[9]) / (len(times) - 10)

        for name, row in (("eager", eager), ("--compile", compiled)):
            lines.append(f"| {name} | {row['process_s']:.1f} | {row['step_seconds'][0]:.1f} | {steady(row):.2f} "
                         f"| {row['tokens_per_s']:.0f} |")
        lines += ["", f"Ratio eager / compiled: process {ratio(eager['process_s'], compiled['process_s'])}, "
                  f"steady state {ratio(steady(eager), steady(compiled))}.", ""]
    return lines


# ------------------------------------------------------------------------------------------------ main


def write(ckpt: Checkpoint, seconds: float | None) -> str:
    lines = [header("The main job at machine speed: distillation, encoding, search, quickstart", seconds)]
    conclusion = RESULTS / "pipeline_conclusion.md"
    if conclusion.exists():  # the reading of the tables below, written by hand after a run
        lines.append(conclusion.read_text().strip() + "\n")
    invocations = ckpt.rows.get("invocations", {}).get("commands", [])
    if invocations:
        lines.append("The rows were computed by these resumable invocations (one JSON checkpoint, "
                     "benchmarks/results/pipeline.json):\n\n" + "\n".join(f"- `{c}`" for c in invocations) + "\n")
    for table in (table_a, table_b, table_c, table_d, table_e, table_f):
        lines += table(ckpt)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=SECTIONS, help="sections to run, e.g. a,c,d (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes): a smoke run")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--model", default=str(cache_dir("models") / "multilingual-e5-small"))
    parser.add_argument("--bitext", type=Path, default=cache_dir() / "bible" / "bitext" / "en-sw.tsv")
    parser.add_argument("--pairs", type=int, default=1920, help="bitext pairs that section a draws from")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--name", default="pipeline", help="results file stem")
    parser.add_argument("--fresh", action="store_true", help="ignore the checkpoint")
    parser.add_argument("--st-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    args.device, args.precision, args.sizes = preset["device"], preset["precision"], preset["sizes"]
    args.only = [s for s in args.only.replace(",", "") if s in SECTIONS]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.st_worker:
        print("ST-RESULT " + json.dumps(st_worker(json.loads(args.st_worker))), flush=True)
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--preset gpu: no CUDA device here")
    ckpt = Checkpoint(RESULTS / f"{args.name}.json", fresh=args.fresh)
    invocations = ckpt.rows.get("invocations", {}).get("commands", [])
    ckpt.put("invocations", {"commands": [*invocations, f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
                                                        f"{command()}"]})
    started = time.perf_counter()
    sections = {"a": section_a, "b": section_b, "c": section_c, "d": section_d, "e": section_e, "f": section_f}
    for name in args.only:
        sections[name](ckpt, args)
        (RESULTS / f"{args.name}.md").write_text(write(ckpt, None))
    (RESULTS / f"{args.name}.md").write_text(write(ckpt, time.perf_counter() - started))
    print(f"wrote {RESULTS / f'{args.name}.md'}")


if __name__ == "__main__":
    main()
