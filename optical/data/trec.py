"""TREC relevance judgments (qrels) and runs.

Qrels, one judgment a line, whitespace-separated:

- 4 columns (TREC, and MS MARCO's ``qid<TAB>0<TAB>pid<TAB>1``): ``qid iteration docid relevance``;
- 3 columns (WikiCLIR's ``en2xx.rel``): ``qid docid relevance``.

Relevance must be an integer.  In memory, qrels are ``{qid: {docid: relevance}}``, the format
``pytrec_eval`` and ``ir_measures`` take; a (qid, docid) pair judged twice keeps its highest grade
(MS MARCO's ``qrels.dev.tsv`` repeats some lines).

Runs, ``qid Q0 docid rank score tag``, are ``{qid: [(docid, score), ...]}`` in memory.
:func:`write_trec_run` writes each ranking with **strictly decreasing scores** and ranks 1..k, so
any evaluator gets the same order whether it reads ranks or re-sorts by score.  Tie rule:
documents with equal scores are ordered by docid in *decreasing* string order, the order
``trec_eval`` (and ``pytrec_eval``, ``ir_measures``) gives ties and the one ``optical.eval`` ranks
with; then each score that is not below the one written before it is lowered to the next float
below that one (``math.nextafter``), one unit in the last place per tied document.  Scores are
written with ``repr`` (the shortest string that reads back as the same float), so the nudged
values survive the round trip.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Literal

from optical.data._lines import (
    PathLike,
    check_writable_id,
    iter_lines,
    open_text_for_write,
)
from optical.data.errors import BadLines, DataFormatError, OnError, check_on_error
from optical.data.records import Qrel, RunEntry

Qrels = dict[str, dict[str, int]]
Run = dict[str, list[tuple[str, float]]]

_INTEGER = re.compile(r"[+-]?[0-9]+")


def read_qrels_records(
    path: PathLike, *, columns: Literal["auto", 3, 4] = "auto", on_error: OnError = "raise"
) -> Iterator[Qrel]:
    """Stream the judgments of a qrels file.

    Parameters
    ----------
    path
        A qrels file (``.gz`` is decompressed).
    columns
        ``3``, ``4``, or ``"auto"``: the column count of the first non-blank line, which every
        later line must then match.
    on_error
        ``"raise"`` (a :class:`~optical.data.errors.DataFormatError` naming the file and line) or
        ``"skip"`` (drop the line, count it, warn once at the end).

    Yields
    ------
    Qrel
        One per judgment line; blank lines are ignored.
    """
    check_on_error(on_error)
    if columns not in ("auto", 3, 4):
        raise ValueError(f"columns must be 'auto', 3 or 4, got {columns!r}")
    return _read_qrels_records(Path(path), columns, on_error)


def _read_qrels_records(path: Path, columns: Literal["auto", 3, 4], on_error: OnError) -> Iterator[Qrel]:
    bad = BadLines(path, on_error)
    expected = None if columns == "auto" else columns
    try:
        for number, line in iter_lines(path, bad):
            fields = line.split()
            if not fields:
                continue
            if expected is None and len(fields) in (3, 4):
                expected = len(fields)
            if len(fields) != expected:
                want = "3 or 4" if expected is None else str(expected)
                bad.report(number, f"expected {want} whitespace-separated qrels columns, found {len(fields)}")
                continue
            if expected == 3:
                qid, docid, relevance = fields
            else:
                qid, _, docid, relevance = fields
            if not _INTEGER.fullmatch(relevance):
                bad.report(number, f"relevance {relevance!r} is not an integer")
                continue
            yield Qrel(qid, docid, int(relevance))
    finally:
        bad.warn_if_skipped()


def read_qrels(path: PathLike, *, columns: Literal["auto", 3, 4] = "auto", on_error: OnError = "raise") -> Qrels:
    """Read a qrels file into ``{qid: {docid: relevance}}`` (a repeated pair keeps its highest grade).

    Raises
    ------
    DataFormatError
        On a malformed line (see :func:`read_qrels_records`), and when the file holds no judgment
        (empty, or every line skipped): every query would otherwise score zero in silence.
    """
    qrels = qrels_from_records(read_qrels_records(path, columns=columns, on_error=on_error))
    if not qrels:
        raise DataFormatError(path, None, "no judgment in the qrels file (it is empty or every line was skipped)")
    return qrels


def qrels_from_records(records: Iterable[Qrel]) -> Qrels:
    """Collect :class:`Qrel` records into ``{qid: {docid: relevance}}`` (highest grade wins)."""
    qrels: Qrels = {}
    for qrel in records:
        judged = qrels.setdefault(qrel.qid, {})
        judged[qrel.docid] = max(qrel.relevance, judged.get(qrel.docid, qrel.relevance))
    return qrels


def write_qrels(
    path: PathLike,
    qrels: Mapping[str, Mapping[str, int]] | Iterable[Qrel],
    *,
    columns: Literal[3, 4] = 4,
    iteration: str = "0",
    separator: str = " ",
) -> int:
    """Write qrels in the 4-column (``qid iteration docid rel``) or 3-column (``qid docid rel``) format.

    Parameters
    ----------
    path
        Output file (``.gz`` compresses).
    qrels
        ``{qid: {docid: relevance}}`` or an iterable of :class:`Qrel`; written in the given order.
    columns
        4 (TREC, MS MARCO) or 3 (WikiCLIR).
    iteration
        The second column of the 4-column format (``"0"`` in TREC and MS MARCO files).
    separator
        ``" "`` (TREC) or ``"\\t"`` (MS MARCO).

    Returns
    -------
    int
        The number of lines written.
    """
    if columns not in (3, 4):
        raise ValueError(f"columns must be 3 or 4, got {columns!r}")
    if separator not in (" ", "\t"):
        raise ValueError("separator must be a space or a tab")
    records = (
        (Qrel(qid, docid, rel) for qid, judged in qrels.items() for docid, rel in judged.items())
        if isinstance(qrels, Mapping)
        else qrels
    )
    written = 0
    with open_text_for_write(path) as out:
        for qrel in records:
            qid = check_writable_id(qrel.qid, "query id")
            docid = check_writable_id(qrel.docid, "document id")
            relevance = qrel.relevance
            if isinstance(relevance, bool) or int(relevance) != relevance:
                raise ValueError(f"relevance of ({qid}, {docid}) must be an integer, got {relevance!r}")
            row = [qid, docid, str(int(relevance))] if columns == 3 else [qid, iteration, docid, str(int(relevance))]
            out.write(separator.join(row) + "\n")
            written += 1
    return written


def read_trec_run_records(path: PathLike, *, on_error: OnError = "raise") -> Iterator[RunEntry]:
    """Stream the lines of a TREC run (``qid Q0 docid rank score tag``); blank lines are ignored.

    A document listed twice for one query is malformed (``trec_eval`` rejects such runs too).
    """
    check_on_error(on_error)
    return _read_run_records(Path(path), on_error)


def _read_run_records(path: Path, on_error: OnError) -> Iterator[RunEntry]:
    bad = BadLines(path, on_error)
    seen: set[tuple[str, str]] = set()
    try:
        for number, line in iter_lines(path, bad):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                bad.report(number, f"expected 6 run columns (qid Q0 docid rank score tag), found {len(fields)}")
                continue
            qid, _, docid, rank, score, tag = fields
            if not _INTEGER.fullmatch(rank):
                bad.report(number, f"rank {rank!r} is not an integer")
                continue
            try:
                value = float(score)
            except ValueError:
                bad.report(number, f"score {score!r} is not a number")
                continue
            if not math.isfinite(value):
                bad.report(number, f"score {score!r} is not finite")
                continue
            if (qid, docid) in seen:
                bad.report(number, f"document {docid} appears twice for query {qid}")
                continue
            seen.add((qid, docid))
            yield RunEntry(qid, docid, int(rank), value, tag)
    finally:
        bad.warn_if_skipped()


def read_trec_run(path: PathLike, *, on_error: OnError = "raise") -> Run:
    """Read a TREC run into ``{qid: [(docid, score), ...]}``, each list by descending score.

    Equal scores keep their rank order from the file.
    """
    entries: dict[str, list[RunEntry]] = {}
    for entry in read_trec_run_records(path, on_error=on_error):
        entries.setdefault(entry.qid, []).append(entry)
    return {
        qid: [(e.docid, e.score) for e in sorted(ranked, key=lambda e: (-e.score, e.rank))]
        for qid, ranked in entries.items()
    }


def _next_below(value: float) -> float:
    """The largest normal float below ``value``.

    Subnormals are skipped: with flush-to-zero on (``torch.set_flush_denormal(True)``) they
    compare equal to zero, and the ranking would no longer be strict.
    """
    tiny = sys.float_info.min
    if value > tiny or value <= -tiny:
        return math.nextafter(value, -math.inf)
    return 0.0 if value > 0 else -tiny


def order_ranking(scored: Iterable[tuple[str, float]] | Mapping[str, float]) -> list[tuple[str, float]]:
    """Order one query's ``(docid, score)`` pairs as :func:`write_trec_run` writes them.

    Sorts by score descending, ties by docid descending (``trec_eval``'s order), then lowers tied
    scores one float step at a time so that the returned scores strictly decrease (see the
    module docstring).

    Raises
    ------
    ValueError
        On a non-finite score or a repeated docid.
    """
    pairs = list(scored.items()) if isinstance(scored, Mapping) else list(scored)
    checked: list[tuple[str, float]] = []
    seen: set[str] = set()
    for docid, score in pairs:
        value = float(score)
        if not math.isfinite(value):
            raise ValueError(f"score of document {docid!r} is not finite: {score!r}")
        if docid in seen:
            raise ValueError(f"document {docid!r} appears twice in one ranking")
        seen.add(docid)
        checked.append((str(docid), value))
    # Two stable sorts: docid descending, then score descending.
    checked.sort(key=lambda pair: pair[0], reverse=True)
    checked.sort(key=lambda pair: -pair[1])
    strict: list[tuple[str, float]] = []
    previous = math.inf
    for docid, score in checked:
        if score >= previous:
            score = _next_below(previous)
        strict.append((docid, score))
        previous = score
    return strict


def write_trec_run(
    path: PathLike,
    run: Mapping[str, Iterable[tuple[str, float]] | Mapping[str, float]],
    *,
    tag: str = "optical",
    depth: int | None = None,
) -> int:
    """Write a run in the TREC six-column format with strictly decreasing scores and ranks 1..k.

    Parameters
    ----------
    path
        Output file (``.gz`` compresses).
    run
        ``{qid: [(docid, score), ...]}`` or ``{qid: {docid: score}}``; queries are written in the
        mapping's order, documents by :func:`order_ranking`.
    tag
        The run tag (last column; no whitespace).
    depth
        Keep only the top ``depth`` documents per query.

    Returns
    -------
    int
        The number of lines written.
    """
    check_writable_id(tag, "run tag")
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be positive, got {depth}")
    written = 0
    with open_text_for_write(path) as out:
        for qid, scored in run.items():
            check_writable_id(qid, "query id")
            ranking = order_ranking(scored)
            if depth is not None:
                ranking = ranking[:depth]
            for rank, (docid, score) in enumerate(ranking, start=1):
                check_writable_id(docid, "document id")
                out.write(f"{qid} Q0 {docid} {rank} {score!r} {tag}\n")
                written += 1
    return written
