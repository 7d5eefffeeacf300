"""CLIR evaluation: retrieval, ``trec_eval``-exact measures, tables, significance, language bias.

- :mod:`~optical.eval.measures`: ``ir_measures``-style definitions (``AP``, ``nDCG@10``, ``RR@10``,
  ``R@100``, ``P@k``, ``Success@k``; ``rel=N`` for a minimum relevance grade).
- :mod:`~optical.eval.metrics`: :func:`evaluate` (``trec_eval -c``: ties by docid descending,
  judged queries missing from the run score 0), per-query values kept.
- :mod:`~optical.eval.retrieval`: exact chunked :func:`dense_search`, :func:`maxsim_rerank`,
  :func:`exact_ranks`; :mod:`~optical.eval.bm25`: Lucene BM25 (CJK bigrams, script-aware tokens).
- :mod:`~optical.eval.retrievers`: the ``Retriever`` protocol, dense and BM25 retrievers, ``EncoderCache``.
- :mod:`~optical.eval.encoding`: encoded texts cached by model and content.
- :mod:`~optical.eval.collections`: the ``Source`` protocol; mono / cross / multi tasks of WikiCLIR,
  XQuAD-R, mMARCO layouts, TREC-style folders and ``ir_datasets`` ids.
- :mod:`~optical.eval.significance`: paired t-test, Holm and Bonferroni.
- :mod:`~optical.eval.bias`: rank distance, parallel cosine, bitext P@1.
- :mod:`~optical.eval.mining`: hard negatives for training triplets from any run (BM25 or a model's).
- :mod:`~optical.eval.evaluator` and :mod:`~optical.eval.report`: the pipeline, JSON and Markdown.
"""

from __future__ import annotations

from optical.eval.bias import bitext_retrieval_accuracy, language_bias, mean_parallel_cosine, rank_distance
from optical.eval.bm25 import BM25Index, tokenize
from optical.eval.measures import MEASURES, Measure, parse_measure, parse_measures
from optical.eval.metrics import Evaluation, EvaluationWarning, check_run, evaluate, rank_run
from optical.eval.mining import MiningStats, mine_negatives
from optical.eval.retrieval import dense_search, exact_ranks, maxsim_rerank, topk_to_run
from optical.eval.significance import adjust_p_values, bonferroni, compare_per_language, holm, paired_t_test

__all__ = [
    "MEASURES",
    "BM25Index",
    "Evaluation",
    "EvaluationWarning",
    "Measure",
    "MiningStats",
    "adjust_p_values",
    "bitext_retrieval_accuracy",
    "bonferroni",
    "check_run",
    "compare_per_language",
    "dense_search",
    "evaluate",
    "exact_ranks",
    "holm",
    "language_bias",
    "maxsim_rerank",
    "mine_negatives",
    "mean_parallel_cosine",
    "paired_t_test",
    "parse_measure",
    "parse_measures",
    "rank_distance",
    "rank_run",
    "tokenize",
    "topk_to_run",
]
