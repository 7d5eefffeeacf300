"""Dense indexes for first-stage retrieval: FAISS exact, HNSW and IVF, with brute force as fallback.

:class:`DenseIndex` holds a collection's document vectors once and answers top-:math:`k`
inner-product queries. Every kind returns candidates that :func:`~optical.eval.retrieval.refine_topk`
rescores (float64 inner products rounded to the queries' dtype) and orders (score descending,
then docid descending), so

- ``exact`` (default): FAISS ``IndexFlatIP`` on CPU for small query batches (latency), whose
  result is proven complete and is bit for bit that of :func:`~optical.eval.retrieval.dense_search`
  (the same run files). Larger batches (``faiss_max_queries``), queries on a GPU, or no ``faiss``
  installed: that brute-force search itself (one matrix product per chunk is faster than the
  FAISS wheel's BLAS: ``benchmarks/results/pipeline.md``).
- ``brute``: :func:`~optical.eval.retrieval.dense_search` always (streams memory-mapped vectors
  larger than RAM; FAISS holds a float32 copy in memory).
- ``hnsw`` (``IndexHNSWFlat``) and ``ivf`` (``IndexIVFFlat``): approximate, for large
  collections; their recall against ``exact`` is measured by ``benchmarks/bench_pipeline.py``.

FAISS is an optional extra: ``pip install 'optical[faiss]'`` (``faiss-cpu``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from optical.eval.retrieval import VectorsLike, check_search, dense_search, max_norm, refine_topk

__all__ = ["INDEX_KINDS", "DenseIndex", "IndexConfig", "faiss_available"]

log = logging.getLogger(__name__)

INDEX_KINDS = ("exact", "brute", "hnsw", "ivf")
FLOAT32_ROUNDOFF = 2.0**-24


def faiss_available() -> bool:
    """Whether ``import faiss`` works."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _faiss():
    try:
        import faiss
    except ImportError as error:
        raise ImportError("approximate indexes need FAISS: pip install 'optical[faiss]' (faiss-cpu)") from error
    return faiss


