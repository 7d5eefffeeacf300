"""Does the transport loss earn its place? A resumable study of OT distillation objectives.

Regime (a): multilingual-e5-small is teacher and student (the student already knows the
languages; the word-embedding tables stay fixed). One student per language, trained on that
language's English-X Bible bitext; documents stay on the teacher. Stages:

``screen``
    Every variant of the design space (transport weight and schedule, centring and whitening,
    unbalanced transport, IDF and importance marginals, eps, cost, gradient mode, the layer the
    transport compares, the
    transport-contrastive objective, MaxSim at training time, mined hard negatives, the learning
    rate) and the controls (``nce``; ``ot+nce eps1``, whose plan is near uniform; ``token-mse+nce``,
    a hard alignment; ``cos+nce``, a sentence-level anchor without transport), one seed, on
    Swahili, selected by MAP on the **dev** split of the WikiCLIR-style collection.
    Diagnostics at every evaluation: each loss term, dev MAP, bitext P@1, parallel cosine, the
    student's pairwise cosine (collapse) and the sharpness of the plans.
``final``
    The best transport variants by dev MAP (chosen by the code, never by hand) against ``nce``
    and the zero-shot student, on the **test** split, in sw, tl and bn, with several seeds:
    mean, standard deviation, share of the zero-shot -> English-query-ceiling gap closed, and
    paired t-tests on per-query AP (seeds averaged per query), Holm-corrected across languages.

``curve``
    ``nce`` against the default transport objective on the **test** split (settings fixed
    before), for bitext sizes 500, 2,000, 8,000 and all pairs (sw, bn): does the transport's
    gain grow or shrink with data?
``newlang``
    Regime (b), a truly new language: the English-only all-MiniLM-L6-v2 is teacher and student,
    the student's word-embedding tables are trained on the whole English-Swahili bitext, dev
    MAP at every evaluation (the learning curve over steps), test MAP at the end.

Every trained unit is a row of ``benchmarks/results/ot_study.json``; a rerun resumes where the
last one stopped (a unit that was training resumes from its own checkpoint). Several workers may
run the same command at once: each unit is claimed by one of them (a claim whose process died is
taken over), and the JSON keeps every worker's rows.
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
from optical.eval.encoding import token_embeddings  # noqa: E402
from optical.eval.metrics import evaluate  # noqa: E402
from optical.eval.retrieval import maxsim_rerank  # noqa: E402
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
    "ot+nce idf": {"objective": "ot+nce", "marginals": "idf"},
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
    "ot-contrast+nce idf": {"objective": "ot-contrast+nce", "marginals": "idf"},
    "ot-contrast+nce tau0.5": {"objective": "ot-contrast+nce", "tau": 0.5},
    "ot+nce importance": {"objective": "ot+nce", "marginals": "importance"},
    "ot+nce whiten": {"objective": "ot+nce", "whiten": True},
    "ot-contrast+nce importance": {"objective": "ot-contrast+nce", "marginals": "importance"},
    # Transport between middle-layer tokens (where multilingual encoders align words best), the
    # contrastive term on the output layer as before.
    "ot+nce layer8": {"objective": "ot+nce", "ot_layer": 8},
    "ot+nce layer6": {"objective": "ot+nce", "ot_layer": 6},
    "ot+nce layer8 eps0.02": {"objective": "ot+nce", "ot_layer": 8, "eps": 0.02},
    # Does a real alignment add to the anchor? The sentence anchor on the output layer, and the
    # transport where its plans are alignments (layer 8), together; and at the output layer.
    "ot+cos+nce layer8": {"objective": "ot+cos+nce", "ot_layer": 8},
    "ot+cos+nce": {"objective": "ot+cos+nce"},
    # Controls for what the transport term does: with eps 1 the plan is close to the product of
    # the marginals (every token pulled toward every token: an anchor without alignment); the
    # token-level MSE under a hard arg-max alignment is an anchor with a fixed alignment.
    "ot+nce eps1": {"objective": "ot+nce", "eps": 1.0},
    "token-mse+nce": {"objective": "token-mse+nce"},
    # The anchor without transport: 1 - cosine of the pooled vectors, on the transport cost's scale.
    "cos+nce": {"objective": "cos+nce"},
    # The control gets the same learning-rate search as the transport: a fair baseline.
    "nce lr5e-5": {"objective": "nce", "lr": 5e-5},
    "ot+nce lr5e-5": {"objective": "ot+nce", "lr": 5e-5},
}
CONTROL = "nce"
TRANSPORT_PREFIXES = ("ot", "maxsim")  # the variants whose objective has a transport (or token-set) term


def mean_map(per_query: dict[str, float]) -> float:
    return float(np.mean(list(per_query.values())))


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
            model = Path(str(self.teacher.config.model)).name
            name = f"docs-{self.split}.pt" if "e5" in model else f"docs-{self.split}-{model}.pt"
            path = cache_dir("bench", "ot_study") / name
            if path.exists():
                stored = torch.load(path, weights_only=True)
                if stored["ids"] == self.doc_ids:
                    self.doc_vectors = stored["vectors"]
            if self.doc_vectors is None:
                self.doc_vectors = self.teacher.encode([docs[d].text for d in self.doc_ids], kind="passage")
                torch.save({"ids": self.doc_ids, "vectors": self.doc_vectors}, path)
        return self.doc_ids, self.doc_vectors

    def query_texts(self, lang: str, query_lang: str | None = None) -> tuple[list[str], list[str]]:
        """Ids and texts of ``lang``'s queries (``query_lang="en"``: their English version)."""
        collection = self.collection(lang)
        qids = list(collection.queries)
        if query_lang == "en":
            return qids, [self.english_queries()[q] for q in qids]
        return qids, [collection.queries[q].text for q in qids]

    def per_query_ap(self, encoder: Encoder, lang: str, query_lang: str | None = None) -> dict[str, float]:
        """AP per query of ``encoder`` on ``lang``'s queries (``query_lang="en"``: their English version)."""
        return self.per_query_ap_both(encoder, lang, query_lang, maxsim=False)["dense"]

    def per_query_ap_both(self, encoder: Encoder, lang: str, query_lang: str | None = None, *,
                          maxsim: bool = True, depth: int = 100) -> dict[str, dict[str, float]]:
        """AP per query of dense retrieval (``"dense"``) and, with ``maxsim``, of its top ``depth``
        re-ranked by MaxSim between the student's query tokens and the teacher's document tokens
        (``"maxsim"``: late interaction, where a token-level alignment can matter)."""
        collection = self.collection(lang)
        qids, texts = self.query_texts(lang, query_lang)
        doc_ids, doc_vectors = self.documents(lang)
        queries = encoder.encode(texts, kind="query")
        scores = queries @ doc_vectors.T
        top = scores.topk(min(1000, scores.shape[1]), dim=1)
        ranked = {qid: [(doc_ids[j], float(s)) for s, j in zip(values.tolist(), index.tolist(), strict=True)]
                  for qid, values, index in zip(qids, top.values, top.indices, strict=True)}
        runs = {"dense": ranked}
        if maxsim:
            query_tokens = dict(zip(qids, token_embeddings(encoder, texts, kind="query"), strict=True))
            candidates = {qid: ranking[:depth] for qid, ranking in ranked.items()}
            runs["maxsim"] = maxsim_rerank(query_tokens, self.document_tokens(lang), candidates)
        return {name: dict(evaluate(collection.qrels, {q: dict(r) for q, r in run.items()}, ["AP"],
                                    warn=False).per_query["AP"]) for name, run in runs.items()}

    def document_tokens(self, lang: str) -> dict[str, torch.Tensor]:
        """The teacher's token states of every document, by id (computed once per split)."""
        if not hasattr(self, "_doc_tokens"):
            doc_ids, _ = self.documents(lang)
            docs = self.collection(lang).documents
            model = Path(str(self.teacher.config.model)).name
            path = cache_dir("bench", "ot_study") / f"doc-tokens-{self.split}-{model}.pt"
            stored = torch.load(path, weights_only=True) if path.exists() else None
            if stored is None or stored["ids"] != doc_ids:
                tokens = token_embeddings(self.teacher, [docs[d].text for d in doc_ids], kind="passage")
                stored = {"ids": doc_ids, "tokens": [t.half() for t in tokens]}
                torch.save(stored, path)
            self._doc_tokens = {d: t.float() for d, t in zip(stored["ids"], stored["tokens"], strict=True)}
        return self._doc_tokens

    def english_queries(self) -> dict[str, str]:
        """The English (KJV) version of every query, by id."""
        if not hasattr(self, "_english"):
            path = self.root / self.split / "wiki-clir" / "english" / "wiki_en.queries"
            self._english = {q.qid: q.text for q in read_wikiclir_queries(path, "en")}
        return self._english


