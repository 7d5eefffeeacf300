"""Does the transport loss earn its place? A resumable study of OT distillation objectives.

Regime (a): multilingual-e5-small is teacher and student (the student already knows the
languages; the word-embedding tables stay fixed). One student per language, trained on that
language's English-X Bible bitext; documents stay on the teacher. Stages:

``screen``
    Every variant of the design space (transport weight and schedule, centring, unbalanced
    transport, IDF marginals, eps, cost, gradient mode, the transport-contrastive objective,
    MaxSim at training time, mined hard negatives) and the controls (``nce``, ``ot+nce``), one
    seed, on Swahili, selected by MAP on the **dev** split of the WikiCLIR-style collection.
    Diagnostics at every evaluation: each loss term, dev MAP, bitext P@1, parallel cosine, the
    student's pairwise cosine (collapse) and the sharpness of the plans.
``final``
    The best transport variants by dev MAP (chosen by the code, never by hand) against ``nce``
    and the zero-shot student, on the **test** split, in sw, tl and bn, with several seeds:
    mean, standard deviation, share of the zero-shot -> English-query-ceiling gap closed, and
    paired t-tests on per-query AP (seeds averaged per query), Holm-corrected across languages.

Every trained unit is a row of ``benchmarks/results/ot_study.json``; a rerun resumes where the
last one stopped (a unit that was training resumes from its own checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import RESULTS, Checkpoint, header  # noqa: E402

from optical.cache import cache_dir  # noqa: E402
from optical.data.wikiclir import load_wikiclir, read_wikiclir_queries  # noqa: E402
from optical.distill.run import DistillConfig, distill  # noqa: E402
from optical.distill.teacher_cache import TeacherCache  # noqa: E402
from optical.eval.metrics import evaluate  # noqa: E402
from optical.eval.significance import adjust_p_values, paired_t_test  # noqa: E402
from optical.models import Encoder  # noqa: E402

LOW = ("sw", "tl", "bn")

# name -> DistillConfig overrides. The order is the screening order: the controls first, so a
# study cut short still compares something.
VARIANTS: dict[str, dict] = {
    "nce": {"objective": "nce"},
    "mse+nce": {"objective": "mse+nce"},
    "ot+nce": {"objective": "ot+nce"},
    "ot-contrast+nce": {"objective": "ot-contrast+nce"},
    "ot-contrast": {"objective": "ot-contrast"},
    "ot+nce centered": {"objective": "ot+nce", "centered": True},
    "ot+nce tau0.5": {"objective": "ot+nce", "tau": 0.5},
    "ot+nce centered eps0.02": {"objective": "ot+nce", "centered": True, "eps": 0.02},
    "ot+nce idf": {"objective": "ot+nce", "idf": True},
    "ot+nce decay": {"objective": "ot+nce", "ot_schedule": "decay"},
    "ot+nce w0.3": {"objective": "ot+nce", "ot_weight": 0.3},
    "maxsim-contrast+nce": {"objective": "maxsim-contrast+nce"},
    "ot-contrast+nce hardneg": {"objective": "ot-contrast+nce", "hard_negatives": 1},
    "nce hardneg": {"objective": "nce", "hard_negatives": 1},
    "ot+nce eps0.02": {"objective": "ot+nce", "eps": 0.02},
    "ot+nce implicit": {"objective": "ot+nce", "ot_grad": "implicit"},
    "ot+nce sqeuclidean": {"objective": "ot+nce", "ot_cost": "sqeuclidean", "eps": 1.0},
    "ot+nce w3": {"objective": "ot+nce", "ot_weight": 3.0},
    "ot+nce warmup": {"objective": "ot+nce", "ot_schedule": "warmup"},
    "ot+nce eps0.1": {"objective": "ot+nce", "eps": 0.1},
    "ot-contrast+nce centered": {"objective": "ot-contrast+nce", "centered": True},
    "ot-contrast+nce idf": {"objective": "ot-contrast+nce", "idf": True},
    "ot-contrast+nce tau0.5": {"objective": "ot-contrast+nce", "tau": 0.5},
}
CONTROL = "nce"


def student_path() -> str:
    from data_recipes.models import student_path as path

    return str(path())


class DevTest:
    """Dense retrieval on the WikiCLIR-style split: teacher document vectors once, student queries."""

    def __init__(self, root: Path, split: str, teacher: Encoder) -> None:
        self.root, self.split, self.teacher = root, split, teacher
        self.collections: dict = {}
        self.doc_vectors: torch.Tensor | None = None
        self.doc_ids: list[str] = []

    def collection(self, lang: str):
        if lang not in self.collections:
            self.collections[lang] = load_wikiclir(self.root / self.split, lang, direction="x2en")
        return self.collections[lang]

    def documents(self, lang: str) -> tuple[list[str], torch.Tensor]:
        if self.doc_vectors is None:
            docs = self.collection(lang).documents
            self.doc_ids = list(docs)
            path = cache_dir("bench", "ot_study") / f"docs-{self.split}.pt"
            if path.exists():
                stored = torch.load(path, weights_only=True)
                if stored["ids"] == self.doc_ids:
                    self.doc_vectors = stored["vectors"]
            if self.doc_vectors is None:
                self.doc_vectors = self.teacher.encode([docs[d].text for d in self.doc_ids], kind="passage")
                torch.save({"ids": self.doc_ids, "vectors": self.doc_vectors}, path)
        return self.doc_ids, self.doc_vectors

    def per_query_ap(self, encoder: Encoder, lang: str, query_lang: str | None = None) -> dict[str, float]:
        """AP per query of ``encoder`` on ``lang``'s queries (``query_lang="en"``: their English version)."""
        collection = self.collection(lang)
        qids = list(collection.queries)
        if query_lang == "en":
            texts = [self.english_queries()[q] for q in qids]
        else:
            texts = [collection.queries[q].text for q in qids]
        doc_ids, doc_vectors = self.documents(lang)
        queries = encoder.encode(texts, kind="query")
        scores = queries @ doc_vectors.T
        top = scores.topk(min(1000, scores.shape[1]), dim=1)
        run = {qid: {doc_ids[j]: float(s) for s, j in zip(values.tolist(), index.tolist(), strict=True)}
               for qid, values, index in zip(qids, top.values, top.indices, strict=True)}
        return dict(evaluate(collection.qrels, run, ["AP"], warn=False).per_query["AP"])

    def english_queries(self) -> dict[str, str]:
        """The English (KJV) version of every query, by id."""
        if not hasattr(self, "_english"):
            path = self.root / self.split / "wiki-clir" / "english" / "wiki_en.queries"
            self._english = {q.qid: q.text for q in read_wikiclir_queries(path, "en")}
        return self._english


