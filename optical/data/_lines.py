"""Line-level plumbing shared by the readers and writers: strict UTF-8, TSV fields, ids."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from optical.data.errors import BadLines

PathLike = str | Path


def open_binary(path: PathLike) -> IO[bytes]:
    """Open ``path`` for reading bytes, decompressing ``.gz`` files."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def open_text_for_write(path: PathLike) -> IO[str]:
    """Open ``path`` for writing UTF-8 text with ``\\n`` line ends (``.gz``: gzip with a zero mtime).

    A zero mtime keeps compressed output byte-identical across runs.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        raw = gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), mtime=0)
        return _ClosingTextWrapper(raw)
    return open(path, "w", encoding="utf-8", newline="\n")


class _ClosingTextWrapper(io.TextIOWrapper):
    """A text wrapper over a GzipFile that also closes the underlying file object."""

    def __init__(self, raw: gzip.GzipFile) -> None:
        super().__init__(raw, encoding="utf-8", newline="\n")
        self._gzip = raw

    def close(self) -> None:
        fileobj = self._gzip.fileobj
        super().close()
        if fileobj is not None:
            fileobj.close()


def iter_lines(path: PathLike, bad: BadLines) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` (1-based, line end removed) for every line that is valid UTF-8.

    A line that is not valid UTF-8 goes to ``bad`` (raise, or skip and count).  A byte-order
    mark at the start of the file is dropped.
    """
    for number, line, reason in iter_lines_aligned(path):
        if line is None:
            bad.report(number, reason)
            continue
        yield number, line


def iter_lines_aligned(path: PathLike) -> Iterator[tuple[int, str | None, str]]:
    """Yield ``(line_number, line, "")`` for every line, or ``(line_number, None, reason)`` for bad UTF-8.

    Unlike :func:`iter_lines` it never drops a line, so line-aligned files stay in step.
    """
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield number, None, f"invalid UTF-8 at byte {error.start} of the line"
                continue
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield number, line, ""


def count_lines(path: PathLike) -> int:
    """Number of lines in ``path`` (a last line without a line end counts)."""
    lines = 0
    last = b"\n"
    with open_binary(path) as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def split_tsv(line: str, names: Sequence[str]) -> tuple[list[str] | None, str]:
    """Split a TSV line into exactly ``len(names)`` fields; return ``(fields, "")`` or ``(None, reason)``."""
    fields = line.split("\t")
    if len(fields) != len(names):
        return None, f"expected {len(names)} tab-separated columns ({', '.join(names)}), found {len(fields)}"
    return fields, ""


def id_problem(value: str, what: str) -> str:
    """Why ``value`` is not a usable id (empty or containing whitespace), or ``""`` if it is."""
    if not value:
        return f"empty {what}"
    if any(c.isspace() for c in value):
        return f"{what} {value!r} contains whitespace"
    return ""


def text_problem(value: str, what: str) -> str:
    """Why ``value`` is not a usable text (empty or only whitespace), or ``""`` if it is."""
    if not value.strip():
        return f"empty {what}"
    return ""


def check_writable_id(value: str, what: str) -> str:
    """Return ``value`` if it can be written as an id, else raise ``ValueError``."""
    problem = id_problem(str(value), what)
    if problem:
        raise ValueError(f"cannot write {problem}")
    return str(value)


def check_writable_text(value: str, what: str, record_id: str) -> str:
    """Return ``value`` if it can be written as a TSV field (no tab, no line break), else raise."""
    if "\t" in value or "\n" in value or "\r" in value:
        raise ValueError(f"cannot write {what} of {record_id!r}: it contains a tab or a line break")
    return value


def check_writable_nonempty_text(value: str, what: str, record_id: str) -> str:
    """Like :func:`check_writable_text`, and the text must not be empty."""
    if not value.strip():
        raise ValueError(f"cannot write an empty {what} for {record_id!r}")
    return check_writable_text(value, what, record_id)
