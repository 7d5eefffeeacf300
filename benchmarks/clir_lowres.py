"""OPTICAL's claims, offline: low- vs high-resource CLIR on the WikiCLIR-style Bible collection.

Queries in Swahili, Tagalog, Bengali (low-resource) and French, German, Chinese (high-resource),
English documents, MAP and nDCG@10 per language on the test split.  Systems:

- zero-shot student (the student model on the foreign query), BM25 on the foreign query, and for
  Swahili a dictionary translation (FreeDict, word by word) searched with BM25 and with the teacher;
- students distilled on English-X bitext from the frozen teacher, one per objective under the
  same budget: sentence-level ``mse`` (Reimers & Gurevych 2020), contrastive ``nce``, OPTICAL's
  token-level ``ot``, and ``ot+mse``, ``ot+nce``; the ``ot`` students are scored by pooled vectors
  and by MaxSim late interaction over the teacher's document tokens (top 100 re-ranked);
- the ceiling: the teacher given the English (KJV) version of each query.

Two regimes: (a) multilingual-e5-small as teacher and student (a student that already knows the
languages, the paper's same-backbone setting); (b) all-MiniLM-L6-v2, an English-only model,
distilled from its own English self (a student that does not know the language).  One student
per objective and regime is trained on a mixture of the six languages' bitext (equal shares,
round-robin), so the budget covers all languages.

Also: a learning curve over Swahili bitext size (one epoch each) in regime (b), the share of a
training step spent in the transport solve, query-encoding latency and memory, and model size
(multilingual-e5-small truncated to 4 and 8 layers as students of the full model).  Every unit
of work is a row of ``benchmarks/results/clir_lowres.json``; rerun the same command to resume.
Hyperparameters are fixed in advance (lr, eps, temperature and steps from the Swahili dev trial,
``benchmarks/distill_trial.py``); nothing is selected on the test split.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import RESULTS, Checkpoint, PeakMemory, header  # noqa: E402

from optical.cache import cache_dir  # noqa: E402
from optical.eval.collections import WikiClirSource  # noqa: E402
from optical.eval.evaluator import System, run_evaluation  # noqa: E402
from optical.eval.retrievers import BM25Retriever, DenseRetriever, Retriever, load_encoder  # noqa: E402
from optical.eval.significance import adjust_p_values, paired_t_test  # noqa: E402

LOW, HIGH = ("sw", "tl", "bn"), ("fr", "de", "zh")
LANGS = LOW + HIGH
OBJECTIVES = ("mse", "nce", "ot", "ot+mse", "ot+nce")
BASELINES = ("zero-shot", "bm25", "mse", "nce")
MEASURES = ("AP", "nDCG@10")
NAMES = {"a": "multilingual-e5-small -> itself", "b": "all-MiniLM-L6-v2 (English) -> itself"}


def model_paths() -> dict[str, str]:
    from data_recipes.models import student_path, teacher_path

    return {"a": str(student_path()), "b": str(teacher_path())}


def mixed_bitext(bitext_dir: Path, langs: tuple[str, ...], pairs: int) -> Path:
    """``pairs`` English-X pairs, the first ``pairs / len(langs)`` of each language, round-robin."""
    path = cache_dir("bench", "clir_lowres") / f"en-mul-{'-'.join(langs)}-{pairs}.tsv"
    if path.exists():
        return path
    share = pairs // len(langs)
    columns = []
    for lang in langs:
        with open(bitext_dir / f"en-{lang}.tsv", encoding="utf-8") as handle:
            columns.append([next(handle) for _ in range(share)])
    staging = path.with_suffix(".tmp")
    with open(staging, "w", encoding="utf-8") as handle:
        for row in zip(*columns, strict=True):
            handle.writelines(row)
    staging.replace(path)
    return path


def distil(name: str, teacher: str, student: str, bitext: Path, pairs: int, steps: int, args, *,
           freeze: bool, lang: str = "mul", objective: str = "ot+nce") -> tuple[Path, float]:
    from optical.distill.run import DistillConfig, distill

    out = cache_dir("runs", f"clir-{name}".replace("+", "_").replace("/", "-"))
    config = DistillConfig(
        out=str(out), teacher=teacher, student=student, bitext=str(bitext), tgt_lang=lang, max_pairs=pairs,
        objective=objective, steps=steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        checkpoint_every=25, max_length=64, freeze_embeddings=freeze, quiet=True, log_every=25,
    )
    print(f"[{name}] distilling {steps} steps ({objective}, {pairs} pairs) -> {out}", flush=True)
    result = distill(config)
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return out / "model", result.seconds / 60


def evaluate(name: str, retriever: Retriever, source: WikiClirSource, query_source: str = "native") -> dict:
    report = run_evaluation(source, [System(name, retriever, query_source)], list(MEASURES))
    row: dict = {"per_lang": {}, "per_query": {}}
    for result in report.rows(name, "cross"):
        row["per_lang"][result.query_lang] = dict(result.evaluation.aggregates)
        row["per_query"][result.query_lang] = dict(result.evaluation.per_query["AP"])
    return row


DOC_TOKENS: dict[str, dict] = {}  # MaxSim document token states per document encoder, shared by systems


def geometry(teacher: str, student: str, bitext_dir: Path, langs=("sw", "bn", "fr"), pairs: int = 300) -> dict:
    """Dev-bitext P@1, parallel cosine and the student's pairwise cosine (collapse) per language."""
    from optical.distill.run import bitext_check, read_pairs

    return {lang: bitext_check(load_encoder(teacher), load_encoder(student),
                               read_pairs(str(bitext_dir / f"en-{lang}.dev.tsv"), "en", lang, pairs))
            for lang in langs}