@dataclass(frozen=True)
class IndexConfig:
    """Which index, and the parameters of the approximate ones."""

    kind: str = field(default="exact", metadata={"help": "exact (FAISS flat, else brute force), brute, hnsw or ivf"})
    hnsw_m: int = field(default=32, metadata={"help": "HNSW: neighbours per node"})
    ef_construction: int = field(default=128, metadata={"help": "HNSW: candidate list while building"})
    ef_search: int = field(default=256, metadata={"help": "HNSW: candidate list while searching (at least k)"})
    nlist: int = field(default=0, metadata={"help": "IVF: number of cells (0: about 4 sqrt(N))"})
    nprobe: int = field(default=32, metadata={"help": "IVF: cells visited per query"})
    train_size: int = field(default=100_000, metadata={"help": "IVF: vectors sampled to train the cells"})
    seed: int = field(default=0, metadata={"help": "IVF: seed of the training sample and k-means"})
    chunk_size: int = field(default=16384, metadata={"help": "brute force: documents per matrix product"})
    faiss_max_queries: int = field(default=16, metadata={
        "help": "exact: larger query batches go through torch's matrix product instead of FAISS (the same "
                "result; faster than the FAISS wheel's BLAS on the CPUs measured)"})

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise ValueError(f"index kind must be one of {INDEX_KINDS}, got {self.kind!r}")
        for name in ("hnsw_m", "ef_construction", "ef_search", "nprobe", "train_size", "chunk_size",
                     "faiss_max_queries"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.nlist < 0:
            raise ValueError(f"nlist must be >= 0, got {self.nlist}")


def _float32_rows(vectors: VectorsLike, start: int, stop: int) -> np.ndarray:
    block = vectors[start:stop]
    if isinstance(block, torch.Tensor):
        block = block.detach().to("cpu", torch.float32).numpy()
    return np.ascontiguousarray(block, dtype=np.float32)


def _float32_take(vectors: VectorsLike, rows: np.ndarray) -> np.ndarray:
    block = vectors[torch.from_numpy(rows)] if isinstance(vectors, torch.Tensor) else vectors[rows]
    return _float32_rows(block, 0, len(rows))


class DenseIndex:
    """Top-:math:`k` inner-product search over fixed document vectors.

    Parameters
    ----------
    doc_vectors
        ``[D, d]`` tensor or array (memory-mapped is fine). Kept by reference: candidates are
        rescored from it.
    config
        :class:`IndexConfig` (default: exact).
    doc_ids
        The ``D`` document ids; equal scores at the cut keep the larger id (``trec_eval``'s
        order). Without them, the lower row.

    Examples
    --------
    >>> docs = torch.nn.functional.normalize(torch.randn(1000, 32), dim=1)
    >>> index = DenseIndex(docs)
    >>> scores, rows = index.search(docs[:3], k=5)
    >>> rows[:, 0].tolist()
    [0, 1, 2]
    """

    def __init__(
        self, doc_vectors: VectorsLike, config: IndexConfig | None = None, *, doc_ids: Sequence[str] | None = None
    ) -> None:
        if doc_vectors.ndim != 2:
            raise ValueError("doc_vectors must be 2-d ([n, dim])")
        if doc_ids is not None and len(doc_ids) != doc_vectors.shape[0]:
            raise ValueError(f"{len(doc_ids)} document ids for {doc_vectors.shape[0]} document vectors")
        self.config = config or IndexConfig()
        self.doc_vectors = doc_vectors
        self.doc_ids = doc_ids
        self.faiss_index = None
        if self.config.kind == "exact" and not faiss_available():
            log.info("faiss is not installed: exact search by brute force (pip install 'optical[faiss]')")
        if self.config.kind in ("hnsw", "ivf") or (self.config.kind == "exact" and faiss_available()):
            self.faiss_index = self._build()
        self.doc_norm = max_norm(doc_vectors)  # bounds the rounding of every backend's scores

    @property
    def backend(self) -> str:
        """``"faiss"`` or ``"torch"`` (brute force)."""
        return "torch" if self.faiss_index is None else "faiss"

    def _build(self):
        faiss = _faiss()
        count, dim = self.doc_vectors.shape
        kind = self.config.kind
        if kind == "exact":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.config.ef_construction
        else:
            nlist = self.config.nlist or max(1, min(int(4 * math.sqrt(count)), count // 39 or 1))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = self.config.seed
            sample = np.sort(np.random.default_rng(self.config.seed).choice(
                count, size=min(count, self.config.train_size), replace=False))
            index.train(_float32_take(self.doc_vectors, sample))
            index.nprobe = min(self.config.nprobe, nlist)
        # Added in slices, so a memory-mapped collection is never copied whole as float32 twice.
        for start in range(0, count, 65536):
            index.add(_float32_rows(self.doc_vectors, start, start + 65536))
        return index

    def _faiss_candidates(self, query_vectors: torch.Tensor):
        queries = _float32_rows(query_vectors, 0, query_vectors.shape[0])

        def candidates(rows: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
            if self.config.kind == "hnsw":
                self.faiss_index.hnsw.efSearch = max(self.config.ef_search, n)
            scores, indices = self.faiss_index.search(queries[rows.numpy()], n)
            # An approximate index may find fewer than n documents: pad with a real row at -inf.
            missing = indices < 0
            scores[missing], indices[missing] = -np.inf, 0
            return torch.from_numpy(scores), torch.from_numpy(indices.astype(np.int64))

        return candidates

    def search(self, query_vectors: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top ``k`` documents of each query.

        Returns
        -------
        scores, indices
            ``[Q, min(k, D)]`` each, in ranking order, on the queries' device (scores in their
            dtype). For ``exact`` and ``brute`` identical to :func:`~optical.eval.retrieval.dense_search`.
        """
        check_search(query_vectors, self.doc_vectors, k)
        exact = self.config.kind == "exact"
        if self.faiss_index is None or (exact and (query_vectors.device.type != "cpu"
                                                   or query_vectors.shape[0] > self.config.faiss_max_queries)):
            return dense_search(query_vectors, self.doc_vectors, k, chunk_size=self.config.chunk_size,
                                doc_ids=self.doc_ids, doc_norm=self.doc_norm)
        return refine_topk(
            query_vectors, self.doc_vectors, k, self._faiss_candidates(query_vectors), doc_ids=self.doc_ids,
            unit_roundoff=FLOAT32_ROUNDOFF if exact else None, doc_norm=self.doc_norm,
        )
