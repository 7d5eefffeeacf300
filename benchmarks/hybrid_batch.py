"""Hybrid batch training (Elmahdy et al., arXiv 2408.10536) on the XQuAD-R-style held-out set.

One shared dual encoder (multilingual-e5-small) is fine-tuned with InfoNCE on the recipes'
mMARCO-style triplets (7 languages, BM25-mined hard negatives) under one budget per run:

- ``mono`` (alpha = 1: every batch in one language), ``cross`` (alpha = 0: each triplet's query
  and passages in two different languages), ``hybrid`` (alpha = 0.5), and alpha 0.25 and 0.75;
- ``hybrid+ot``: hybrid (alpha = 0.5) plus the distiller's OT loss on parallel queries, each
  non-English query's tokens transported onto a frozen copy's tokens of its English version.

Each model is then evaluated on the XQuAD-R-style set (all 7 languages, every query and
candidate in each): monolingual (X->X), cross-lingual (X->Y, all 42 ordered pairs) and
multilingual (X -> the pooled candidates of all languages) retrieval with MAP, R@1 and R@10, and
language bias as the mean rank distance in the pooled ranking.  Paired t-tests against ``mono``
on per-query AP averaged over a setting's language rows (Holm across the runs).

Hyperparameters are fixed in advance, not tuned (no dev split is used for selection): the
paper's loss and temperature, a budget that fits this CPU (``--preset cpu``: about an hour on
two cores) or a GPU (``--preset gpu``, untested here).  Every training run checkpoints and
every finished run is recorded in ``benchmarks/results/hybrid_batch.json``: rerun the same
command to resume.  Needs ``python -m data_recipes.build --all`` and ``python -m data_recipes.models``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import RESULTS, Checkpoint, header  # noqa: E402

from optical.cache import cache_dir  # noqa: E402
from optical.eval.collections import ParallelSource  # noqa: E402
from optical.eval.evaluator import System, run_evaluation  # noqa: E402
from optical.eval.retrievers import DenseRetriever, load_encoder  # noqa: E402
from optical.eval.significance import adjust_p_values, paired_t_test  # noqa: E402
from optical.hybrid.run import HybridConfig, train_hybrid  # noqa: E402

PRESETS = {
    # steps, batch, lr, max_length, freeze embeddings
    "cpu": dict(steps=50, batch_size=16, lr=5e-5, max_length=96, freeze_embeddings=True),
    "gpu": dict(steps=2000, batch_size=64, lr=2e-5, max_length=256, freeze_embeddings=False),
}
SETTINGS = ("mono", "cross", "multi")
MEASURES = ("AP", "R@1", "R@10")


def runs(alphas: list[float], ot_weight: float) -> dict[str, dict]:
    """Run name -> HybridConfig overrides."""
    table: dict[str, dict] = {}
    for alpha in alphas:
        if alpha == 1.0:
            table["mono"] = dict(mode="mono", alpha=1.0)
        elif alpha == 0.0:
            table["cross"] = dict(mode="cross", alpha=0.0)
        elif alpha == 0.5:
            table["hybrid"] = dict(mode="hybrid", alpha=0.5)
        else:
            table[f"hybrid a={alpha:g}"] = dict(mode="hybrid", alpha=alpha)
    if ot_weight > 0:
        table["hybrid+ot"] = dict(mode="hybrid", alpha=0.5, ot_weight=ot_weight)
    return table


def evaluate_model(name: str, path: str, source: ParallelSource) -> dict:
    encoder = load_encoder(path)
    retriever = DenseRetriever(encoder, encoder, name=name)
    report = run_evaluation(source, [System(name, retriever)], list(MEASURES), settings=SETTINGS)
    row: dict = {"macro": {s: report.macro(name, s) for s in SETTINGS}, "per_query_ap": {}, "per_label": {}}
    for setting in SETTINGS:
        rows = report.rows(name, setting)
        row["per_label"][setting] = {r.label: r.evaluation.aggregates["AP"] for r in rows}
        # Each query's AP averaged over the setting's language rows: one paired value per query.
        qids = sorted({q for r in rows for q in r.evaluation.per_query["AP"]})
        row["per_query_ap"][setting] = {
            q: float(np.mean([r.evaluation.per_query["AP"].get(q, 0.0) for r in rows])) for q in qids}
    row["rank_distance"] = report.bias.get(name, {})
    row["seconds"] = report.info["seconds"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--alphas", type=float, nargs="+", default=[1.0, 0.0, 0.5, 0.25, 0.75])
    parser.add_argument("--ot-weight", type=float, default=1.0, help="hybrid+ot run (0: skip it)")
    parser.add_argument("--split", default="test", choices=("dev", "test"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep each run's checkpoint.pt")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--name", default="hybrid_batch", help="results file name (benchmarks/results/<name>.md)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    from data_recipes.models import student_path

    preset = dict(PRESETS[args.preset])
    for key in ("steps", "batch_size", "lr"):
        if getattr(args, key) is not None:
            preset[key] = getattr(args, key)
    model = str(student_path())
    bible = cache_dir("bible", create=False)
    collection, heldout = bible / "mmarco", bible / "xquadr" / args.split
    for needed in (collection / "triples.train.ids.tsv", heldout / "qrels.tsv"):
        if not needed.exists():
            raise SystemExit(f"{needed} is missing: run `python -m data_recipes.build --all`")
    ckpt = Checkpoint(RESULTS / f"{args.name}.json", fresh=args.fresh)
    source = ParallelSource(heldout, layout="xquadr")
    started = time.perf_counter()
    tag = f"{args.preset}-s{preset['steps']}-b{preset['batch_size']}-seed{args.seed}"
    if "zero-shot" not in ckpt:
        ckpt.put("zero-shot", {"eval": evaluate_model("zero-shot", model, source), "minutes": 0.0})
    plan = runs(args.alphas, args.ot_weight)
    for name, overrides in plan.items():
        if name in ckpt:
            continue
        out = cache_dir("runs", f"hybrid-{tag}-{name.replace(' ', '').replace('=', '').replace('+', '_')}")
        config = HybridConfig(out=str(out), model=model, collection=str(collection), seed=args.seed,
                              checkpoint_every=10, quiet=True, temperature=0.05, **preset, **overrides)
        print(f"[{name}] training {preset['steps']} steps -> {out}", flush=True)
        result = train_hybrid(config)
        mono_share = float(np.mean([h["mono"] for h in result.history]))
        print(f"[{name}] trained in {result.seconds / 60:.1f} min; evaluating on {heldout}", flush=True)
        row = {"eval": evaluate_model(name, str(out / "model"), source), "minutes": result.seconds / 60,
               "mono_batches": mono_share, "final_loss": float(np.mean([h["loss"] for h in result.history[-10:]])),
               "overrides": overrides, "out": str(out)}
        if any("ot" in h for h in result.history[-10:]):
            row["final_ot"] = float(np.mean([h["ot"] for h in result.history[-10:] if "ot" in h]))
        ckpt.put(name, row)
        if not args.keep_checkpoints:
            (out / "checkpoint.pt").unlink(missing_ok=True)
    wall = ckpt.rows.get("wall", {}).get("seconds", 0.0) + time.perf_counter() - started
    ckpt.put("wall", {"seconds": wall})
    text = render(ckpt, plan, preset, args, heldout, wall)
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


def significance(ckpt: Checkpoint, names: list[str], baseline: str) -> dict[str, dict[str, tuple[float, float]]]:
    """{name: {setting: (mean difference, Holm-adjusted p)}} against ``baseline``, per setting."""
    tests: dict[str, dict[str, tuple[float, float]]] = {n: {} for n in names if n != baseline}
    for setting in SETTINGS:
        base = ckpt[baseline]["eval"]["per_query_ap"][setting]
        raw = {n: paired_t_test(ckpt[n]["eval"]["per_query_ap"][setting], base) for n in tests}
        adjusted = adjust_p_values([raw[n].p_value for n in tests], "holm")
        for n, p in zip(tests, adjusted, strict=True):
            tests[n][setting] = (raw[n].mean_difference, p)
    return tests


def render(ckpt: Checkpoint, plan: dict, preset: dict, args, heldout: Path, wall: float) -> str:
    names = ["zero-shot", *[n for n in plan if n in ckpt]]
    lines = [header("Hybrid batch training: mono vs cross vs hybrid batches (XQuAD-R-style, multilingual-e5-small)",
                    wall)]
    first = next((ckpt[n] for n in plan if n in ckpt), None)
    lines.append(
        f"Training: multilingual-e5-small fine-tuned on the mMARCO-style triplets of `{heldout.parent.parent}/mmarco` "
        f"(500 train queries, 3,534 triplets with BM25-mined hard negatives, 7 languages: en sw tl bn fr de zh), "
        f"InfoNCE with in-batch and hard negatives, temperature 0.05, `query: `/`passage: ` prefixes; preset "
        f"`{args.preset}`: {preset['steps']} steps of batch {preset['batch_size']} (triplets), AdamW lr "
        f"{preset['lr']} (10% warm-up, linear decay), max {preset['max_length']} tokens, embedding tables "
        f"{'frozen' if preset['freeze_embeddings'] else 'trained'}, seed {args.seed}. Same steps, data and seed for "
        f"every run; hyperparameters fixed in advance, nothing tuned. hybrid+ot adds the OT loss (weight "
        f"{args.ot_weight}, eps 0.05) between each non-English query's tokens and a frozen copy of the starting "
        f"model on its English version.\n")
    if first is not None:
        lines.append("Minutes per training run: " + ", ".join(
            f"{n} {ckpt[n]['minutes']:.1f}" for n in plan if n in ckpt) + ".\n")
    lines.append(f"Evaluation: `{heldout}` ({args.split} split, held-out books): every query and candidate in each of "
                 f"7 languages; mono = X->X (7 rows), cross = X->Y (42 ordered pairs), multi = X -> all 7 languages' "
                 f"candidates pooled (7 rows; every translation of a relevant verse is relevant). Macro averages over "
                 f"the rows. Rank distance: mean over relevant verses of the spread of its translations' ranks in "
                 f"the pooled ranking (lower: less language bias).\n")
    tests = significance(ckpt, names, "mono") if "mono" in ckpt else {}
    lines += ["## Table 1: MAP, R@1, R@10 per setting (macro) and rank distance", "",
              "| run | " + " | ".join(f"{s} {m.replace('AP', 'MAP')}" for s in SETTINGS for m in MEASURES)
              + " | rank distance |", "|---|" + "---:|" * (len(SETTINGS) * len(MEASURES) + 1)]
    for name in names:
        macro = ckpt[name]["eval"]["macro"]
        cells = []
        for setting in SETTINGS:
            for measure in MEASURES:
                cell = f"{macro[setting][measure]:.3f}"
                if measure == "AP" and name in tests and tests[name][setting][1] < 0.05:
                    cell += "†"
                cells.append(cell)
        distance = ckpt[name]["eval"]["rank_distance"].get("macro", float("nan"))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {distance:.1f} |")
    lines += ["", "† MAP differs from `mono` (paired t-test on per-query AP averaged over the setting's rows, "
              "Holm-corrected across runs, alpha 0.05).", ""]
    lines += ["## Table 2: alpha sweep (probability of a monolingual batch)", "",
              "| alpha | run | mono MAP | cross MAP | multi MAP | rank distance | share of mono batches |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    sweep = sorted(((o["alpha"], n) for n, o in plan.items() if n in ckpt and not o.get("ot_weight")))
    for alpha, name in sweep:
        macro = ckpt[name]["eval"]["macro"]
        distance = ckpt[name]["eval"]["rank_distance"].get("macro", float("nan"))
        lines.append(f"| {alpha:g} | {name} | {macro['mono']['AP']:.3f} | {macro['cross']['AP']:.3f} | "
                     f"{macro['multi']['AP']:.3f} | {distance:.1f}"
                     f" | {ckpt[name]['mono_batches']:.2f} |")
    lines += ["", "## Per language: monolingual MAP and multilingual MAP by query language", ""]
    labels = list(ckpt["zero-shot"]["eval"]["per_label"]["mono"])
    lines += ["| run | " + " | ".join(f"mono {x}" for x in labels) + " |", "|---|" + "---:|" * len(labels)]
    for name in names:
        per = ckpt[name]["eval"]["per_label"]["mono"]
        lines.append(f"| {name} | " + " | ".join(f"{per[x]:.3f}" for x in labels) + " |")
    labels = list(ckpt["zero-shot"]["eval"]["per_label"]["multi"])
    lines += ["", "| run | " + " | ".join(f"multi {x}" for x in labels) + " |", "|---|" + "---:|" * len(labels)]
    for name in names:
        per = ckpt[name]["eval"]["per_label"]["multi"]
        lines.append(f"| {name} | " + " | ".join(f"{per[x]:.3f}" for x in labels) + " |")
    if tests:
        lines += ["", "## Differences from mono (MAP, per-query paired t-test, Holm-adjusted p)", "",
                  "| run | " + " | ".join(SETTINGS) + " |", "|---|" + "---|" * len(SETTINGS)]
        for name, row in tests.items():
            lines.append(f"| {name} | " + " | ".join(f"{d:+.4f} (p={p:.3g})" for d, p in (row[s] for s in SETTINGS))
                         + " |")
    lines += ["", "## The paper's claims, checked on these numbers", ""] + claims(ckpt)
    return "\n".join(lines) + "\n"


def claims(ckpt: Checkpoint) -> list[str]:
    needed = ("mono", "cross", "hybrid")
    if not all(n in ckpt for n in needed):
        return ["(not all of mono, cross and hybrid have run yet)"]
    out = []
    for setting in SETTINGS:
        values = {n: ckpt[n]["eval"]["macro"][setting]["AP"] for n in needed}
        best = max(values, key=values.get)
        gap = values[best] - values["hybrid"]
        verdict = "best" if best == "hybrid" else f"{gap:.4f} MAP below the best ({best})"
        out.append(f"- {setting}: hybrid is {verdict} among mono / cross / hybrid "
                   f"({', '.join(f'{n} {v:.4f}' for n, v in values.items())}).")
    distance = {n: ckpt[n]["eval"]["rank_distance"].get("macro", float("nan")) for n in ("mono", "hybrid")}
    verdict = ("lower (less language bias), as the paper reports" if distance["hybrid"] < distance["mono"]
               else "not lower: the claim did not hold")
    out.append(f"- rank distance: hybrid {distance['hybrid']:.1f} vs mono {distance['mono']:.1f}: {verdict}.")
    if "hybrid+ot" in ckpt:
        a, b = ckpt["hybrid+ot"]["eval"]["macro"], ckpt["hybrid"]["eval"]["macro"]
        out.append("- auxiliary OT term (hybrid+ot minus hybrid, MAP): " + ", ".join(
            f"{s} {a[s]['AP'] - b[s]['AP']:+.4f}" for s in SETTINGS) + ".")
    return out


if __name__ == "__main__":
    main()