def dense(query: str, docs: str, rerank: bool = False) -> DenseRetriever:
    return DenseRetriever(load_encoder(query), load_encoder(docs), rerank_depth=100 if rerank else None,
                          doc_token_cache=DOC_TOKENS.setdefault(docs, {}))


def translated_queries(source: WikiClirSource) -> Path:
    """Swahili queries translated word by word with FreeDict (built by ``python -m data_recipes.freedict``)."""
    from optical.data.dictionary import read_dictionary, translate

    dictionary_path = cache_dir("dictionaries", create=False) / "swh-eng.tsv"
    if not dictionary_path.exists():
        from data_recipes.freedict import main as build_dictionary

        build_dictionary([])
    dictionary = read_dictionary(dictionary_path)
    queries = source.queries_in("sw")
    path = cache_dir("bench", "clir_lowres") / f"sw-freedict-{len(queries)}.tsv"
    with open(path, "w", encoding="utf-8") as handle:
        for qid, text in zip(queries.ids, queries.texts, strict=True):
            handle.write(f"{qid}\t{translate(text, dictionary)}\n")
    return path


def truncated_model(path: str, layers: int) -> str:
    """``path`` with only its first ``layers`` transformer layers, saved once into the cache."""
    from optical.models import Encoder

    out = cache_dir("models", create=False) / f"{Path(path).name}-{layers}layers"
    if (out / "optical_encoder.json").exists():
        return str(out)
    encoder = Encoder.load(path)
    encoder.model.encoder.layer = encoder.model.encoder.layer[:layers]
    encoder.model.config.num_hidden_layers = layers
    encoder.save(out)
    return str(out)


