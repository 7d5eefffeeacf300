"""Bitext (translation pairs) in three formats, streamed as :class:`~optical.data.records.BitextPair`.

- TSV: one pair a line, ``src<TAB>tgt``.
- Moses style: two line-aligned plain-text files (``corpus.en``, ``corpus.sw``), line *i* of one
  translating line *i* of the other.  Their line counts must match; that is checked before the
  first pair is yielded.
- JSONL: one object a line with ``src`` and ``tgt``, optionally ``src_lang``, ``tgt_lang`` and
  ``id``.

TSV and Moses pairs can take their ids from a line-aligned ``ids`` file (one id a line).
Malformed lines (wrong column count, bad UTF-8, an empty side, bad JSON) raise
:class:`~optical.data.errors.DataFormatError` naming the file and line, or with
``on_error="skip"`` are dropped, counted and reported in one warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from optical.data._lines import (
    PathLike,
    check_writable_id,
    check_writable_nonempty_text,
    count_lines,
    id_problem,
    iter_lines,
    iter_lines_aligned,
    open_text_for_write,
    split_tsv,
    text_problem,
)
from optical.data.errors import BadLines, DataFormatError, OnError, check_on_error
from optical.data.records import BitextPair


def read_bitext_tsv(
    path: PathLike,
    src_lang: str,
    tgt_lang: str,
    *,
    ids_path: PathLike | None = None,
    on_error: OnError = "raise",
) -> Iterator[BitextPair]:
    """Stream pairs from a ``src<TAB>tgt`` file (blank lines are malformed: they break alignment).

    Parameters
    ----------
    path
        The TSV file.
    src_lang, tgt_lang
        Language codes of the two columns.
    ids_path
        Optional line-aligned file of pair ids (same line count as ``path``, checked first).
    on_error
        ``"raise"`` or ``"skip"``.
    """
    check_on_error(on_error)
    paths = [Path(path)] + ([Path(ids_path)] if ids_path is not None else [])
    bads = [BadLines(p, on_error) for p in paths]
    lines = _check_same_line_count(paths, bads)
    return _read_aligned(paths, bads, lines, src_lang, tgt_lang, tsv=True)


def read_bitext_moses(
    src_path: PathLike,
    tgt_path: PathLike,
    src_lang: str,
    tgt_lang: str,
    *,
    ids_path: PathLike | None = None,
    on_error: OnError = "raise",
) -> Iterator[BitextPair]:
    """Stream pairs from two line-aligned files (Moses style).

    Different line counts raise :class:`DataFormatError` naming the longer file and its first
    unmatched line before any pair is yielded; with ``on_error="skip"`` the unmatched tail lines
    are counted as skipped instead (the pairs before them are kept: check such data by hand,
    since a missing line usually shifts every later pair).  An empty or undecodable line on
    either side is malformed; skipping it drops the pair and keeps the alignment.
    """
    check_on_error(on_error)
    paths = [Path(src_path), Path(tgt_path)] + ([Path(ids_path)] if ids_path is not None else [])
    bads = [BadLines(p, on_error) for p in paths]
    lines = _check_same_line_count(paths, bads)
    return _read_aligned(paths, bads, lines, src_lang, tgt_lang, tsv=False)


def _check_same_line_count(paths: list[Path], bads: list[BadLines]) -> int:
    counts = [count_lines(p) for p in paths]
    shortest = min(counts)
    if len(set(counts)) > 1:
        summary = ", ".join(f"{p} has {n}" for p, n in zip(paths, counts, strict=True))
        reason = f"line-aligned files differ in length ({summary} lines)"
        for path, count, bad in zip(paths, counts, bads, strict=True):
            if count > shortest:
                if bad.on_error == "raise":
                    raise DataFormatError(path, shortest + 1, f"{reason}: this line has no counterpart")
                for number in range(shortest + 1, count + 1):
                    bad.report(number, f"{reason}: no counterpart")
    return shortest


def _read_aligned(
    paths: list[Path], bads: list[BadLines], lines: int, src_lang: str, tgt_lang: str, *, tsv: bool
) -> Iterator[BitextPair]:
    try:
        streams = [iter_lines_aligned(p) for p in paths]
        for _ in range(lines):
            rows = [next(stream) for stream in streams]
            problem = next(((i, r[0], r[2]) for i, r in enumerate(rows) if r[1] is None), None)
            if problem is None:
                problem, fields = _pair_fields([r[1] for r in rows], rows[0][0], tsv)
            if problem is not None:
                index, number, reason = problem
                bads[index].report(number, reason)
                continue
            pair_id = rows[-1][1] if len(rows) > (1 if tsv else 2) else None
            yield BitextPair(fields[0], fields[1], src_lang, tgt_lang, pair_id)
    finally:
        for bad in bads:
            bad.warn_if_skipped()


def _pair_fields(values: list[str], number: int, tsv: bool) -> tuple[tuple[int, int, str] | None, list[str]]:
    """The (src, tgt) texts of one aligned row, or ``(file index, line, reason)`` of its first problem."""
    if tsv:
        fields, reason = split_tsv(values[0], ("src", "tgt"))
        if fields is None:
            return (0, number, reason), []
        ids = values[1:]
        text_files = (0, 0)
    else:
        fields, ids = values[:2], values[2:]
        text_files = (0, 1)
    for side, (text, index) in enumerate(zip(fields, text_files, strict=True)):
        if text_problem(text, "text"):
            return (index, number, f"empty {('source', 'target')[side]} text"), []
    if ids and id_problem(ids[0], "pair id"):
        return (len(values) - 1, number, id_problem(ids[0], "pair id")), []
    return None, fields


def read_bitext_jsonl(
    path: PathLike,
    *,
    src_lang: str | None = None,
    tgt_lang: str | None = None,
    on_error: OnError = "raise",
) -> Iterator[BitextPair]:
    """Stream pairs from JSON lines ``{"src": ..., "tgt": ..., "src_lang": ..., "tgt_lang": ..., "id": ...}``.

    ``src_lang`` / ``tgt_lang`` given here fill in records that lack them; a record that has
    neither is malformed.  Blank lines are ignored.
    """
    check_on_error(on_error)
    return _read_jsonl(Path(path), src_lang, tgt_lang, on_error)


def _read_jsonl(path: Path, src_lang, tgt_lang, on_error: OnError) -> Iterator[BitextPair]:
    bad = BadLines(path, on_error)
    try:
        for number, line in iter_lines(path, bad):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                bad.report(number, f"invalid JSON: {error.msg}")
                continue
            if not isinstance(record, dict):
                bad.report(number, "expected a JSON object")
                continue
            src, tgt = record.get("src"), record.get("tgt")
            langs = (record.get("src_lang", src_lang), record.get("tgt_lang", tgt_lang))
            pair_id = record.get("id")
            if not isinstance(src, str) or not isinstance(tgt, str):
                bad.report(number, "'src' and 'tgt' must be strings")
            elif text_problem(src, "source text") or text_problem(tgt, "target text"):
                bad.report(number, text_problem(src, "source text") or text_problem(tgt, "target text"))
            elif not all(isinstance(lang, str) and lang for lang in langs):
                bad.report(number, "no language code: give src_lang/tgt_lang in the record or as arguments")
            elif pair_id is not None and not isinstance(pair_id, str | int):
                bad.report(number, "'id' must be a string or an integer")
            else:
                yield BitextPair(src, tgt, langs[0], langs[1], None if pair_id is None else str(pair_id))
    finally:
        bad.warn_if_skipped()


def write_bitext_tsv(path: PathLike, pairs: Iterable[BitextPair], *, ids_path: PathLike | None = None) -> int:
    """Write ``src<TAB>tgt`` lines (and pair ids, line-aligned, to ``ids_path``); returns the count."""
    written = 0
    with open_text_for_write(path) as out, _maybe_open(ids_path) as ids:
        for pair in pairs:
            label = pair.pair_id or f"pair {written + 1}"
            src = check_writable_nonempty_text(pair.src, "source text", label)
            tgt = check_writable_nonempty_text(pair.tgt, "target text", label)
            out.write(f"{src}\t{tgt}\n")
            if ids is not None:
                ids.write(check_writable_id(pair.pair_id or "", "pair id") + "\n")
            written += 1
    return written


def write_bitext_moses(
    src_path: PathLike, tgt_path: PathLike, pairs: Iterable[BitextPair], *, ids_path: PathLike | None = None
) -> int:
    """Write two line-aligned files (and an optional ids file); returns the number of pairs."""
    written = 0
    with (
        open_text_for_write(src_path) as src_out,
        open_text_for_write(tgt_path) as tgt_out,
        _maybe_open(ids_path) as ids,
    ):
        for pair in pairs:
            label = pair.pair_id or f"pair {written + 1}"
            src_out.write(check_writable_nonempty_text(pair.src, "source text", label) + "\n")
            tgt_out.write(check_writable_nonempty_text(pair.tgt, "target text", label) + "\n")
            if ids is not None:
                ids.write(check_writable_id(pair.pair_id or "", "pair id") + "\n")
            written += 1
    return written


def write_bitext_jsonl(path: PathLike, pairs: Iterable[BitextPair]) -> int:
    """Write one JSON object a line (``id`` only when the pair has one); returns the count."""
    written = 0
    with open_text_for_write(path) as out:
        for pair in pairs:
            record = {"src": pair.src, "tgt": pair.tgt, "src_lang": pair.src_lang, "tgt_lang": pair.tgt_lang}
            if pair.pair_id is not None:
                record["id"] = pair.pair_id
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    return written


class _maybe_open:  # noqa: N801 - a context manager used like open()
    """``open_text_for_write(path)`` when ``path`` is given, else a context yielding ``None``."""

    def __init__(self, path: PathLike | None) -> None:
        self.path = path
        self.handle = None

    def __enter__(self):
        if self.path is not None:
            self.handle = open_text_for_write(self.path)
        return self.handle

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            self.handle.close()
