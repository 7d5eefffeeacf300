"""The CLIR evaluation pipeline: systems x tasks -> runs -> measures, tables, tests, bias, alignment.

:func:`run_evaluation` takes a collection source (:mod:`optical.eval.collections`), named systems
(:class:`System`: a retriever and where its queries come from) and measures; it retrieves every
task with every system, scores the runs, and, on multi-parallel collections, measures language
bias (rank distance in the ``multi`` setting) and cross-lingual alignment.  The result is an
:class:`EvaluationReport` (see :mod:`optical.eval.report` for its JSON and Markdown forms).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optical.data.trec import write_trec_run
from optical.eval.bias import bitext_retrieval_accuracy, language_bias, mean_parallel_cosine, rank_distance
from optical.eval.collections import RetrievalTask, Source, TextSet, read_query_file
from optical.eval.measures import Measure, parse_measures
from optical.eval.metrics import Evaluation, EvaluationWarning, evaluate
from optical.eval.retrievers import Retriever
from optical.eval.significance import PairedTest, compare_per_language

__all__ = ["EvaluationReport", "System", "TaskResult", "run_evaluation", "score_run_file", "write_run_scores"]

log = logging.getLogger(__name__)


@dataclass
class System:
    """A named retrieval system.

    ``query_source``: ``"native"`` (each task's own queries), a language code (the same queries,
    by id, written in that language: e.g. ``"en"`` for the English version of every query), or a
    ``qid<TAB>text`` file.  ``query_lang``: the language of those queries, used in the labels of
    the system's rows and run files (``None``: the task's own query language, as for ``native``).
    """

    name: str
    retriever: Retriever
    query_source: str = "native"
    query_lang: str | None = None

    def label(self, task: RetrievalTask) -> tuple[str, str]:
        """The query language and the ``x→y`` label of this system's row of ``task``."""
        if self.query_lang is None:
            return task.query_lang, task.label
        return self.query_lang, f"{self.query_lang}→{task.label.split('→', 1)[1]}"


@dataclass
class TaskResult:
    """One system on one task: its evaluation and where its run was written."""

    system: str
    setting: str
    query_lang: str
    doc_langs: tuple[str, ...]
    label: str
    evaluation: Evaluation
    run_file: str | None = None
    task: str = ""

    def __post_init__(self) -> None:
        # ``task`` pairs the rows of different systems (their labels differ when their queries do).
        self.task = self.task or self.label


@dataclass
class EvaluationReport:
    """Everything one evaluation measured (per-query values inside each :class:`TaskResult`)."""

    collection: str
    measures: tuple[Measure, ...]
    systems: tuple[str, ...]
    results: list[TaskResult]
    significance: dict[str, dict[str, dict[str, PairedTest]]] = field(default_factory=dict)
    bias: dict[str, dict[str, float]] = field(default_factory=dict)
    bias_per_query: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    alignment: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def settings(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.setting for r in self.results))

    def rows(self, system: str, setting: str) -> list[TaskResult]:
        return [r for r in self.results if r.system == system and r.setting == setting]

    def row_label(self, setting: str, task: str) -> str:
        """The label of a table row: the systems' common label, else the task's own."""
        labels = {r.label for r in self.results if r.setting == setting and r.task == task}
        return labels.pop() if len(labels) == 1 else task

    def macro(self, system: str, setting: str) -> dict[str, float]:
        """Macro average over the setting's rows (languages or language pairs) of each measure's mean."""
        rows = self.rows(system, setting)
        return {str(m): float(np.mean([r.evaluation.aggregates[str(m)] for r in rows])) for m in self.measures}


def _queries_for(system: System, task: RetrievalTask, source: Source) -> TextSet:
    if system.query_source == "native":
        return task.queries
    if Path(system.query_source).is_file():
        texts = read_query_file(system.query_source, system.query_lang or "file")
    else:
        texts = source.queries_in(system.query_source)
    try:
        return texts.subset(task.queries.ids)
    except ValueError as error:
        raise ValueError(f"system {system.name}: query source {system.query_source!r}: {error}") from None