def train_unit(name: str, overrides: dict, lang: str, steps: int, seed: int, args, caches: dict,
               dev: DevTest | None) -> tuple[Path, dict]:
    """Distil one student; returns its model folder and its training record (diagnostics)."""
    bitext = Path(args.bitext_dir)
    out = cache_dir("runs", "ot_study") / f"{name}-{lang}-{steps}-s{seed}".replace(" ", "_").replace("+", "_")
    config = DistillConfig(
        out=str(out), teacher=args.model, student=args.model, bitext=str(bitext / f"en-{lang}.tsv"),
        dev_bitext=str(bitext / f"en-{lang}.dev.tsv"), dev_pairs=args.dev_pairs, tgt_lang=lang,
        max_pairs=args.pairs, steps=steps, batch_size=16, lr=args.lr, seed=seed, max_length=64,
        freeze_embeddings=True, eval_every=max(1, steps // 2), eval_at_start=False, checkpoint_every=25,
        quiet=True, log_every=25,
        **overrides,
    )
    teacher = caches.setdefault("teacher", Encoder.load(args.model, max_length=64))
    cache = caches.setdefault(lang, TeacherCache(teacher))
    student = Encoder.load(args.model, max_length=64)

    def dev_map(encoder: Encoder) -> dict[str, float]:
        if dev is None:
            return {}
        return {"dev_map": float(np.mean(list(dev.per_query_ap(encoder, lang).values())))}

    if args.threads is None:
        # Threads that spin at barriers while another process holds the core cost more than they
        # give: one thread on a busy machine, two when it is free (the numbers do not depend on it).
        torch.set_num_threads(1 if os.getloadavg()[0] > 2.5 else 2)
    started = time.perf_counter()
    result = distill(config, teacher=teacher, student=student, teacher_cache=cache, extra_evaluation=dev_map)
    record = {
        "seconds": time.perf_counter() - started,
        "train_seconds": result.seconds,
        "evaluations": result.evaluations,
        "history": [{k: v for k, v in h.items() if isinstance(v, float | int)} for h in result.history[::10]]
        + [result.history[-1]],
        "s_per_step": result.history[-1]["seconds"] / max(1, len(result.history)),
        "tokens_per_s": result.history[-1].get("tokens_per_s"),
        "padding": float(np.mean([h.get("padding", 0.0) for h in result.history])),
        "threads": torch.get_num_threads(),
    }
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return out, record


def screen(args, ckpt: Checkpoint, caches: dict) -> None:
    teacher = caches.setdefault("teacher", Encoder.load(args.model, max_length=64))
    dev = DevTest(Path(args.wikiclir), "dev", teacher)
    for lang in args.screen_langs:
        key = f"screen/zero-shot/{lang}"
        if key not in ckpt:
            zero = Encoder.load(args.model, max_length=64)
            ap = dev.per_query_ap(zero, lang)
            ceiling = dev.per_query_ap(teacher, lang, query_lang="en")
            ckpt.put(key, {"dev_map": float(np.mean(list(ap.values()))),
                           "ceiling_dev_map": float(np.mean(list(ceiling.values())))})
        key = f"screen/zero-shot-geometry/{lang}"
        if key not in ckpt:
            from optical.distill.run import bitext_check, read_pairs

            dev_pairs = read_pairs(str(Path(args.bitext_dir) / f"en-{lang}.dev.tsv"), "en", lang, args.dev_pairs)
            ckpt.put(key, bitext_check(teacher, teacher, dev_pairs))
        for name in args.variants or VARIANTS:
            key = f"screen/{name}/{lang}/{args.screen_steps}"
            if key in ckpt:
                continue
            print(f"[screen] {name} {lang} {args.screen_steps} steps", flush=True)
            out, record = train_unit(name, VARIANTS[name], lang, args.screen_steps, 0, args, caches, dev)
            record["dev_map"] = record["evaluations"][-1]["dev_map"]
            shutil.rmtree(out, ignore_errors=True)
            ckpt.put(key, record)
            print(f"  dev MAP {record['dev_map']:.4f} ({record['seconds'] / 60:.1f} min)", flush=True)


def finalists(ckpt: Checkpoint, args) -> list[str]:
    """The control and the best ``args.finalists`` transport variants by mean dev MAP over screened languages."""
    scores: dict[str, list[float]] = {}
    for key, row in ckpt.rows.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[0] == "screen" and parts[3] == str(args.screen_steps):
            scores.setdefault(parts[1], []).append(row["dev_map"])
    transport = sorted((n for n in scores if n.startswith(("ot", "maxsim"))),
                       key=lambda n: -float(np.mean(scores[n])))
    return [CONTROL, *transport[:args.finalists]]


def final(args, ckpt: Checkpoint, caches: dict) -> None:
    teacher = caches.setdefault("teacher", Encoder.load(args.model, max_length=64))
    test = DevTest(Path(args.wikiclir), "test", teacher)
    names = args.final_variants or finalists(ckpt, args)
    print(f"[final] {names}", flush=True)
    for lang in args.final_langs:
        key = f"final/zero-shot/{lang}"
        if key not in ckpt:
            zero = Encoder.load(args.model, max_length=64)
            ckpt.put(key, {"ap": test.per_query_ap(zero, lang)})
            ckpt.put(f"final/ceiling/{lang}", {"ap": test.per_query_ap(teacher, lang, query_lang="en")})
    for seed in range(args.seeds):
        for lang in args.final_langs:
            for name in names:
                key = f"final/{name}/{lang}/{args.final_steps}/s{seed}"
                if key in ckpt:
                    continue
                print(f"[final] {name} {lang} {args.final_steps} steps seed {seed}", flush=True)
                out, record = train_unit(name, VARIANTS[name], lang, args.final_steps, seed, args, caches, None)
                record["ap"] = test.per_query_ap(Encoder.load(out / "model"), lang)
                shutil.rmtree(out, ignore_errors=True)
                ckpt.put(key, record)
                print(f"  test MAP {np.mean(list(record['ap'].values())):.4f}", flush=True)


# ----------------------------------------------------------------------------------------- report


def _fmt(x: float | None, digits: int = 3) -> str:
    return "" if x is None or x != x else f"{x:.{digits}f}"


def screen_table(ckpt: Checkpoint, args) -> list[str]:
    lines = []
    for lang in args.screen_langs:
        zero = ckpt.rows.get(f"screen/zero-shot/{lang}")
        if zero is None:
            continue
        gap = zero["ceiling_dev_map"] - zero["dev_map"]
        lines += [f"### Screening on {lang}, dev split, {args.screen_steps} steps of 16 pairs, seed 0", "",
                  f"Zero-shot dev MAP {zero['dev_map']:.3f}; ceiling (teacher, English query) "
                  f"{zero['ceiling_dev_map']:.3f}.", "",
                  "| variant | dev MAP | gap closed | bitext P@1 | parallel cos | pairwise cos | ot (start -> end) "
                  "| plan entropy | plan argmax mass | s/step | padding |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        geometry = ckpt.rows.get(f"screen/zero-shot-geometry/{lang}")
        if geometry:
            lines.append(f"| zero-shot student | {zero['dev_map']:.4f} | 0% | {geometry['bitext_p@1']:.3f} "
                         f"| {geometry['parallel_cosine']:.3f} | {geometry['student_pairwise_cosine']:.3f} "
                         "| | | | | |")
        rows = [(name, ckpt.rows[f"screen/{name}/{lang}/{args.screen_steps}"]) for name in VARIANTS
                if f"screen/{name}/{lang}/{args.screen_steps}" in ckpt]
        rows.sort(key=lambda r: -r[1]["dev_map"])
        legend = "; ".join(f"`{name}`: " + ", ".join(f"{k}={v}" for k, v in VARIANTS[name].items()) for name, _ in rows)
        at = len(lines) - (3 if geometry else 2)
        lines[at:at] = [f"Variants (DistillConfig overrides; every other option at its default): {legend}.",
                        "Columns after dev MAP are the last dev check and the training log: bitext P@1 and parallel "
                        "cosine on 200 dev pairs, the student's mean pairwise cosine (collapse when high), the paired "
                        "transport cost <P, C> at the first and last logged step, the plans' row entropy "
                        "(1: uniform) and mass on the row's largest entry at the last logged step.", ""]
        for name, row in rows:
            last = row["evaluations"][-1]
            history = row["history"]
            ot = [h["ot"] for h in history if "ot" in h]
            ot_text = f"{ot[0]:.3f} -> {ot[-1]:.3f}" if ot else ""
            entropy = [h["plan_entropy"] for h in history if "plan_entropy" in h]
            mass = [h["plan_argmax_mass"] for h in history if "plan_argmax_mass" in h]
            lines.append(
                f"| {name} | {row['dev_map']:.4f} | {(row['dev_map'] - zero['dev_map']) / gap:.0%} "
                f"| {_fmt(last.get('bitext_p@1'))} | {_fmt(last.get('parallel_cosine'))} "
                f"| {_fmt(last.get('student_pairwise_cosine'))} | {ot_text} "
                f"| {_fmt(entropy[-1] if entropy else None)} | {_fmt(mass[-1] if mass else None)} "
                f"| {row['s_per_step']:.2f} | {row['padding']:.0%} |")
        lines.append("")
    return lines


def final_table(ckpt: Checkpoint, args) -> tuple[list[str], dict]:
    names = []
    for key in ckpt.rows:
        parts = key.split("/")
        if parts[0] == "final" and len(parts) == 5 and parts[1] not in names:
            names.append(parts[1])
    if not names:
        return [], {}
    langs = [lang for lang in args.final_langs if f"final/zero-shot/{lang}" in ckpt]
    summary: dict = {}
    lines = [f"### Test split, {args.final_steps} steps of 16 pairs, one student per language", "",
             "MAP mean ± standard deviation over seeds; *gap*: share of the zero-shot -> ceiling gap closed "
             "by the seed-mean MAP; † differs from `nce` (paired t-test on per-query AP averaged over seeds, "
             "Holm across the languages, alpha 0.05), with the difference to `nce`.", "",
             "| system | seeds | " + " | ".join(langs) + " | macro |",
             "|---|---:|" + "---:|" * (len(langs) + 1)]
    zero = {lang: ckpt[f"final/zero-shot/{lang}"]["ap"] for lang in langs}
    ceiling = {lang: ckpt[f"final/ceiling/{lang}"]["ap"] for lang in langs}

    def mean_ap(per_query: dict[str, float]) -> float:
        return float(np.mean(list(per_query.values())))

    lines.append("| zero-shot student | | " + " | ".join(f"{mean_ap(zero[x]):.3f}" for x in langs)
                 + f" | {np.mean([mean_ap(zero[x]) for x in langs]):.3f} |")
    seed_means: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        cells, macro = [], []
        seed_means[name] = {}
        for lang in langs:
            runs = [row["ap"] for key, row in ckpt.rows.items()
                    if key.startswith(f"final/{name}/{lang}/{args.final_steps}/s")]
            if not runs:
                cells.append("")
                continue
            maps = [mean_ap(r) for r in runs]
            averaged = {q: float(np.mean([r[q] for r in runs])) for q in runs[0]}
            seed_means[name][lang] = averaged
            closed = (mean_ap(averaged) - mean_ap(zero[lang])) / (mean_ap(ceiling[lang]) - mean_ap(zero[lang]))
            cells.append(f"{np.mean(maps):.3f} ± {np.std(maps):.3f} ({closed:.0%})")
            macro.append(np.mean(maps))
            summary.setdefault(name, {})[lang] = {"map": float(np.mean(maps)), "std": float(np.std(maps)),
                                                   "seeds": len(maps), "gap_closed": closed}
        seeds = max((v["seeds"] for v in summary.get(name, {}).values()), default=0)
        lines.append(f"| {name} | {seeds} | " + " | ".join(cells) + f" | {_fmt(np.mean(macro) if macro else None)} |")
    lines.append("| ceiling: teacher, English query | | " + " | ".join(f"{mean_ap(ceiling[x]):.3f}" for x in langs)
                 + f" | {np.mean([mean_ap(ceiling[x]) for x in langs]):.3f} |")
    lines.append("")
    if CONTROL in seed_means:
        lines += ["Paired tests against `nce` (seed-mean AP per query):", "",
                  "| system | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
        for name in names:
            if name == CONTROL:
                continue
            shared = [x for x in langs if x in seed_means[name] and x in seed_means[CONTROL]]
            tests = [paired_t_test(seed_means[name][x], seed_means[CONTROL][x]) for x in shared]
            adjusted = adjust_p_values([t.p_value for t in tests], "holm") if tests else []
            cells = {x: f"{t.mean_difference:+.4f} (p={p:.2g}){' †' if p < 0.05 else ''}"
                     for x, t, p in zip(shared, tests, adjusted, strict=True)}
            for x, t, p in zip(shared, tests, adjusted, strict=True):
                summary[name][x]["vs_nce"] = {"difference": t.mean_difference, "holm_p": p}
            lines.append(f"| {name} | " + " | ".join(cells.get(x, "") for x in langs) + " |")
        lines.append("")
    return lines, summary


def write_report(ckpt: Checkpoint, args, seconds: float) -> None:
    lines = [header("Does the transport loss earn its place? OT distillation objectives, regime (a)", seconds), ""]
    conclusion = RESULTS / "ot_study_conclusion.md"
    if conclusion.exists():
        lines += [conclusion.read_text().strip(), ""]
    lines += ["## Set-up", "",
              f"multilingual-e5-small as teacher and student (word embeddings frozen), one student per language "
              f"trained on the first {args.pairs} English-X pairs of the Bible bitext (books disjoint from the "
              f"collection's verses), batch 16, lr {args.lr}, max 64 tokens, length-bucketed batches, the "
              "teacher's token states cached. Selection uses only the dev split (WikiCLIR-style, 200 queries per "
              "language, its own documents); the finalists are picked by the code from dev MAP and only they are "
              "run on the test split (300 queries per language, 1,404 English documents).", "",
              "## Screening (dev)", ""]
    lines += screen_table(ckpt, args)
    final_lines, summary = final_table(ckpt, args)
    if final_lines:
        lines += ["## Finalists (test)", ""] + final_lines
    (RESULTS / "ot_study.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "ot_study_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=["screen", "final", "report"],
                        choices=["screen", "final", "report"])
    parser.add_argument("--model", default=None, help="teacher and student folder (default: the recipe's e5)")
    parser.add_argument("--wikiclir", default=str(Path(cache_dir("bible")) / "wikiclir"))
    parser.add_argument("--bitext-dir", default=str(Path(cache_dir("bible")) / "bitext"))
    parser.add_argument("--pairs", type=int, default=8000, help="training pairs per language (first N)")
    parser.add_argument("--dev-pairs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--screen-langs", nargs="+", default=["sw"])
    parser.add_argument("--screen-steps", type=int, default=100)
    parser.add_argument("--variants", nargs="+", default=None, choices=list(VARIANTS))
    parser.add_argument("--finalists", type=int, default=2, help="transport variants carried to the test split")
    parser.add_argument("--final-variants", nargs="+", default=None, choices=list(VARIANTS))
    parser.add_argument("--final-langs", nargs="+", default=list(LOW))
    parser.add_argument("--final-steps", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.model = args.model or student_path()
    torch.set_flush_denormal(True)
    started = time.perf_counter()
    ckpt = Checkpoint(RESULTS / "ot_study.json")
    caches: dict = {}
    if "screen" in args.only:
        screen(args, ckpt, caches)
    if "final" in args.only:
        final(args, ckpt, caches)
    if "report" in args.only:
        write_report(ckpt, args, time.perf_counter() - started)


if __name__ == "__main__":
    main()
