"""Which collection layout a folder holds: WikiCLIR, XQuAD-R, mMARCO or TREC-style.

- ``wikiclir``: a ``wiki-clir/`` folder (or the folder itself is named so), :mod:`optical.data.wikiclir`;
- ``xquadr``: ``queries/``, ``candidates/`` and ``qrels.tsv``, :mod:`optical.data.xquadr`;
- ``mmarco``: ``<language>_collection.tsv`` files, flat or nested, :mod:`optical.data.mmarco`;
- ``trec``: one topics file, one qrels file and the documents, :mod:`optical.data.topics`.
"""

from __future__ import annotations

from pathlib import Path

from optical.data._lines import PathLike
from optical.data.mmarco import mmarco_layout
from optical.data.topics import trec_paths
from optical.data.xquadr import xquadr_paths

__all__ = ["LAYOUTS", "detect_layout"]

LAYOUTS = ("wikiclir", "xquadr", "mmarco", "trec")


def detect_layout(root: PathLike) -> str:
    """The layout of the collection folder ``root``, one of :data:`LAYOUTS`.

    Raises
    ------
    ValueError
        When ``root`` is not a folder, or matches no layout (the message says what each needs).
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"collection {root} is not a directory")
    if (root / "wiki-clir").is_dir() or root.name == "wiki-clir":
        return "wikiclir"
    if xquadr_paths(root, "en").qrels.is_file() and (root / "candidates").is_dir():
        return "xquadr"
    if mmarco_layout(root).collections:
        return "mmarco"
    try:
        trec_paths(root)
    except ValueError:
        pass
    else:
        return "trec"
    raise ValueError(
        f"{root}: not a WikiCLIR (wiki-clir/), XQuAD-R (queries/, candidates/), mMARCO (<language>_collection.tsv) "
        "or TREC-style (a topics file, a qrels file and docs/) layout"
    )