def run_evaluation(
    source: Source,
    systems: Sequence[System],
    measures: Sequence[str | Measure],
    *,
    settings: Sequence[str] | None = None,
    depth: int = 1000,
    out: str | Path | None = None,
    correction: str = "holm",
    bias: bool = True,
) -> EvaluationReport:
    """Retrieve and score every task of ``source`` with every system.

    Parameters
    ----------
    source
        Any :class:`~optical.eval.collections.Source` (:func:`~optical.eval.collections.open_source`).
    systems
        Named systems; the first is the baseline of the significance tests.
    measures
        ``ir_measures`` names.
    settings
        Subset of the source's settings (default: all it has).
    depth
        Documents retrieved per query (runs are cut there).
    out
        If given, runs are written to ``out/runs/<system>/<setting>/<query lang>-<doc langs>.run``.
    correction
        ``"holm"``, ``"bonferroni"`` or ``"none"``, across the rows of a setting.
    bias
        On a parallel source (``source.parallel``) with the ``multi`` setting: rank distance per
        query language; and alignment of every language with English (or the first language).
    """
    parsed = parse_measures(list(measures))
    names = [s.name for s in systems]
    if not systems:
        raise ValueError("no system to evaluate")
    if len(set(names)) != len(names):
        raise ValueError(f"system names must be unique, got {names}")
    settings = tuple(settings) if settings else tuple(source.settings)
    tasks = source.tasks(settings)
    for task in tasks:
        known = set(task.document_ids)
        dangling = sum(docid not in known for judged in task.qrels.values() for docid in judged)
        if dangling:
            warnings.warn(
                f"{task.setting} {task.label}: {dangling} judgment(s) name documents not in the collection "
                "(they still count as relevant, and can never be retrieved)",
                EvaluationWarning,
                stacklevel=2,
            )
    started = time.perf_counter()
    results: list[TaskResult] = []
    report = EvaluationReport(source.name, parsed, tuple(names), results)
    for system in systems:
        for task in tasks:
            queries = _queries_for(system, task, source)
            log.info("%s: %s %s (%d queries, %d documents)", system.name, task.setting, task.label,
                     len(queries), len(task.document_ids))
            run = system.retriever.search(queries, task.documents, depth)
            query_lang, label = system.label(task)
            run_file = None
            if out is not None:
                target = "all" if task.setting == "multi" else "+".join(task.doc_langs)
                path = Path(out) / "runs" / system.name / task.setting / f"{query_lang}-{target}.run"
                write_trec_run(path, run, tag=system.name.replace(" ", "_"))
                run_file = str(path)
            evaluation = evaluate(task.qrels, run, parsed)
            results.append(TaskResult(system.name, task.setting, query_lang, task.doc_langs, label,
                                      evaluation, run_file, task.label))
        if bias and source.parallel and "multi" in settings:
            _measure_bias(report, system, source, [t for t in tasks if t.setting == "multi"])
    if len(systems) > 1:
        primary = str(parsed[0])
        for system in systems[1:]:
            report.significance[system.name] = {}
            for setting in settings:
                rows_a = {r.task: r.evaluation.per_query[primary] for r in report.rows(system.name, setting)}
                rows_b = {r.task: r.evaluation.per_query[primary] for r in report.rows(systems[0].name, setting)}
                if all(len(v) >= 2 for v in rows_a.values()):
                    report.significance[system.name][setting] = compare_per_language(
                        rows_a, rows_b, correction=correction
                    )
    report.info.update(
        {"seconds": round(time.perf_counter() - started, 1), "depth": depth, "correction": correction,
         "baseline": names[0], "primary_measure": str(parsed[0]),
         "systems": {s.name: _describe(s) for s in systems}}
    )
    return report


def _describe(system: System) -> dict:
    described: dict = {"query_source": system.query_source}
    if system.query_lang is not None:
        described["query_lang"] = system.query_lang
    return {**described, **system.retriever.describe()}


def _measure_bias(report: EvaluationReport, system: System, source: Source, tasks: list[RetrievalTask]) -> None:
    per_language: dict[str, dict[str, float]] = {}
    retriever = system.retriever
    if not retriever.has_full_ranking:
        log.info("%s: no rank distance for MaxSim re-ranking (full rankings are dense-only)", system.name)
        return
    for task in tasks:
        queries = _queries_for(system, task, source)
        # The pooled qrels judge every language version alike: the judged ids are the ids before the @.
        relevant = {
            qid: sorted({d.rsplit("@", 1)[0] for d, g in task.qrels.get(qid, {}).items() if g > 0})
            for qid in queries.ids
        }
        targets = {qid: [f"{cid}@{lang}" for cid in cids for lang in task.doc_langs] for qid, cids in relevant.items()}
        ranks = retriever.ranks(queries, task.documents, targets)
        per_language[task.query_lang] = rank_distance(ranks, relevant, task.doc_langs)
    report.bias_per_query[system.name] = per_language
    report.bias[system.name] = language_bias(per_language)
    pivot = "en" if "en" in source.languages else source.languages[0]
    target = source.queries_in(pivot)
    alignment = {}
    for lang in source.languages:
        if lang == pivot:
            continue
        sentences = source.queries_in(lang).subset(target.ids)
        vectors = retriever.alignment_vectors(sentences, target)
        if vectors is None:
            return
        alignment[f"{lang}-{pivot}"] = {
            "cosine": mean_parallel_cosine(*vectors),
            "p_at_1": bitext_retrieval_accuracy(*vectors),
            "pairs": len(sentences),
        }
    report.alignment[system.name] = alignment


def score_run_file(run: str | Path, qrels: str | Path, measures: Sequence[str], *, source: Source | None = None,
                   settings: Sequence[str] | None = None) -> tuple[Evaluation, list[str]]:
    """Score a TREC run file against a qrels file; return the evaluation and the warnings to show.

    With ``source``, every query and document id of the run must be one the collection knows
    (in any of its ``settings``, pooled ids included).
    """
    from optical.data import read_qrels, read_trec_run
    from optical.eval.metrics import check_run

    judgments = read_qrels(qrels)
    ranking = read_trec_run(run)
    if source is not None:
        tasks = source.tasks(settings or source.settings)
        check_run(ranking, query_ids={q for t in tasks for q in t.queries.ids},
                  document_ids={d for t in tasks for d in t.document_ids})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluation = evaluate(judgments, ranking, list(measures))
    return evaluation, [str(w.message) for w in caught]


def write_run_scores(out: str | Path, run: str | Path, qrels: str | Path, evaluation: Evaluation) -> Path:
    """``out/results.json``: the run, the qrels and every measure (aggregates and per query)."""
    import json

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"run": str(run), "qrels": str(qrels), **evaluation.as_dict()}
    path = folder / "results.json"
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return path