class Claim:
    """One worker's hold on a unit: a file named after the unit holding the worker's pid.

    ``Claim.take(key)`` is None when a live worker already holds ``key``; a claim left by a
    process that died is taken over. Used as a context manager, the claim is released at the end.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def take(cls, key: str) -> Claim | None:
        folder = cache_dir("runs", "ot_study", "claims")
        path = folder / (key.replace("/", "__").replace(" ", "_").replace("+", "_") + ".pid")
        for _ in range(2):
            try:
                with open(path, "x") as handle:
                    handle.write(str(os.getpid()))
                return cls(path)
            except FileExistsError:
                try:
                    os.kill(int(path.read_text() or 0), 0)
                    return None  # a live worker has it
                except (ProcessLookupError, ValueError, FileNotFoundError):
                    path.unlink(missing_ok=True)  # its worker died: take it over
        return None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)


def units(ckpt: Checkpoint, keys):
    """The keys of ``keys`` that no row holds yet, each claimed for this worker while it runs."""
    for key in keys:
        if key in ckpt:
            continue
        claim = Claim.take(key)
        if claim is None:
            print(f"  {key}: another worker has it", flush=True)
            continue
        with claim:
            if key not in ckpt:  # finished by another worker between the two checks
                yield key


def train_unit(name: str, overrides: dict, lang: str, steps: int, seed: int, args, caches: dict,
               dev: DevTest | None, *, pairs: int | None = -1, model: str | None = None,
               **settings) -> tuple[Path, dict]:
    """Distil one student; returns its model folder and its training record (diagnostics).

    ``pairs``: training pairs (None: all; -1: ``args.pairs``); ``model``: teacher and student
    (default ``args.model``); ``settings``: DistillConfig fields that differ from regime (a)'s.
    """
    bitext = Path(args.bitext_dir)
    pairs = args.pairs if pairs == -1 else pairs
    model = model or args.model
    stem = f"{name}-{lang}-{steps}-s{seed}" + ("" if pairs == args.pairs else f"-p{pairs or 'all'}")
    out = cache_dir("runs", "ot_study") / (Path(model).name + "-" + stem).replace(" ", "_").replace("+", "_")
    fields = dict(
        out=str(out), teacher=model, student=model, bitext=str(bitext / f"en-{lang}.tsv"),
        dev_bitext=str(bitext / f"en-{lang}.dev.tsv"), dev_pairs=args.dev_pairs, tgt_lang=lang,
        max_pairs=pairs, steps=steps, batch_size=16, lr=args.lr, seed=seed, max_length=64,
        freeze_embeddings=True, eval_every=max(1, steps // 2), eval_at_start=False, checkpoint_every=25,
        quiet=True, log_every=25,
    )
    config = DistillConfig(**{**fields, **settings, **overrides})
    # A transport at another depth needs a teacher (and a cache) that also hold that layer.
    layer = config.ot_layer
    teacher = teacher_for(caches, model, layer)
    if (lang, model, layer) not in caches:
        caches[(lang, model, layer)] = TeacherCache(teacher)
    cache = caches[(lang, model, layer)]
    student = Encoder.load(model, max_length=64)

    def dev_map(encoder: Encoder) -> dict[str, float]:
        if dev is None:
            return {}
        return {"dev_map": float(np.mean(list(dev.per_query_ap(encoder, lang).values())))}

    if args.threads is None:
        # Threads that spin at barriers while another process holds the core cost more than they
        # give: one thread on a busy machine, two when it is free (the numbers do not depend on it).
        torch.set_num_threads(1 if os.getloadavg()[0] > 1.5 else 2)
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


def teacher_for(caches: dict, model: str, layer: int | None = None) -> Encoder:
    """The teacher ``model`` exposing hidden layer ``layer`` too, loaded once per process."""
    key = ("teacher", model) if layer is None else ("teacher", model, layer)
    if key not in caches:
        caches[key] = Encoder.load(model, max_length=64)
        caches[key].expose_layer(layer)
    return caches[key]


def screen(args, ckpt: Checkpoint, caches: dict) -> None:
    teacher = teacher_for(caches, args.model)
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
        # Seed 0 is the screening row (the key without a seed); further seeds measure the dev noise.
        keys = {f"screen/{name}/{lang}/{args.screen_steps}" + (f"/s{seed}" if seed else ""): (name, seed)
                for seed in range(args.screen_seeds) for name in args.variants or VARIANTS}
        for key in units(ckpt, keys):
            name, seed = keys[key]
            print(f"[screen] {name} {lang} {args.screen_steps} steps seed {seed}", flush=True)
            out, record = train_unit(name, VARIANTS[name], lang, args.screen_steps, seed, args, caches, dev)
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
    transport = sorted((n for n in scores if n.startswith(TRANSPORT_PREFIXES)),
                       key=lambda n: -float(np.mean(scores[n])))
    return [CONTROL, *transport[:args.finalists]]


def zero_shot_test_rows(ckpt: Checkpoint, test: DevTest, model: str, langs) -> None:
    for lang in langs:
        key = f"final/zero-shot/{lang}"
        if key not in ckpt:
            zero = Encoder.load(model, max_length=64)
            ckpt.put(key, {"ap": test.per_query_ap(zero, lang)})
            ckpt.put(f"final/ceiling/{lang}", {"ap": test.per_query_ap(test.teacher, lang, query_lang="en")})


def final(args, ckpt: Checkpoint, caches: dict) -> None:
    test = DevTest(Path(args.wikiclir), "test", teacher_for(caches, args.model))
    names = args.final_variants or finalists(ckpt, args)
    print(f"[final] {names}", flush=True)
    zero_shot_test_rows(ckpt, test, args.model, args.final_langs)
    keys = {f"final/{name}/{lang}/{args.final_steps}/s{seed}": (name, lang, seed)
            for seed in range(args.seeds) for lang in args.final_langs for name in names}
    for key in units(ckpt, keys):
        name, lang, seed = keys[key]
        print(f"[final] {name} {lang} {args.final_steps} steps seed {seed}", flush=True)
        out, record = train_unit(name, VARIANTS[name], lang, args.final_steps, seed, args, caches, None)
        record["ap"] = test.per_query_ap(Encoder.load(out / "model"), lang)
        shutil.rmtree(out, ignore_errors=True)
        ckpt.put(key, record)
        print(f"  test MAP {np.mean(list(record['ap'].values())):.4f}", flush=True)


def late_finalists(ckpt: Checkpoint, args) -> list[str]:
    """``nce``, the default ``cos+nce``, the default transport ``ot+nce`` and the best transport
    variant by dev MaxSim MAP (chosen by the code) for the late-interaction test."""
    scores = {}
    for key, row in ckpt.rows.items():
        parts = key.split("/")
        if parts[:2] == ["late", "dev"] and len(parts) == 6 and parts[4] == str(args.screen_steps):
            scores.setdefault(parts[2], []).append(mean_map(row["ap_maxsim"]))
    transport = sorted((n for n in scores if n.startswith(TRANSPORT_PREFIXES)), key=lambda n: -np.mean(scores[n]))
    return list(dict.fromkeys([CONTROL, "cos+nce", "ot+nce", *transport[:1]]))


def late(args, ckpt: Checkpoint, caches: dict) -> None:
    """Late interaction at test time: each student's dense top 100 re-ranked by MaxSim between its
    query tokens and the teacher's document tokens, where a token alignment could pay off.

    Dev (sw, seed 0) selects; the test units use seeds from 3 on, so their dense AP also counts as
    further seeds of the final stage (same settings, other seeds)."""
    teacher = teacher_for(caches, args.model)
    splits = {split: DevTest(Path(args.wikiclir), split, teacher) for split in ("dev", "test")}
    for split, langs in (("dev", args.screen_langs), ("test", args.final_langs)):
        for lang in langs:
            key = f"late/{split}/zero-shot/{lang}"
            if key not in ckpt:
                zero = Encoder.load(args.model, max_length=64)
                both = splits[split].per_query_ap_both(zero, lang)
                ceiling = splits[split].per_query_ap_both(teacher, lang, query_lang="en")
                ckpt.put(key, {"ap": both["dense"], "ap_maxsim": both["maxsim"],
                               "ceiling_ap": ceiling["dense"], "ceiling_ap_maxsim": ceiling["maxsim"]})

    def run(keys: dict, split: str) -> None:
        for key in units(ckpt, keys):
            name, lang, steps, seed = keys[key]
            print(f"[late] {split} {name} {lang} {steps} steps seed {seed}", flush=True)
            out, record = train_unit(name, VARIANTS[name], lang, steps, seed, args, caches,
                                     splits["dev"] if split == "dev" else None)
            both = splits[split].per_query_ap_both(Encoder.load(out / "model"), lang)
            record["ap"], record["ap_maxsim"] = both["dense"], both["maxsim"]
            shutil.rmtree(out, ignore_errors=True)
            ckpt.put(key, record)
            print(f"  {split} MAP dense {mean_map(both['dense']):.4f}, MaxSim {mean_map(both['maxsim']):.4f}",
                  flush=True)

    run({f"late/dev/{name}/{lang}/{args.screen_steps}/s0": (name, lang, args.screen_steps, 0)
         for lang in args.screen_langs for name in args.late_variants}, "dev")
    names = args.final_variants or late_finalists(ckpt, args)
    print(f"[late] test: {names}", flush=True)
    run({f"late/test/{name}/{lang}/{args.final_steps}/s{seed}": (name, lang, args.final_steps, seed)
         for seed in range(3, 3 + args.late_seeds) for lang in args.final_langs for name in names}, "test")


def curve(args, ckpt: Checkpoint, caches: dict) -> None:
    """Test MAP against bitext size for fixed settings (the size of the final stage reuses its seed-0 row)."""
    test = DevTest(Path(args.wikiclir), "test", teacher_for(caches, args.model))
    zero_shot_test_rows(ckpt, test, args.model, args.curve_langs)
    keys = {}
    for lang in args.curve_langs:
        for size in args.curve_sizes:
            for name in args.curve_variants:
                if size == str(args.pairs) and args.curve_steps == args.final_steps:
                    continue  # the final stage's seed-0 row
                keys[f"curve/{name}/{lang}/{args.curve_steps}/p{size}/s0"] = (name, lang, size)
    for key in units(ckpt, keys):
        name, lang, size = keys[key]
        print(f"[curve] {name} {lang} {size} pairs, {args.curve_steps} steps", flush=True)
        pairs = None if size == "all" else int(size)
        out, record = train_unit(name, VARIANTS[name], lang, args.curve_steps, 0, args, caches, None, pairs=pairs)
        record["ap"] = test.per_query_ap(Encoder.load(out / "model"), lang)
        record["pairs"] = min(pairs or float("inf"), bitext_size(args, lang))
        shutil.rmtree(out, ignore_errors=True)
        ckpt.put(key, record)
        print(f"  test MAP {np.mean(list(record['ap'].values())):.4f}", flush=True)


def bitext_size(args, lang: str) -> int:
    """How many training pairs the English-``lang`` bitext holds."""
    with open(Path(args.bitext_dir) / f"en-{lang}.tsv", encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def newlang(args, ckpt: Checkpoint, caches: dict) -> None:
    """Regime (b): the English-only MiniLM learns Swahili (its embedding tables trained) from all the bitext."""
    from data_recipes.models import teacher_path

    model, lang = str(teacher_path()), "sw"
    teacher = teacher_for(caches, model)
    dev = DevTest(Path(args.wikiclir), "dev", teacher)
    test = DevTest(Path(args.wikiclir), "test", teacher)
    key = f"newlang/zero-shot/{lang}"
    if key not in ckpt:
        zero = Encoder.load(model, max_length=64)
        ckpt.put(key, {split.split: {"map": float(np.mean(list(split.per_query_ap(zero, lang).values()))),
                                     "ceiling": float(np.mean(list(split.per_query_ap(
                                         teacher, lang, query_lang="en").values())))}
                       for split in (dev, test)})

    keys = {f"newlang/{name}/{lang}/{args.newlang_steps}": name for name in args.newlang_variants}
    for key in units(ckpt, keys):
        name = keys[key]
        print(f"[newlang] {name} {lang} {args.newlang_steps} steps (MiniLM, embeddings trained)", flush=True)
        out, record = train_unit(
            name, VARIANTS[name], lang, args.newlang_steps, 0, args, caches, dev, pairs=None, model=model,
            freeze_embeddings=False, lr=args.newlang_lr, eval_every=max(1, args.newlang_steps // args.newlang_evals),
            eval_at_start=False, checkpoint_every=50)
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


def screen_noise_table(ckpt: Checkpoint, args) -> list[str]:
    """Dev MAP over seeds for the variants screened with more than one: how large a screening
    difference must be before one seed can tell it from training noise."""
    lines = []
    for lang in args.screen_langs:
        base = f"screen/{{}}/{lang}/{args.screen_steps}"
        runs = {name: [ckpt.rows[base.format(name)]["dev_map"]]
                + [ckpt.rows[k]["dev_map"] for k in sorted(ckpt.rows) if k.startswith(base.format(name) + "/s")]
                for name in VARIANTS if base.format(name) in ckpt}
        runs = {name: maps for name, maps in runs.items() if len(maps) > 1}
        if not runs:
            continue
        sds = [float(np.std(maps, ddof=1)) for maps in runs.values()]
        pooled = float(np.sqrt(np.mean(np.square(sds))))
        lines += [f"### Dev noise on {lang}: the same variant under other seeds", "",
                  "Seeds change the initial shuffle of the bitext and dropout; everything else is fixed.", "",
                  "| variant | seeds | dev MAP per seed | mean | sd |", "|---|---:|---|---:|---:|"]
        for name, maps in runs.items():
            lines.append(f"| {name} | {len(maps)} | {', '.join(f'{m:.4f}' for m in maps)} | {np.mean(maps):.4f} "
                         f"| {np.std(maps, ddof=1):.4f} |")
        lines += ["", f"Pooled seed sd {pooled:.4f}: two one-seed screening rows differ by more than noise only "
                  f"when they are about {2 * np.sqrt(2) * pooled:.4f} apart (2 sd of a difference).", ""]
    return lines


def paired_rows(means: dict[str, dict[str, dict[str, float]]], systems: list[str], reference: str,
                langs: list[str], summary: dict | None = None, key: str | None = None) -> list[str]:
    """A table with one row per system: its paired difference to ``reference`` per language
    (``means[system][lang]``: AP per query), Holm-corrected across the languages; the tests are
    also stored in ``summary[system][lang][key or "vs_" + reference]``."""
    rows = ["| system | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
    for name in systems:
        shared = [x for x in langs if x in means.get(name, {}) and x in means.get(reference, {})]
        tests = [paired_t_test(means[name][x], means[reference][x]) for x in shared]
        adjusted = adjust_p_values([t.p_value for t in tests], "holm") if tests else []
        cells = {}
        for x, t, p in zip(shared, tests, adjusted, strict=True):
            cells[x] = f"{t.mean_difference:+.4f} (p={p:.2g}){' †' if p < 0.05 else ''}"
            if summary is not None:
                summary.setdefault(name, {}).setdefault(x, {})[key or f"vs_{reference}"] = {
                    "difference": t.mean_difference, "holm_p": p}
        rows.append(f"| {name} | " + " | ".join(cells.get(x, "") for x in langs) + " |")
    return [*rows, ""]


def final_table(ckpt: Checkpoint, args, steps: int) -> tuple[list[str], dict]:
    names = []
    for key in ckpt.rows:
        parts = key.split("/")
        if parts[0] == "final" and len(parts) == 5 and parts[3] == str(steps) and parts[1] not in names:
            names.append(parts[1])
    if not names:
        return [], {}
    langs = [lang for lang in args.final_langs if f"final/zero-shot/{lang}" in ckpt
             and any(k.startswith(f"final/{n}/{lang}/{steps}/") for n in names for k in ckpt.rows)]
    summary: dict = {}
    lines = [f"### Test split, {steps} steps of 16 pairs, one student per language", "",
             "MAP mean ± standard deviation over seeds (no spread for one seed); *gap*: share of the "
             "zero-shot -> ceiling gap closed by the seed-mean MAP; † differs from `nce` (paired t-test on "
             "per-query AP averaged over seeds, Holm across the languages, alpha 0.05), with the difference "
             "to `nce`.", "",
             "| system | seeds (per language) | " + " | ".join(langs) + " | macro |",
             "|---|---:|" + "---:|" * (len(langs) + 1)]
    zero = {lang: ckpt[f"final/zero-shot/{lang}"]["ap"] for lang in langs}
    ceiling = {lang: ckpt[f"final/ceiling/{lang}"]["ap"] for lang in langs}

    lines.append("| zero-shot student | | " + " | ".join(f"{mean_map(zero[x]):.3f}" for x in langs)
                 + f" | {np.mean([mean_map(zero[x]) for x in langs]):.3f} |")
    seed_means: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        cells, macro = [], []
        seed_means[name] = {}
        for lang in langs:
            # The late stage's test seeds count too; a seed both stages ran is one student, counted once.
            by_seed = {key.rsplit("/", 1)[1]: row["ap"] for key, row in ckpt.rows.items()
                       if key.startswith(f"late/test/{name}/{lang}/{steps}/s")}
            by_seed |= {key.rsplit("/", 1)[1]: row["ap"] for key, row in ckpt.rows.items()
                        if key.startswith(f"final/{name}/{lang}/{steps}/s")}
            runs = list(by_seed.values())
            if not runs:
                cells.append("")
                continue
            maps = [mean_map(r) for r in runs]
            averaged = {q: float(np.mean([r[q] for r in runs])) for q in runs[0]}
            seed_means[name][lang] = averaged
            closed = (mean_map(averaged) - mean_map(zero[lang])) / (mean_map(ceiling[lang]) - mean_map(zero[lang]))
            # One seed has no spread to show; "± 0.000" would read as a measured one.
            spread = f" ± {np.std(maps):.3f}" if len(maps) > 1 else ""
            cells.append(f"{np.mean(maps):.3f}{spread} ({closed:.0%})")
            macro.append(np.mean(maps))
            summary.setdefault(name, {})[lang] = {"map": float(np.mean(maps)), "std": float(np.std(maps)),
                                                   "seeds": len(maps), "gap_closed": closed}
        counts = [summary.get(name, {}).get(x, {}).get("seeds", 0) for x in langs]
        seeds = str(counts[0]) if len(set(counts)) == 1 else "/".join(map(str, counts))
        # A macro average over fewer languages than the other rows' would not compare with them.
        macro_map = np.mean(macro) if len(macro) == len(langs) else None
        lines.append(f"| {name} | {seeds} | " + " | ".join(cells) + f" | {_fmt(macro_map)} |")
    lines.append("| ceiling: teacher, English query | | " + " | ".join(f"{mean_map(ceiling[x]):.3f}" for x in langs)
                 + f" | {np.mean([mean_map(ceiling[x]) for x in langs]):.3f} |")
    lines.append("")
    if CONTROL in seed_means:
        lines += ["Paired tests against `nce` (seed-mean AP per query):", ""]
        lines += paired_rows(seed_means, [n for n in names if n != CONTROL and n in seed_means], CONTROL, langs,
                             summary)
    anchor = "cos+nce"  # the best objective without transport: is the transport better than it?
    transport = [n for n in names if n.startswith(TRANSPORT_PREFIXES) and n in seed_means]
    if anchor in seed_means and transport:
        lines += [f"Paired tests of the transport objectives against `{anchor}`, the sentence-level anchor "
                  "(seed-mean AP per query, Holm across the languages):", ""]
        lines += paired_rows(seed_means, transport, anchor, langs, summary)
    return lines, summary


def late_table(ckpt: Checkpoint, args) -> tuple[list[str], dict]:
    """Dense against MaxSim re-ranking for the same students: dev screening, then test with paired tests."""
    lines: list[str] = []
    summary: dict = {}
    for lang in args.screen_langs:
        zero = ckpt.rows.get(f"late/dev/zero-shot/{lang}")
        rows = {k.split("/")[2]: r for k, r in ckpt.rows.items() if k.startswith("late/dev/")
                and k.split("/")[3] == lang and k.split("/")[2] != "zero-shot"}
        if not zero or not rows:
            continue
        gap = {s: mean_map(zero[f"ceiling_ap{s}"]) - mean_map(zero[f"ap{s}"]) for s in ("", "_maxsim")}
        lines += [f"### Screening on {lang}, dev split, {args.screen_steps} steps, seed 0", "",
                  f"Zero-shot: dense {mean_map(zero['ap']):.4f}, MaxSim {mean_map(zero['ap_maxsim']):.4f}. "
                  f"Ceiling (teacher, English query): dense {mean_map(zero['ceiling_ap']):.4f}, MaxSim "
                  f"{mean_map(zero['ceiling_ap_maxsim']):.4f}. Gap closed is against the same scorer's zero-shot "
                  "and ceiling.", "",
                  "| variant | dense MAP | MaxSim MAP | MaxSim - dense | gap closed, dense | gap closed, MaxSim "
                  "| plan entropy | plan argmax mass | parallel cos |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, row in sorted(rows.items(), key=lambda item: -mean_map(item[1]["ap_maxsim"])):
            dense, maxsim = mean_map(row["ap"]), mean_map(row["ap_maxsim"])
            entropy = [h["plan_entropy"] for h in row["history"] if "plan_entropy" in h]
            mass = [h["plan_argmax_mass"] for h in row["history"] if "plan_argmax_mass" in h]
            lines.append(f"| {name} | {dense:.4f} | {maxsim:.4f} | {maxsim - dense:+.4f} "
                         f"| {(dense - mean_map(zero['ap'])) / gap['']:.0%} "
                         f"| {(maxsim - mean_map(zero['ap_maxsim'])) / gap['_maxsim']:.0%} "
                         f"| {_fmt(entropy[-1] if entropy else None)} | {_fmt(mass[-1] if mass else None)} "
                         f"| {_fmt(row['evaluations'][-1].get('parallel_cosine'))} |")
        lines.append("")
    runs: dict[tuple[str, str], list[dict]] = {}
    for key, row in ckpt.rows.items():
        parts = key.split("/")
        if parts[:2] == ["late", "test"] and len(parts) == 6 and parts[4] == str(args.final_steps):
            runs.setdefault((parts[2], parts[3]), []).append(row)
    langs = [x for x in args.final_langs if f"late/test/zero-shot/{x}" in ckpt and any(k[1] == x for k in runs)]
    if not langs:
        return lines, summary
    names = list(dict.fromkeys(name for name, _ in runs))
    zero = {x: ckpt[f"late/test/zero-shot/{x}"] for x in langs}
    lines += [f"### Test split, {args.final_steps} steps of 16 pairs, one student per language", "",
              "Each cell: dense MAP / MaxSim MAP of the same students (mean over seeds), and the share of the "
              "zero-shot -> ceiling gap the MaxSim run closes (against MaxSim's own zero-shot and ceiling).", "",
              "| system | seeds | " + " | ".join(langs) + " |", "|---|---:|" + "---:|" * len(langs)]
    lines.append("| zero-shot student | | " + " | ".join(
        f"{mean_map(zero[x]['ap']):.3f} / {mean_map(zero[x]['ap_maxsim']):.3f}" for x in langs) + " |")
    means: dict[str, dict[str, dict[str, float]]] = {}  # "name" (MaxSim) and "name, dense"
    for name in names:
        cells, counts = [], []
        for x in langs:
            rows = runs.get((name, x), [])
            counts.append(len(rows))
            if not rows:
                cells.append("")
                continue
            for scorer, field in (("", "ap_maxsim"), (", dense", "ap")):
                means.setdefault(name + scorer, {})[x] = {q: float(np.mean([r[field][q] for r in rows]))
                                                          for q in rows[0][field]}
            dense, maxsim = mean_map(means[name + ", dense"][x]), mean_map(means[name][x])
            low, high = mean_map(zero[x]["ap_maxsim"]), mean_map(zero[x]["ceiling_ap_maxsim"])
            cells.append(f"{dense:.3f} / {maxsim:.3f} ({(maxsim - low) / (high - low):.0%})")
            dense_low, dense_high = mean_map(zero[x]["ap"]), mean_map(zero[x]["ceiling_ap"])
            summary.setdefault(name, {})[x] = {
                "dense": dense, "maxsim": maxsim, "seeds": len(rows),
                "gap_closed_maxsim": (maxsim - low) / (high - low),
                # the issue's yardstick: the dense zero-shot -> dense English-query ceiling gap
                "gap_closed_maxsim_of_dense_gap": (maxsim - dense_low) / (dense_high - dense_low)}
        seeds = str(counts[0]) if len(set(counts)) == 1 else "/".join(map(str, counts))
        lines.append(f"| {name} | {seeds} | " + " | ".join(cells) + " |")
    lines += ["| ceiling: teacher, English query | | " + " | ".join(
        f"{mean_map(zero[x]['ceiling_ap']):.3f} / {mean_map(zero[x]['ceiling_ap_maxsim']):.3f}" for x in langs)
        + " |", ""]
    scored = [n for n in names if n in means]
    if CONTROL in means:
        lines += ["MaxSim against `nce` under MaxSim (seed-mean AP per query, Holm across the languages):", ""]
        lines += paired_rows(means, [n for n in scored if n != CONTROL], CONTROL, langs, summary, "maxsim_vs_nce")
    transport = [n for n in scored if n.startswith(TRANSPORT_PREFIXES)]
    if "cos+nce" in means and transport:
        lines += ["Transport against `cos+nce`, both under MaxSim:", ""]
        lines += paired_rows(means, transport, "cos+nce", langs, summary, "maxsim_vs_cos+nce")
    lines += ["Does MaxSim re-ranking help each student? MaxSim against the same students' dense run:", ""]
    for i, name in enumerate(scored):
        table = paired_rows({name: means[name], "dense": means[name + ", dense"]}, [name], "dense", langs,
                            summary, "maxsim_vs_dense")
        lines += table[:-1] if i == 0 else table[2:-1]
    return [*lines, ""], summary


def curve_table(ckpt: Checkpoint, args) -> list[str]:
    rows = {}
    for key, row in ckpt.rows.items():
        parts = key.split("/")
        if parts[0] == "curve" and parts[3] == str(args.curve_steps):
            rows[(parts[1], parts[2], parts[4][1:])] = row["ap"]
    if not rows:
        return []
    for key, row in ckpt.rows.items():  # the final stage's seed-0 rows are the curve's own-size points
        parts = key.split("/")
        if parts[0] == "final" and len(parts) == 5 and parts[3] == str(args.curve_steps) and parts[4] == "s0":
            rows.setdefault((parts[1], parts[2], str(args.pairs)), row["ap"])
    names = [n for n in args.curve_variants if any(k[0] == n for k in rows)]
    control, others = names[0], names[1:]
    lines = [f"## Learning curve over bitext size (test, {args.curve_steps} steps of 16 pairs, seed 0)", "",
             "The first N pairs of each language's bitext (all: every pair). With 100 steps of 16 a run sees "
             "1,600 pairs, so 500 pairs are seen about three times and 2,000 or more at most once: the curve "
             f"asks what a smaller or larger pool does at the same budget. Differences are against `{control}`, "
             "with paired t-tests on per-query AP (not corrected).", "",
             "| lang | pairs | " + " | ".join(f"`{n}`" for n in names) + " | "
             + " | ".join(f"`{n}` - `{control}`" for n in others) + " |",
             "|---|---:|" + "---:|" * (len(names) + len(others))]

    def size_order(size: str) -> float:
        return float("inf") if size == "all" else float(size)

    for lang in args.curve_langs:
        for size in sorted({k[2] for k in rows if k[1] == lang}, key=size_order):
            maps = [rows.get((n, lang, size)) for n in names]
            cells = [_fmt(float(np.mean(list(m.values()))) if m else None) for m in maps]
            diffs = []
            for other in others:
                a, b = rows.get((other, lang, size)), rows.get((control, lang, size))
                if a and b:
                    test = paired_t_test(a, b)
                    diffs.append(f"{test.mean_difference:+.4f} (p={test.p_value:.2g})")
                else:
                    diffs.append("")
            lines.append(f"| {lang} | {size} | " + " | ".join(cells) + " | " + " | ".join(diffs) + " |")
    return lines + [""]


def newlang_table(ckpt: Checkpoint, args) -> list[str]:
    """Regime (b): one table per budget that has rows (each a learning curve over its own run)."""
    zero = ckpt.rows.get("newlang/zero-shot/sw")
    budgets: dict[int, dict[str, dict]] = {}
    for key, row in ckpt.rows.items():
        parts = key.split("/")
        if parts[0] == "newlang" and parts[1] != "zero-shot":
            budgets.setdefault(int(parts[3]), {})[parts[1]] = row
    if not zero or not budgets:
        return []
    pairs = bitext_size(args, "sw")
    gap = zero["test"]["ceiling"] - zero["test"]["map"]
    lines = ["## Regime (b): a new language for an English-only model", "",
             "all-MiniLM-L6-v2 (English WordPiece vocabulary) is teacher and student; the student's word "
             f"embeddings are trained, lr {args.newlang_lr} (linear warm-up over the first 10% of the steps, "
             f"then linear decay), on all {pairs:,} English-Swahili pairs, batches of 16, seed 0. Dev MAP "
             "at each evaluation is the learning curve; test MAP at the end. Zero-shot (Swahili queries): dev "
             f"{zero['dev']['map']:.3f}, test {zero['test']['map']:.3f}; ceiling (English queries): dev "
             f"{zero['dev']['ceiling']:.3f}, test {zero['test']['ceiling']:.3f}.", ""]
    for budget, rows in sorted(budgets.items()):
        steps = sorted({e["step"] for r in rows.values() for e in r["evaluations"]})
        lines += [f"### {budget} steps of 16 pairs ({budget * 16 / pairs:.1f} epochs)", "",
                  "| objective | " + " | ".join(f"dev MAP @{s}" for s in steps)
                  + " | bitext P@1 | parallel cos | test MAP | gap closed (test) | s/step |",
                  "|---|" + "---:|" * (len(steps) + 5)]
        rows = dict(sorted(rows.items(), key=lambda item: item[0] != CONTROL))  # the control first
        for name, row in rows.items():
            by_step = {e["step"]: e for e in row["evaluations"]}
            test_map = float(np.mean(list(row["ap"].values())))
            last = row["evaluations"][-1]
            lines.append(f"| {name} | " + " | ".join(_fmt(by_step.get(s, {}).get("dev_map")) for s in steps)
                         + f" | {_fmt(last.get('bitext_p@1'))} | {_fmt(last.get('parallel_cosine'))} "
                         f"| {test_map:.3f} | {(test_map - zero['test']['map']) / gap:.0%} | {row['s_per_step']:.2f} |")
        control = rows.get(CONTROL)
        for name, row in rows.items():
            if control and name != CONTROL:
                test = paired_t_test(row["ap"], control["ap"])
                lines += ["", f"`{name}` against `{CONTROL}` on test: {test.mean_difference:+.4f} MAP "
                          f"(paired t-test p={test.p_value:.2g})."]
        lines.append("")
    return lines


def write_figure(ckpt: Checkpoint, args) -> str | None:
    """``ot_study.png``: the anchor (dev MAP against parallel cosine, per screened variant), test MAP
    against bitext size, and regime (b)'s dev MAP against steps. None without matplotlib."""
    try:
        from optical.plots import _figure, _save, draw_learning_curve
    except ImportError:
        return None
    figure = _figure((15.0, 4.2))
    anchor, sizes, steps = figure.subplots(1, 3)
    lang = args.screen_langs[0]
    points = {name: (row["evaluations"][-1].get("parallel_cosine"), row["dev_map"]) for name in VARIANTS
              if (row := ckpt.rows.get(f"screen/{name}/{lang}/{args.screen_steps}"))}
    # A collapsed run would squash every other point into one line: it sits on the floor, marked.
    floor = float(np.median([y for _, y in points.values()])) - 0.02 if points else 0.0
    for name, (x, y) in points.items():
        kind = "C1" if name.startswith(TRANSPORT_PREFIXES) else "C0"
        off_scale = y < floor
        anchor.scatter([x], [max(y, floor)], color=kind, s=18, marker="v" if off_scale else "o")
        label = f"{name} ({y:.3f}, off scale)" if off_scale else name
        anchor.annotate(label, (x, max(y, floor)), fontsize=6, xytext=(3, 2), textcoords="offset points",
                        ha="right" if off_scale else "left")
    anchor.set_xlabel("parallel cosine after training (student vs teacher, dev pairs)")
    anchor.set_ylabel(f"dev MAP ({lang})")
    anchor.set_title("Screening: transport (orange) and other objectives (blue)")
    anchor.grid(alpha=0.3)
    curves: dict[str, list[tuple[int, float]]] = {}
    for key, row in ckpt.rows.items():
        parts = key.split("/")
        if parts[0] == "curve" and parts[3] == str(args.curve_steps):
            size = int(row.get("pairs") or (parts[4][1:] if parts[4] != "pall" else 27_000))
            curves.setdefault(f"{parts[1]} {parts[2]}", []).append((size, float(np.mean(list(row["ap"].values())))))
    for key, row in ckpt.rows.items():
        parts = key.split("/")
        if (parts[0] == "final" and len(parts) == 5 and parts[3] == str(args.curve_steps) and parts[4] == "s0"
                and f"{parts[1]} {parts[2]}" in curves):
            curves[f"{parts[1]} {parts[2]}"].append((args.pairs, float(np.mean(list(row["ap"].values())))))
    if curves:
        draw_learning_curve(sizes, curves, xlabel="bitext pairs (log)", ylabel="test MAP",
                            title=f"Bitext size, {args.curve_steps} steps")
    else:
        sizes.text(0.5, 0.5, "learning curve over bitext size: not run", ha="center", va="center")
        sizes.axis("off")
    newlang = {f"{k.split('/')[1]}, {k.split('/')[3]} steps": [(e["step"], e["dev_map"]) for e in r["evaluations"]
                                                              if "dev_map" in e]
               for k, r in ckpt.rows.items() if k.startswith("newlang/") and "evaluations" in r}
    zero = ckpt.rows.get("newlang/zero-shot/sw")
    if newlang and zero:
        draw_learning_curve(steps, newlang, xlabel="step", ylabel="dev MAP (sw)", xscale="linear",
                            baselines={"zero-shot": zero["dev"]["map"], "ceiling": zero["dev"]["ceiling"]},
                            title="Regime (b): MiniLM learns Swahili")
    else:
        steps.text(0.5, 0.5, "regime (b): not run", ha="center", va="center")
        steps.axis("off")
    return str(_save(figure, RESULTS / "ot_study.png"))


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
    lines += screen_table(ckpt, args) + screen_noise_table(ckpt, args)
    budgets = sorted({int(k.split("/")[3]) for k in ckpt.rows if k.startswith("final/") and k.count("/") == 4})
    summary: dict = {}
    for steps in budgets:
        final_lines, summary[str(steps)] = final_table(ckpt, args, steps)
        if final_lines:
            lines += (["## Finalists (test)", ""] if steps == budgets[0] else []) + final_lines
    late_lines, summary["late"] = late_table(ckpt, args)
    if late_lines:
        lines += ["## Late interaction: MaxSim re-ranking at test time", "",
                  "Where could a token alignment pay? Retrieval above scores the mean-pooled vector. Here each "
                  "student's dense top 100 is re-ranked by MaxSim between its query tokens and the teacher's "
                  "document tokens (ColBERT's late interaction), so the student's token geometry is scored.", "",
                  *late_lines]
    lines += curve_table(ckpt, args) + newlang_table(ckpt, args)
    if write_figure(ckpt, args):
        lines += ["![screening, bitext size and regime (b)](ot_study.png)", ""]
    (RESULTS / "ot_study.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "ot_study_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=["screen", "final", "report"],
                        choices=["screen", "final", "late", "curve", "newlang", "report"])
    parser.add_argument("--model", default=None, help="teacher and student folder (default: the recipe's e5)")
    parser.add_argument("--wikiclir", default=str(Path(cache_dir("bible")) / "wikiclir"))
    parser.add_argument("--bitext-dir", default=str(Path(cache_dir("bible")) / "bitext"))
    parser.add_argument("--pairs", type=int, default=8000, help="training pairs per language (first N)")
    parser.add_argument("--dev-pairs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--screen-langs", nargs="+", default=["sw"])
    parser.add_argument("--screen-steps", type=int, default=100)
    parser.add_argument("--variants", nargs="+", default=None, choices=list(VARIANTS))
    parser.add_argument("--screen-seeds", type=int, default=1, help="seeds per screened variant (>1: dev noise)")
    parser.add_argument("--finalists", type=int, default=2, help="transport variants carried to the test split")
    parser.add_argument("--final-variants", nargs="+", default=None, choices=list(VARIANTS))
    parser.add_argument("--final-langs", nargs="+", default=list(LOW))
    parser.add_argument("--final-steps", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--curve-langs", nargs="+", default=["sw", "bn"])
    parser.add_argument("--curve-sizes", nargs="+", default=["500", "2000", "8000", "all"])
    parser.add_argument("--curve-variants", nargs="+", default=["nce", "ot+nce"], choices=list(VARIANTS))
    parser.add_argument("--curve-steps", type=int, default=100)
    parser.add_argument("--newlang-variants", nargs="+", default=["nce", "ot+nce"], choices=list(VARIANTS))
    parser.add_argument("--newlang-steps", type=int, default=600)
    parser.add_argument("--newlang-lr", type=float, default=1e-4)
    parser.add_argument("--newlang-evals", type=int, default=5, help="dev evaluations over a regime (b) run")
    parser.add_argument("--late-variants", nargs="+", choices=list(VARIANTS), default=[
        "nce", "cos+nce", "ot+nce", "ot+nce centered", "ot+nce centered eps0.02", "ot+nce eps0.02",
        "token-mse+nce", "maxsim-contrast+nce"], help="screened on dev under MaxSim re-ranking")
    parser.add_argument("--late-seeds", type=int, default=2, help="test seeds of the late stage (seeds 3, 4, ...)")
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
    if "late" in args.only:
        late(args, ckpt, caches)
    if "curve" in args.only:
        curve(args, ckpt, caches)
    if "newlang" in args.only:
        newlang(args, ckpt, caches)
    if "report" in args.only:
        write_report(ckpt, args, time.perf_counter() - started)


if __name__ == "__main__":
    main()
