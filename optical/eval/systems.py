"""Systems to evaluate, built from encoder names: one :class:`System` per query encoder.

``optical evaluate`` names its systems by flags (``--query-encoder``, ``--doc-encoder``,
``--query-source``, ``--system-name``); :func:`build_systems` turns those lists into retrievers,
so library users and the command build the same systems.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from optical.eval.evaluator import System
from optical.eval.retrievers import BM25Retriever, DenseRetriever, load_encoder

__all__ = ["build_systems", "resolve_device", "system_name"]


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; any other name unchanged."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def system_name(path: str, taken: Sequence[str]) -> str:
    """The folder name of ``path``, suffixed ``-2``, ``-3``... when already ``taken``."""
    base = Path(path).name or path
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def build_systems(
    query_encoders: Sequence[str],
    doc_encoders: Sequence[str] = (),
    query_sources: Sequence[str] = (),
    names: Sequence[str] = (),
    *,
    device: str = "auto",
    batch_size: int = 64,
    cache: bool = True,
    chunk_size: int = 16384,
    rerank_depth: int | None = None,
) -> list[System]:
    """One system per entry of ``query_encoders`` (an encoder folder, or ``bm25``).

    Parameters
    ----------
    query_encoders : sequence of str
        Encoder folders; ``bm25`` is the lexical baseline (then the document side is ``bm25`` too).
    doc_encoders : sequence of str
        One per system, or one for all; empty: each system's query encoder.
    query_sources : sequence of str
        One per system: ``native``, a language code or a ``qid<TAB>text`` file; empty: ``native``.
    names : sequence of str
        One per system; empty: the encoder folder names, made unique.
    device, batch_size, cache, chunk_size, rerank_depth
        Passed to :class:`~optical.eval.retrievers.DenseRetriever` (``rerank_depth``: MaxSim
        re-ranking of that many candidates; ``None``: off).
    """
    device = resolve_device(device)
    systems: list[System] = []
    for i, query_path in enumerate(query_encoders):
        doc_path = (doc_encoders[i] if len(doc_encoders) > 1
                    else doc_encoders[0] if doc_encoders else query_path)
        name = names[i] if names else system_name(query_path, [s.name for s in systems])
        if query_path == "bm25" or doc_path == "bm25":
            if query_path != doc_path:
                raise ValueError(f"system {name}: bm25 is both the query and the document side")
            retriever = BM25Retriever(name=name)
        else:
            retriever = DenseRetriever(
                load_encoder(query_path, device), load_encoder(doc_path, device), name=name, device=device,
                batch_size=batch_size, cache=cache, chunk_size=chunk_size, rerank_depth=rerank_depth,
            )
        systems.append(System(name, retriever, query_sources[i] if query_sources else "native"))
    return systems
