"""Where optical keeps what it builds, and how it writes it.

The root is ``$OPTICAL_CACHE``, default ``~/.cache/optical``. Nothing in the cache is ever
committed; every artifact there can be rebuilt by a recipe. Every file and folder optical
writes for later (checkpoints, encoded texts, model folders, built data) goes through
:func:`atomic_write` or :func:`atomic_directory`, so an interrupted write never leaves half of one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO


def cache_dir(*parts: str, create: bool = True) -> Path:
    """Return ``$OPTICAL_CACHE/<parts...>`` (default root ``~/.cache/optical``), created if asked."""
    root = Path(os.environ.get("OPTICAL_CACHE") or Path.home() / ".cache" / "optical").expanduser()
    path = root.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _open_permissions(paths: Iterable[Path]) -> None:
    # mkstemp and mkdtemp create owner-only entries (0600/0700); what the cache holds is meant to be
    # read by everyone, as any file created the ordinary way would be (0644/0755 under umask 022).
    umask = _umask()
    for path in paths:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """``with atomic_write(path, "wb") as f``: write a temporary file beside ``path``, then rename it.

    A crash leaves the old file or the new one, never half of one; on an exception the
    temporary file is removed and ``path`` is untouched.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "numbers.json"
    >>> with atomic_write(target) as handle:
    ...     _ = handle.write("[1, 2]")
    >>> target.read_text()
    '[1, 2]'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, mode, encoding=None if "b" in mode else encoding) as file:
            yield file
        _open_permissions([Path(staging)])
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(final: str | os.PathLike) -> Iterator[Path]:
    """``with atomic_directory(final) as staging``: fill a fresh folder beside ``final``, then swap it in.

    Files of an earlier build never linger beside the new ones, and an interrupted build leaves
    the previous folder intact. Entries get the usual permissions (0755/0644 under umask 022).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.building-"))
    try:
        yield staging
        _open_permissions([staging, *staging.rglob("*")])
        retired = final.with_name(f".{final.name}.old-{os.getpid()}")
        if final.exists():
            os.replace(final, retired)
        os.replace(staging, final)
        shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
