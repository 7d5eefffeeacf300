"""Where optical keeps what it builds: ``$OPTICAL_CACHE``, default ``~/.cache/optical``.

Nothing in the cache is ever committed; every artifact there can be rebuilt by a recipe.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str, create: bool = True) -> Path:
    """Return ``$OPTICAL_CACHE/<parts...>`` (default root ``~/.cache/optical``), created if asked."""
    root = Path(os.environ.get("OPTICAL_CACHE") or Path.home() / ".cache" / "optical").expanduser()
    path = root.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