def ot_share(teacher: str, student: str, bitext: Path, args, steps: int = 8) -> dict:
    """Seconds per training step of ``ot+nce`` and the part spent in the transport solve."""
    import optical.distill.ot as ot_module
    from optical.distill.run import DistillConfig, build_objective, load_encoders, make_step, read_pairs

    config = DistillConfig(teacher=teacher, student=student, bitext=str(bitext), objective="ot+nce", max_length=64)
    teacher_encoder, student_encoder = load_encoders(config)
    teacher_encoder.requires_grad_(False).eval()
    pairs = read_pairs(str(bitext), "en", "mul", args.batch_size * (steps + 2))
    objective = build_objective(config, teacher_encoder, student_encoder, pairs)
    step = make_step(teacher_encoder, student_encoder, objective, pairs)
    solve_seconds = [0.0]
    original = ot_module.sinkhorn

    def timed(*a, **k):
        started = time.perf_counter()
        plan = original(*a, **k)
        solve_seconds[0] += time.perf_counter() - started
        return plan

    ot_module.sinkhorn = timed
    parameters = [p for p in student_encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=1e-6)
    student_encoder.train()
    try:
        total = 0.0
        for index in range(steps + 2):
            if index == 2:  # two warm-up steps
                total, solve_seconds[0] = 0.0, 0.0
            started = time.perf_counter()
            batch = [(index * args.batch_size + j) % len(pairs) for j in range(args.batch_size)]
            step(student_encoder, batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            total += time.perf_counter() - started
    finally:
        ot_module.sinkhorn = original
    return {"step_seconds": total / steps, "solve_seconds": solve_seconds[0] / steps,
            "share": solve_seconds[0] / total}


def latency(path: str, texts: list[str]) -> dict:
    """Query-encoding latency (ms per query at batch 1 and batch 64) and peak memory."""
    from optical.models import Encoder

    with PeakMemory() as load_memory:
        encoder = Encoder.load(path).eval()
    parameters = sum(p.numel() for p in encoder.parameters())
    encoder.encode(texts[:8], batch_size=8)  # warm-up
    started = time.perf_counter()
    for text in texts[:32]:
        encoder.encode([text], batch_size=1)
    single = (time.perf_counter() - started) / 32 * 1e3
    with PeakMemory() as encode_memory:
        started = time.perf_counter()
        encoder.encode(texts[:256], batch_size=64)
        batched = (time.perf_counter() - started) / len(texts[:256]) * 1e3
    return {"ms_batch1": single, "ms_batch64": batched, "parameters_m": parameters / 1e6,
            "load_mb": load_memory.megabytes, "encode_peak_mb": encode_memory.megabytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--pairs", type=int, default=1600, help="bitext pairs of the mixture (equal per language)")
    parser.add_argument("--regimes", nargs="+", default=["a", "b"], choices=("a", "b"))
    parser.add_argument("--curve", type=int, nargs="+", default=[500, 2000, 8000], help="sw bitext sizes, regime b")
    parser.add_argument("--curve-objectives", nargs="+", default=["ot+nce"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8], help="e5 layers kept (model size)")
    parser.add_argument("--split", default="test", choices=("dev", "test"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="run only rows whose key starts with one of these")
    parser.add_argument("--name", default="clir_lowres")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    bible = cache_dir("bible", create=False)
    bitext_dir, collection = bible / "bitext", bible / "wikiclir" / args.split
    if not (collection / "manifest.json").exists():
        raise SystemExit(f"{collection} is missing: run `python -m data_recipes.build --all`")
    models = model_paths()
    ckpt = Checkpoint(RESULTS / f"{args.name}.json", fresh=args.fresh)
    source = WikiClirSource(collection, LANGS)
    sw_source = WikiClirSource(collection, ["sw"])
    task = sw_source.tasks()[0]
    args.counts = (len(task.queries), len(task.document_ids))
    mixture = mixed_bitext(bitext_dir, LANGS, args.pairs)
    started = time.perf_counter()
    from _machine import command

    invocations = ckpt.rows.get("invocations", {}).get("commands", [])
    ckpt.put("invocations", {"commands": [*invocations, f"{time.strftime('%H:%M UTC', time.gmtime())} {command()}"]})

    def want(key: str) -> bool:
        return key not in ckpt and (args.only is None or any(key.startswith(p) for p in args.only))

    def put(key: str, row: dict) -> None:
        ckpt.put(key, row)
        write(ckpt, args, started)

    for regime in args.regimes:
        model = models[regime]
        if want(f"{regime}/zero-shot"):
            put(f"{regime}/zero-shot", {**evaluate("zero-shot", dense(model, model), source),
                                        "geometry": geometry(model, model, bitext_dir)})
        if want(f"{regime}/ceiling"):
            put(f"{regime}/ceiling", evaluate("ceiling", dense(model, model), source, query_source="en"))
        if regime == args.regimes[0]:
            if want("bm25"):
                put("bm25", evaluate("bm25", BM25Retriever(), source))
            if want("dict/bm25") or want(f"{regime}/dict"):
                queries = translated_queries(sw_source)
                if want("dict/bm25"):
                    put("dict/bm25", evaluate("dict-bm25", BM25Retriever(), sw_source, query_source=str(queries)))
        if want(f"{regime}/dict"):
            put(f"{regime}/dict", evaluate("dict-dense", dense(model, model), sw_source,
                                           query_source=str(translated_queries(sw_source))))
        for objective in OBJECTIVES:
            key = f"{regime}/{objective}"
            if want(key):
                student, minutes = distil(f"{regime}-{objective}-s{args.steps}", model, model, mixture, args.pairs,
                                          args.steps, args, freeze=regime == "a", objective=objective)
                row = evaluate(objective, dense(str(student), model), source)
                put(key, {**row, "minutes": minutes, "student": str(student),
                          "geometry": geometry(model, str(student), bitext_dir)})
            if objective.startswith("ot") and want(f"{key}/maxsim") and key in ckpt:
                put(f"{key}/maxsim", evaluate(f"{objective} maxsim", dense(ckpt[key]["student"], model, True), source))
    for regime in args.regimes:
        key = f"efficiency/{regime}"
        if want(key):
            model = models[regime]
            queries = list(source.queries_in("sw").texts)
            english = list(source.queries_in("en").texts)
            put(key, {"student": latency(model, queries), "teacher": latency(model, english),
                      "ot": ot_share(model, model, mixture, args)})
    if "a" in args.regimes:
        model = models["a"]
        for layers in args.sizes:
            small = truncated_model(model, layers)
            if want(f"size/{layers}/zero-shot"):
                put(f"size/{layers}/zero-shot", evaluate("zero-shot", dense(small, model), source))
            for objective in ("nce", "ot+nce"):
                key = f"size/{layers}/{objective}"
                if want(key):
                    student, minutes = distil(f"a{layers}-{objective}-s{args.steps}", model, small, mixture,
                                              args.pairs, args.steps, args, freeze=True, objective=objective)
                    put(key, {**evaluate(objective, dense(str(student), model), source), "minutes": minutes})
    if "b" in args.regimes:
        model = models["b"]
        for objective in args.curve_objectives:
            for pairs in args.curve:
                key = f"curve/{objective}/{pairs}"
                if want(key):
                    steps = max(1, pairs // args.batch_size)  # one epoch over the pairs
                    student, minutes = distil(f"b-sw-{objective}-{pairs}", model, model,
                                              bitext_dir / "en-sw.tsv", pairs, steps, args, freeze=False,
                                              lang="sw", objective=objective)
                    put(key, {**evaluate(objective, dense(str(student), model), sw_source), "minutes": minutes,
                              "steps": steps})
    if args.only is None or any(p.startswith("plots") for p in args.only):
        ckpt.put("plots", {"files": plots(ckpt, models, bitext_dir)})
    wall = ckpt.rows.get("wall", {}).get("seconds", 0.0) + time.perf_counter() - started
    ckpt.put("wall", {"seconds": wall})
    print(write(ckpt, args, None))


def map_table(ckpt: Checkpoint, regime: str) -> dict[str, dict[str, float]]:
    table = {}
    for name in ("zero-shot", "bm25", "mse", "nce", "ot", "ot+nce", "ceiling"):
        key = name if name == "bm25" else f"{regime}/{name}"
        if key in ckpt:
            per = ckpt[key]["per_lang"]
            table[name] = {lang: per[lang]["AP"] for lang in LANGS if lang in per}
    return table


def plots(ckpt: Checkpoint, models: dict[str, str], bitext_dir: Path) -> list[str]:
    from optical.align import AlignConfig, align
    from optical.models import Encoder
    from optical.plots import plot_learning_curve, plot_map_bars

    files = []
    for regime in ("a", "b"):
        table = map_table(ckpt, regime)
        if table:
            files.append(str(plot_map_bars(table, RESULTS / f"clir_lowres_map_{regime}.png",
                                           title=f"MAP per query language, regime ({regime}): {NAMES[regime]}")))
    curves = {}
    for key, row in ckpt.rows.items():
        if key.startswith("curve/"):
            _, objective, pairs = key.split("/")
            curves.setdefault(objective, []).append((int(pairs), row["per_lang"]["sw"]["AP"]))
    if curves:
        baselines = {f"{n} (regime b)": ckpt[f"b/{n}"]["per_lang"]["sw"]["AP"] for n in ("zero-shot", "ceiling")
                     if f"b/{n}" in ckpt}
        files.append(str(plot_learning_curve({k: sorted(v) for k, v in curves.items()},
                                             RESULTS / "clir_lowres_curve.png", ylabel="MAP (sw, test)",
                                             baselines=baselines)))
    student_key = "a/ot+nce"
    if student_key in ckpt:
        with open(bitext_dir / "en-sw.dev.tsv", encoding="utf-8") as handle:
            pairs = [next(handle).rstrip("\n").split("\t") for _ in range(100)]
        # A short pair keeps the heat map readable.
        english, swahili = min(pairs, key=lambda pair: abs(len(pair[0].split()) - 10))
        teacher = Encoder.load(models["a"])
        student = Encoder.load(ckpt[student_key]["student"])
        for label, encoder in (("zero-shot", teacher), ("ot+nce", student)):
            out = RESULTS / f"clir_lowres_align_{label.replace('+', '_')}.png"
            align(AlignConfig(source=english, target=swahili, teacher=models["a"], out=str(out)),
                  teacher=teacher, student=encoder)
            files.append(str(out))
    return files


def significance(ckpt: Checkpoint, key: str, against: str) -> dict[str, tuple[float, float]]:
    """Per language: (mean AP difference, Holm-adjusted p over the languages both have)."""
    if key not in ckpt or against not in ckpt:
        return {}
    a, b = ckpt[key]["per_query"], ckpt[against]["per_query"]
    langs = [lang for lang in LANGS if lang in a and lang in b]
    tests = [paired_t_test(a[lang], b[lang]) for lang in langs]
    adjusted = adjust_p_values([t.p_value for t in tests], "holm") if tests else []
    return {lang: (t.mean_difference, p) for lang, t, p in zip(langs, tests, adjusted, strict=True)}


def write(ckpt: Checkpoint, args, started: float | None) -> str:
    wall = ckpt.rows.get("wall", {}).get("seconds", 0.0)
    if started is not None:
        wall += time.perf_counter() - started
    lines = [header("OPTICAL offline: CLIR from low- and high-resource query languages to English", wall)]
    invocations = ckpt.rows.get("invocations", {}).get("commands", [])
    if invocations:
        lines.append("The rows were computed by these resumable invocations (same JSON checkpoint; the wall time "
                     "counts only invocations that ran to the end):\n\n"
                     + "\n".join(f"- `{c}`" for c in invocations) + "\n")
    lines.append(
        f"Collection: the WikiCLIR-style Bible collection, {args.split} split ({args.counts[0]} queries per language, "
        f"the same verses in each; {args.counts[1]:,} English documents; relevance from cross-references). "
        f"Distillation: "
        f"{args.steps} steps of {args.batch_size} pairs (AdamW lr {args.lr}, 10% warm-up, linear decay, max 64 "
        f"tokens, OT eps 0.05, nce temperature 0.05, sums weighted 1:1, seed {args.seed}) on {args.pairs} English-X "
        f"pairs, {args.pairs // len(LANGS)} per language (sw tl bn fr de zh, round-robin), one student per objective "
        f"and regime; the teacher is frozen and encodes the documents. Regime (a) keeps the embedding tables fixed "
        f"(a 250k-token vocabulary: faster steps, no forgetting of unseen tokens); regime (b) trains them (the "
        f"student must learn new words). Nothing was tuned on this split: lr, eps, temperature and batch come from "
        f"the Swahili dev trial (benchmarks/distill_trial.py). † differs from the zero-shot student, ‡ from the "
        f"best baseline (both paired t-tests on per-query AP, Holm across the languages, alpha 0.05).\n")
    for regime in ("a", "b"):
        if f"{regime}/zero-shot" not in ckpt:
            continue
        lines += table(ckpt, regime)
    lines += extras(ckpt, args)
    text = "\n".join(lines) + "\n"
    (RESULTS / f"{args.name}.md").write_text(text)
    return text


def _macro(values: list[float]) -> str:
    return f"{np.mean(values):.3f}" if values else ""


def table(ckpt: Checkpoint, regime: str) -> list[str]:
    rows = [("zero-shot student", f"{regime}/zero-shot"), ("BM25, foreign query", "bm25"),
            ("dictionary (FreeDict) + BM25", "dict/bm25"), ("dictionary (FreeDict) + dense teacher", f"{regime}/dict")]
    rows += [(f"distilled: {o}", f"{regime}/{o}") for o in OBJECTIVES]
    rows += [(f"distilled: {o}, MaxSim", f"{regime}/{o}/maxsim") for o in OBJECTIVES if o.startswith("ot")]
    rows += [("ceiling: teacher, English query", f"{regime}/ceiling")]
    baselines = [k for k in (f"{regime}/zero-shot", "bm25", f"{regime}/mse", f"{regime}/nce") if k in ckpt]
    best = max(baselines, key=lambda k: np.mean([ckpt[k]["per_lang"][x]["AP"] for x in ckpt[k]["per_lang"]]))
    lines = [f"## Regime ({regime}): {NAMES[regime]}", "",
             f"Best baseline by macro MAP (‡): `{best}`.", ""]
    for measure, label in (("AP", "MAP"), ("nDCG@10", "nDCG@10")):
        lines += [f"### {label}", "", "| system | " + " | ".join(LANGS) + " | low macro | high macro | macro | "
                  "high - low |", "|---|" + "---:|" * (len(LANGS) + 4)]
        for name, key in rows:
            if key not in ckpt:
                continue
            per = ckpt[key]["per_lang"]
            vs_zero = significance(ckpt, key, f"{regime}/zero-shot") if key != f"{regime}/zero-shot" else {}
            vs_best = significance(ckpt, key, best) if key != best else {}
            cells = []
            for lang in LANGS:
                if lang not in per:
                    cells.append("")
                    continue
                cell = f"{per[lang][measure]:.3f}"
                if measure == "AP":
                    cell += "†" if lang in vs_zero and vs_zero[lang][1] < 0.05 else ""
                    cell += "‡" if lang in vs_best and vs_best[lang][1] < 0.05 else ""
                cells.append(cell)
            low = [per[x][measure] for x in LOW if x in per]
            high = [per[x][measure] for x in HIGH if x in per]
            gap = f"{np.mean(high) - np.mean(low):+.3f}" if low and high else ""
            minutes = f" ({ckpt[key]['minutes']:.0f} min)" if "minutes" in ckpt[key] else ""
            lines.append(f"| {name}{minutes} | " + " | ".join(cells) + f" | {_macro(low)} | {_macro(high)} | "
                         f"{_macro(low + high) if low and high else ''} | {gap} |")
        lines.append("")
    return lines


def extras(ckpt: Checkpoint, args) -> list[str]:
    lines = []
    for regime in ("a", "b"):
        keys = [k for k in (f"{regime}/zero-shot", *[f"{regime}/{o}" for o in OBJECTIVES])
                if k in ckpt and "geometry" in ckpt[k]]
        if not keys:
            continue
        langs = list(ckpt[keys[0]]["geometry"])
        lines += [f"## What the students learned, regime ({regime}): 300 dev bitext pairs per language", "",
                  "bitext P@1 (each foreign verse among the 300 English ones, by the teacher) / mean parallel cosine "
                  "/ mean pairwise cosine of the student's foreign vectors (a rise means queries collapse toward "
                  "one direction).", "",
                  "| student | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
        for key in keys:
            cells = [f"{g['bitext_p@1']:.3f} / {g['parallel_cosine']:.3f} / {g['student_pairwise_cosine']:.3f}"
                     for g in (ckpt[key]["geometry"][lang] for lang in langs)]
            lines.append(f"| {key.split('/', 1)[1]} | " + " | ".join(cells) + " |")
        lines.append("")
    sizes = sorted({int(k.split("/")[1]) for k in ckpt.rows if k.startswith("size/")})
    if sizes:
        lines += ["## Model size: multilingual-e5-small truncated, distilled from the full model (MAP)", "",
                  "Students keep the first k of 12 layers; the teacher (all 12) encodes the documents. The 12-layer "
                  "rows are regime (a)'s.", "",
                  "| layers | system | low macro | high macro | high - low |", "|---:|---|---:|---:|---:|"]
        for layers in [*sizes, 12]:
            for objective in ("zero-shot", "nce", "ot+nce"):
                key = f"size/{layers}/{objective}" if layers != 12 else f"a/{objective}"
                if key not in ckpt:
                    continue
                per = ckpt[key]["per_lang"]
                low, high = np.mean([per[x]["AP"] for x in LOW]), np.mean([per[x]["AP"] for x in HIGH])
                lines.append(f"| {layers} | {objective} | {low:.3f} | {high:.3f} | {high - low:+.3f} |")
        lines.append("")
    curve = sorted((k for k in ckpt.rows if k.startswith("curve/")), key=lambda k: (k.split("/")[1],
                                                                                    int(k.split("/")[2])))
    if curve:
        lines += ["## Learning curve: Swahili bitext size, regime (b) (one epoch over each size; sw test MAP)", "",
                  "| objective | pairs | steps | MAP | nDCG@10 | minutes |", "|---|---:|---:|---:|---:|---:|"]
        for key in curve:
            _, objective, pairs = key.split("/")
            row = ckpt[key]
            lines.append(f"| {objective} | {pairs} | {row['steps']} | {row['per_lang']['sw']['AP']:.3f} | "
                         f"{row['per_lang']['sw']['nDCG@10']:.3f} | {row['minutes']:.1f} |")
        for name in ("zero-shot", "ceiling"):
            if f"b/{name}" in ckpt:
                lines.append(f"| {name} (regime b) | | | {ckpt[f'b/{name}']['per_lang']['sw']['AP']:.3f} | "
                             f"{ckpt[f'b/{name}']['per_lang']['sw']['nDCG@10']:.3f} | |")
        lines.append("")
    effic = [k for k in ckpt.rows if k.startswith("efficiency/")]
    if effic:
        lines += ["## Efficiency (this CPU)", "",
                  "Query encoding: 32 Swahili test queries one at a time (batch 1) and 256 at batch 64 (student), "
                  "the English versions for the teacher; peak resident memory above the start while loading and "
                  "while encoding. Training: seconds per ot+nce step (batch as above, after 2 warm-up steps, mean "
                  "of 8) and the part inside the Sinkhorn solve.", "",
                  "| regime | model | parameters (M) | ms/query, batch 1 | ms/query, batch 64 | RSS after load, MB "
                  "| RSS peak while encoding, MB |", "|---|---|---:|---:|---:|---:|---:|"]
        for key in effic:
            regime = key.split("/")[1]
            for side in ("student", "teacher"):
                row = ckpt[key][side]
                lines.append(f"| {regime} | {side} | {row['parameters_m']:.0f} | {row['ms_batch1']:.1f} | "
                             f"{row['ms_batch64']:.1f} | {row['load_mb']:.0f} | {row['encode_peak_mb']:.0f} |")
        lines += ["", "| regime | s/step (ot+nce) | s in Sinkhorn | share |", "|---|---:|---:|---:|"]
        for key in effic:
            row = ckpt[key]["ot"]
            lines.append(f"| {key.split('/')[1]} | {row['step_seconds']:.2f} | {row['solve_seconds']:.3f} | "
                         f"{row['share']:.1%} |")
        lines.append("")
    if "plots" in ckpt:
        lines += ["## Figures", ""] + [f"- `{Path(f).name}`" for f in ckpt["plots"]["files"]] + [""]
    return lines


if __name__ == "__main__":
    main()
