"""What every benchmark records beside its numbers: the command, the machine, the versions."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import platform
import shlex
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from optical.cache import atomic_write

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, str]:
    """Platform, CPU model, cores, memory and library versions."""
    import numpy
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 2**20:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    info = {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "memory": memory,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
    try:
        import ot

        info["POT"] = ot.__version__
    except ImportError:
        pass
    return info


def command() -> str:
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def header(title: str, seconds: float | None = None) -> str:
    """Markdown preamble: title, command, date, wall time and the machine table."""
    lines = [f"# {title}", "", f"Command: `{command()}`", "",
             f"Run: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"]
    if seconds is not None:
        lines[-1] += f", wall time {seconds / 60:.1f} min"
    lines += ["", "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine().items()]
    return "\n".join(lines) + "\n"


class Checkpoint:
    """Rows of a long benchmark kept in a JSON file, written atomically after each row.

    A rerun skips the rows already there, so an interrupted benchmark resumes where it stopped.
    Several processes may share one file (workers that split a study's units between them): each
    write happens under a lock and keeps the rows the others wrote meanwhile.
    """

    def __init__(self, path: Path, fresh: bool = False) -> None:
        self.path = path
        self.rows: dict[str, dict] = {}
        self._mine: set[str] = set()
        self._fresh = fresh
        if path.exists() and not fresh:
            self.rows = json.loads(path.read_text())["rows"]

    def __contains__(self, key: str) -> bool:
        self.refresh()
        return key in self.rows

    def __getitem__(self, key: str) -> dict:
        return self.rows[key]

    def refresh(self) -> None:
        """Take in the rows that other processes wrote since this one last read the file."""
        if self._fresh or not self.path.exists():
            return
        with self._locked():
            on_disk = json.loads(self.path.read_text())["rows"]
        self.rows = {**on_disk, **{k: self.rows[k] for k in self._mine}}

    @contextlib.contextmanager
    def _locked(self):
        with open(self.path.parent / f".{self.path.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def put(self, key: str, row: dict) -> None:
        self.rows[key] = row
        self._mine.add(key)
        with self._locked():
            if self.path.exists() and not self._fresh:
                on_disk = json.loads(self.path.read_text())["rows"]
                self.rows = {**on_disk, **{k: self.rows[k] for k in self._mine}}
            self._fresh = False  # from its first write on, the file holds this run's rows
            with atomic_write(self.path) as handle:
                handle.write(json.dumps({"machine": machine(), "command": command(), "rows": self.rows}, indent=1))


class PeakMemory:
    """Peak resident memory above the starting point while the block runs, sampled every 0.5 ms.

    Freed heap is handed back to the OS first (``malloc_trim``), so memory the process had
    cached from earlier work does not hide this block's allocations.
    """

    def __enter__(self) -> PeakMemory:
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = self._rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.0005)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def megabytes(self) -> float:
        return (self.peak - self.start) / 2**20
