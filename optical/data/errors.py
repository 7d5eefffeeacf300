"""Malformed input: the error that names the file and line, and the raise-or-skip policy.

Every reader takes ``on_error``: ``"raise"`` (default) stops at the first malformed line with a
:class:`DataFormatError`; ``"skip"`` drops such lines, counts them and, when the file has been
read (or the reader is closed early), emits one :class:`DataFormatWarning` with the count and
the first offending line.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

OnError = Literal["raise", "skip"]


class DataFormatError(ValueError):
    """A malformed file or line; the message starts with ``<path>, line <n>:``."""

    def __init__(self, path: str | Path, line_number: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line_number = line_number
        self.reason = reason
        where = f"{path}, line {line_number}" if line_number is not None else str(path)
        super().__init__(f"{where}: {reason}")


class DataFormatWarning(UserWarning):
    """Emitted once per file when ``on_error="skip"`` dropped malformed lines."""


def check_on_error(on_error: str) -> OnError:
    """Return ``on_error`` if it is a known policy, else raise ``ValueError``."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    return on_error  # type: ignore[return-value]


class BadLines:
    """Applies an error policy to the lines of one file.

    Parameters
    ----------
    path
        The file being read (named in errors and warnings).
    on_error
        ``"raise"`` or ``"skip"``.
    """

    def __init__(self, path: str | Path, on_error: OnError) -> None:
        self.path = Path(path)
        self.on_error = check_on_error(on_error)
        self.skipped = 0
        self.first: tuple[int | None, str] | None = None
        self._warned = False

    def report(self, line_number: int | None, reason: str) -> None:
        """Raise :class:`DataFormatError`, or (skip policy) count the line; the caller then drops it."""
        if self.on_error == "raise":
            raise DataFormatError(self.path, line_number, reason)
        self.skipped += 1
        if self.first is None:
            self.first = (line_number, reason)

    def warn_if_skipped(self) -> None:
        """Emit the one summary warning if any line was skipped (idempotent)."""
        if self.skipped and self.first is not None and not self._warned:
            self._warned = True
            line_number, reason = self.first
            warnings.warn(
                f"{self.path}: skipped {self.skipped} malformed line(s); first at line {line_number}: {reason}",
                DataFormatWarning,
                stacklevel=3,
            )
