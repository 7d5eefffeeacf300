"""Dense indexes against an independent numpy reference and against the brute-force search."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optical.data.trec import write_trec_run
from optical.eval.index import DenseIndex, IndexConfig, faiss_available
from optical.eval.retrieval import dense_search, topk_to_run

needs_faiss = pytest.mark.skipif(not faiss_available(), reason="faiss is not installed")


def _vectors(n: int, dim: int = 24, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, dim, generator=generator), dim=1)


def _reference(queries: torch.Tensor, docs: torch.Tensor, doc_ids: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Top k by float64 inner product rounded to float32, ties by docid descending (plain Python sort)."""
    exact = queries.double().numpy() @ docs.double().numpy().T
    rounded = exact.astype(np.float32)
    rows = []
    for row in rounded:
        ranked = sorted(zip(doc_ids, row.tolist(), strict=True), key=lambda p: (p[1], p[0]), reverse=True)
        rows.append(ranked[:k])
    return rows


def _tied_collection() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Queries and documents where 40 copies of one document straddle the cut at k = 10."""
    queries, docs = _vectors(6, seed=1), _vectors(500, seed=2)
    docs[100:140] = docs[7]  # duplicates: exactly equal scores for every query
    queries[0] = docs[7]     # query 0's best documents are the 41 copies
    doc_ids = [f"d{i:04d}" for i in range(500)]
    return queries, docs, doc_ids


@needs_faiss
@pytest.mark.parametrize("k", [1, 10, 60, 500])
def test_exact_index_equals_reference_with_ties(k):
    queries, docs, doc_ids = _tied_collection()
    scores, indices = DenseIndex(docs, doc_ids=doc_ids).search(queries, k)
    got = [[(doc_ids[i], s) for i, s in zip(r_i, r_s, strict=True)]
           for r_i, r_s in zip(indices.tolist(), scores.tolist(), strict=True)]
    assert got == _reference(queries, docs, doc_ids, k)


@needs_faiss
def test_exact_index_gives_byte_identical_run_files_to_brute_force(tmp_path):
    queries, docs, doc_ids = _tied_collection()
    queries = torch.cat([queries, _vectors(40, seed=3)])
    query_ids = [f"q{i}" for i in range(queries.shape[0])]
    index = DenseIndex(docs, IndexConfig(faiss_max_queries=1000), doc_ids=doc_ids)  # FAISS for all 46
    assert index.backend == "faiss"
    paths = []
    for name, (scores, indices) in {
        "faiss": index.search(queries, 25),
        "brute": dense_search(queries, docs, 25, chunk_size=37, query_chunk_size=7, doc_ids=doc_ids),
    }.items():
        paths.append(tmp_path / f"{name}.run")
        write_trec_run(paths[-1], topk_to_run(query_ids, doc_ids, scores, indices))
    assert paths[0].read_bytes() == paths[1].read_bytes()


@needs_faiss
def test_exact_index_reads_memory_mapped_documents(tmp_path):
    queries, docs = _vectors(5, seed=4), _vectors(300, seed=5)
    np.save(tmp_path / "docs.npy", docs.numpy())
    mapped = np.load(tmp_path / "docs.npy", mmap_mode="r")
    scores, indices = DenseIndex(mapped).search(queries, 7)
    expected_scores, expected_indices = dense_search(queries, docs, 7)
    assert torch.equal(indices, expected_indices) and torch.equal(scores, expected_scores)


def test_exact_without_faiss_is_brute_force(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    queries, docs, doc_ids = _tied_collection()
    index = DenseIndex(docs, doc_ids=doc_ids)
    assert index.backend == "torch"
    scores, indices = index.search(queries, 10)
    expected = dense_search(queries, docs, 10, doc_ids=doc_ids)
    assert torch.equal(scores, expected[0]) and torch.equal(indices, expected[1])
    with pytest.raises(ImportError, match="optical\\[faiss\\]"):
        DenseIndex(docs, IndexConfig(kind="hnsw"))


@needs_faiss
@pytest.mark.parametrize("config", [IndexConfig(kind="hnsw", hnsw_m=16, ef_search=64),
                                    IndexConfig(kind="ivf", nlist=16, nprobe=8)])
def test_approximate_indexes_find_most_neighbours_and_score_them_exactly(config):
    queries, docs = _vectors(50, dim=16, seed=6), _vectors(3000, dim=16, seed=7)
    scores, indices = DenseIndex(docs, config).search(queries, 10)
    exact = queries.double() @ docs.double().T
    truth = torch.topk(exact, 10, dim=1).indices
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(indices.tolist(), truth.tolist(), strict=True)])
    assert recall >= 0.8
    assert torch.equal(scores, torch.gather(exact, 1, indices).float())
    assert bool((scores[:, :-1] >= scores[:, 1:]).all())


@needs_faiss
def test_approximate_index_pads_when_it_finds_too_few():
    docs = _vectors(200, dim=8, seed=8)
    scores, indices = DenseIndex(docs, IndexConfig(kind="ivf", nlist=5, nprobe=1)).search(docs[:3], 150)
    assert indices.shape == (3, 150)
    assert bool(torch.isfinite(scores[:, 0]).all())


def test_index_config_rejects_bad_values():
    with pytest.raises(ValueError, match="index kind"):
        IndexConfig(kind="annoy")
    with pytest.raises(ValueError, match="nprobe"):
        IndexConfig(nprobe=0)
    with pytest.raises(ValueError, match="document ids"):
        DenseIndex(_vectors(3), doc_ids=["a"])


@needs_faiss
def test_dense_retriever_runs_are_the_same_bytes_with_faiss_and_brute_force(tmp_path):
    from optical.eval.collections import TextSet
    from optical.eval.retrievers import DenseRetriever
    from optical.models.tiny import tiny_encoder

    words = ["cat", "dog", "paka", "mbwa", "bird", "ndege"]
    encoder = tiny_encoder(words, dropout=0.0)
    texts = [" ".join(words[(i * 7 + j) % 6] for j in range(1 + i % 4)) for i in range(60)]  # many duplicates
    documents = TextSet("en", tuple(f"d{i:02d}" for i in range(60)), tuple(texts))
    queries = TextSet("sw", ("q1", "q2", "q3"), ("paka", "mbwa ndege", "cat dog bird"))
    outputs = []
    for kind in ("exact", "brute"):
        retriever = DenseRetriever(encoder, encoder, cache=False, index=IndexConfig(kind=kind, chunk_size=16))
        outputs.append(tmp_path / f"{kind}.run")
        write_trec_run(outputs[-1], retriever.search(queries, [documents], 12))
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
