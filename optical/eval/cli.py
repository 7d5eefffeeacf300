"""``optical evaluate``: score existing runs (as ``trec_eval`` does) or retrieve and score a collection.

Scoring a run::

    optical evaluate --run RUN --qrels QRELS --metrics AP nDCG@10 RR@10 [--per-query]

prints ``measure<TAB>value`` per measure and, with ``--per-query``, first ``qid<TAB>measure<TAB>value``
for every query and measure (queries judged but absent from the run score 0).

Retrieving and scoring (every setting, language and system in one command)::

    optical evaluate --collection DIR --query-encoder E5 MINILM MINILM --doc-encoder E5 MINILM MINILM \\
        --query-source native native en --system-name e5 minilm minilm-en --metrics AP nDCG@10 --out DIR

``--query-encoder bm25`` is the lexical baseline.  With ``--out``: runs, ``results.json``,
``results.md``.  :func:`add_evaluate_command` adds the sub-command to the ``optical`` parser.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from optical.config import add_config_arguments, build_config, check_choices, check_device

__all__ = ["EvaluateConfig", "add_evaluate_command", "evaluate_command"]

DEFAULT_METRICS = ("AP", "nDCG@10", "nDCG@20", "RR@10", "R@100", "R@1000")
# The keys of ``optical.eval.significance.CORRECTIONS`` (a test keeps them equal), spelled here so
# that ``--help`` does not import scipy.
CORRECTIONS = ("holm", "bonferroni", "none")
TIES = ("Score ties are broken as trec_eval breaks them: by docid, descending. ir_measures computes RR@k with "
        "its msmarco provider, which orders ties otherwise, so RR@k can differ from ir_measures on runs with "
        "tied scores; AP, nDCG, P, R and RR without a cut-off agree.")


@dataclass
class EvaluateConfig:
    """Everything ``optical evaluate`` needs; every field is also a ``--flag``."""

    metrics: tuple[str, ...] = field(default=DEFAULT_METRICS, metadata={
        "help": "ir_measures names: AP nDCG@10 RR@10 R@100 P@5 P(rel=2)@5 ... (the first is the primary)"})
    run: Path | None = field(default=None, metadata={"help": "score this TREC run (with --qrels)"})
    qrels: Path | None = field(default=None, metadata={"help": "TREC qrels (3 or 4 columns) for --run"})
    per_query: bool = field(default=False, metadata={"help": "print qid measure value lines for each query"})
    collection: Path | None = field(default=None, metadata={
        "help": "collection directory (WikiCLIR, XQuAD-R, mMARCO or TREC-style topics + qrels + docs/) to retrieve "
                "from; with --run: the run's query and document ids must be in it"})
    dataset: str | None = field(default=None, metadata={
        "help": "an ir_datasets id, irds:<id>, instead of --collection (needs the irds extra and the dataset's "
                "files in ir_datasets' home)"})
    layout: str = field(default="auto", metadata={
        "help": "collection layout", "choices": ("auto", "wikiclir", "xquadr", "mmarco", "trec")})
    split: str = field(default="dev", metadata={"help": "mMARCO query split"})
    doc_lang: str = field(default="en", metadata={"help": "language of a TREC-style folder's documents"})
    topic_field: str = field(default="title", metadata={
        "help": "TREC topic field used as the query text", "choices": ("title", "desc", "narr", "title+desc")})
    langs: tuple[str, ...] = field(default=(), metadata={"help": "languages to evaluate (default: all present)"})
    settings: tuple[str, ...] = field(default=(), metadata={
        "help": "parallel collections' settings (default: all the collection has)",
        "choices": ("mono", "cross", "multi")})
    query_encoder: tuple[str, ...] = field(default=(), metadata={
        "help": "one per system: encoder folder or hub name, or bm25"})
    doc_encoder: tuple[str, ...] = field(default=(), metadata={
        "help": "one per system (or one for all; default: the query encoder)"})
    query_source: tuple[str, ...] = field(default=(), metadata={
        "help": "one per system: native, a language code (the same queries in that language) or a qid<TAB>text file"})
    query_lang: tuple[str, ...] = field(default=(), metadata={
        "help": "one per system: the language of its --query-source, used in every label of results.md and "
                "results.json (auto: the task's own query language)"})
    system_name: tuple[str, ...] = field(default=(), metadata={"help": "one per system (default: folder names)"})
    rerank: str = field(default="none", metadata={
        "help": "maxsim: late interaction over the top candidates", "choices": ("none", "maxsim")})
    rerank_depth: int = field(default=100, metadata={"help": "candidates re-ranked by maxsim"})
    depth: int = field(default=1000, metadata={"help": "documents retrieved per query"})
    max_queries: int | None = field(default=None, metadata={"help": "evaluate the first N judged queries per task"})
    batch_size: int = field(default=64, metadata={"help": "texts per encoder forward pass"})
    chunk_size: int = field(default=16384, metadata={"help": "documents per matrix product in dense search"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    cache: bool = field(default=True, metadata={"help": "cache encoded texts under $OPTICAL_CACHE/encoded"})
    bias: bool = field(default=True, metadata={"help": "rank distance and alignment (parallel collections)"})
    correction: str = field(default="holm", metadata={
        "help": "multiple-comparison correction across languages", "choices": CORRECTIONS})
    alpha: float = field(default=0.05, metadata={"help": "significance level"})
    out: Path | None = field(default=None, metadata={"help": "write runs, results.json and results.md here"})

    def __post_init__(self) -> None:
        from optical.eval.measures import parse_measures

        check_choices(self)
        parse_measures(list(self.metrics))
        if self.dataset is not None and not self.dataset.startswith("irds:"):
            raise ValueError(f"--dataset takes an ir_datasets id written irds:<id>, got {self.dataset!r}")
        if self.dataset is not None and self.collection is not None:
            raise ValueError("give --collection or --dataset, not both")
        if self.run is None and self.collection is None and self.dataset is None:
            raise ValueError("give --run with --qrels (score a run) or --collection/--dataset (retrieve and score)")
        if self.run is not None and self.qrels is None:
            raise ValueError("--run needs --qrels")
        if self.run is None and not self.query_encoder:
            raise ValueError("--collection/--dataset needs at least one --query-encoder")
        if self.run is not None and self.query_encoder:
            raise ValueError("--run scores an existing run: --query-encoder is not used with it")
        systems = len(self.query_encoder)
        for name in ("doc_encoder", "query_source", "query_lang", "system_name"):
            given = len(getattr(self, name))
            if given not in (0, systems) and not (name == "doc_encoder" and given == 1):
                raise ValueError(f"--{name.replace('_', '-')}: {given} values for {systems} system(s)")
        if self.depth < 1 or self.rerank_depth < 1 or self.batch_size < 1 or self.chunk_size < 1:
            raise ValueError("--depth, --rerank-depth, --batch-size and --chunk-size must be >= 1")
        if self.max_queries is not None and self.max_queries < 1:
            raise ValueError("--max-queries must be >= 1")
        check_device(self.device)


def _score_run(config: EvaluateConfig) -> int:
    from optical.eval.evaluator import score_run_file, write_run_scores

    source = _open_source(config) if config.collection is not None or config.dataset is not None else None
    evaluation, messages = score_run_file(config.run, config.qrels, list(config.metrics), source=source,
                                          settings=config.settings or None)
    for message in messages:
        print(f"optical evaluate: warning: {message}", file=sys.stderr)
    if config.per_query:
        for qid in evaluation.query_ids:
            for measure in evaluation.measures:
                print(f"{qid}\t{measure}\t{evaluation.per_query[str(measure)][qid]:.4f}")
    for name, value in evaluation.aggregates.items():
        print(f"{name}\t{value:.4f}")
    if config.out is not None:
        write_run_scores(config.out, config.run, config.qrels, evaluation)
    return 0


def _open_source(config: EvaluateConfig, max_queries: int | None = None):
    from optical.eval.collections import open_source

    return open_source(config.dataset or config.collection, layout=config.layout, langs=config.langs,
                       split=config.split, max_queries=max_queries, doc_lang=config.doc_lang,
                       topic_field=config.topic_field)


def _retrieve_and_score(config: EvaluateConfig) -> int:
    from optical.eval.evaluator import run_evaluation
    from optical.eval.report import report_to_dict, report_to_markdown, write_map_chart, write_report
    from optical.eval.systems import build_systems

    source = _open_source(config, config.max_queries)
    systems = build_systems(
        config.query_encoder, config.doc_encoder, config.query_source, config.system_name, device=config.device,
        batch_size=config.batch_size, cache=config.cache, chunk_size=config.chunk_size,
        rerank_depth=config.rerank_depth if config.rerank == "maxsim" else None,
    )
    for system, lang in zip(systems, config.query_lang, strict=False):
        system.query_lang = None if lang == "auto" else lang
    report = run_evaluation(source, systems, list(config.metrics), settings=config.settings or None,
                            depth=config.depth, out=config.out, correction=config.correction, bias=config.bias)
    report.info["config"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    if config.out is not None:
        json_path, markdown_path = write_report(report, config.out, alpha=config.alpha)
        print(f"wrote {json_path} and {markdown_path}")
        chart = write_map_chart(report, config.out)
        if chart is not None:
            print(f"wrote {chart}")
        from optical.models.card import update_model_cards

        for card in update_model_cards(report_to_dict(report)):
            print(f"updated the model card {card}")
    print(report_to_markdown(report, alpha=config.alpha))
    return 0


def evaluate_command(config: EvaluateConfig) -> int:
    """Run ``optical evaluate`` for ``config``; returns the exit status."""
    if config.run is not None:
        return _score_run(config)
    return _retrieve_and_score(config)


def _evaluate(args: argparse.Namespace) -> int:
    return evaluate_command(build_config(EvaluateConfig, args))


def add_evaluate_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``evaluate`` to the ``optical`` sub-commands (``commands`` in :func:`optical.cli.build_parser`)."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score TREC runs (trec_eval semantics) or retrieve and score a CLIR collection per language",
        description="Score TREC runs as trec_eval -c does, or retrieve from a collection (WikiCLIR, XQuAD-R or "
                    "mMARCO layout) with several systems and score them per language and setting. " + TIES,
    )
    add_config_arguments(parser, EvaluateConfig)
    parser.set_defaults(handler=_evaluate)
    return parser
