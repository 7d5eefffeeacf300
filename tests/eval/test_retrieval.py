"""Exact dense search, full-ranking ranks and MaxSim re-ranking against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optical.eval.retrieval import dense_search, exact_ranks, maxsim_rerank, topk_to_run


def _vectors(n: int, dim: int = 16, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, dim, generator=generator, dtype=torch.float64), dim=1)


def _brute_force_topk(queries: np.ndarray, docs: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ docs.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize(("k", "chunk_size", "query_chunk_size"), [(5, 7, 3), (13, 4, 100), (50, 16, 2), (1, 1, 1)])
def test_dense_search_equals_full_sort(k, chunk_size, query_chunk_size):
    queries, docs = _vectors(11, seed=1), _vectors(37, seed=2)
    scores, indices = dense_search(queries, docs, k, chunk_size=chunk_size, query_chunk_size=query_chunk_size)
    expected = _brute_force_topk(queries.numpy(), docs.numpy(), k)
    assert indices.shape == (11, min(k, 37))
    assert np.array_equal(indices.numpy(), expected)
    assert np.allclose(scores.numpy(), np.take_along_axis(queries.numpy() @ docs.numpy().T, expected, 1))


def test_dense_search_reads_memory_mapped_numpy_documents(tmp_path):
    queries, docs = _vectors(4, seed=3).float(), _vectors(25, seed=4).float()
    path = tmp_path / "docs.npy"
    np.save(path, docs.numpy())
    mapped = np.load(path, mmap_mode="r")
    _, indices = dense_search(queries, mapped, 6, chunk_size=8)
    assert np.array_equal(indices.numpy(), _brute_force_topk(queries.numpy(), docs.numpy(), 6))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_dense_search_on_cuda_equals_cpu():
    queries, docs = _vectors(9, seed=5).float(), _vectors(300, seed=6).float()
    _, on_cpu = dense_search(queries, docs, 10, chunk_size=64)
    _, on_gpu = dense_search(queries.cuda(), docs, 10, chunk_size=64)
    assert torch.equal(on_cpu, on_gpu.cpu())


def test_dense_search_rejects_bad_shapes():
    with pytest.raises(ValueError, match="dimension mismatch"):
        dense_search(torch.zeros(2, 3), torch.zeros(4, 5), 1)
    with pytest.raises(ValueError, match="k, chunk_size"):
        dense_search(torch.zeros(2, 3), torch.zeros(4, 3), 0)


def test_topk_to_run_orders_ties_by_docid_descending():
    scores = torch.tensor([[2.0, 1.0, 1.0]])
    indices = torch.tensor([[0, 1, 2]])
    run = topk_to_run(["q"], ["a", "b", "c"], scores, indices)
    assert run == {"q": [("a", 2.0), ("c", 1.0), ("b", 1.0)]}


def test_exact_ranks_equal_positions_in_the_sorted_ranking():
    queries, docs = _vectors(6, seed=7), _vectors(41, seed=8)
    doc_ids = [f"d{i:02d}" for i in range(41)]
    targets = [[0, 5, 40], [], [3], [10, 11, 12, 13], [39], [1, 2]]
    ranks = exact_ranks(queries, docs, targets, doc_ids, chunk_size=9, query_chunk_size=4)
    order = _brute_force_topk(queries.numpy(), docs.numpy(), 41)
    for row, wanted in enumerate(targets):
        position = {int(doc): rank + 1 for rank, doc in enumerate(order[row])}
        assert ranks[row] == [position[i] for i in wanted]


def test_exact_ranks_break_ties_by_docid_descending():
    query = torch.tensor([[1.0, 0.0]])
    docs = torch.tensor([[0.5, 0.0], [0.9, 0.0], [0.5, 0.0], [0.5, 0.0]])
    # Order: b (0.9), then the ties d > c > a.
    ranks = exact_ranks(query, docs, [[0, 1, 2, 3]], ["a", "b", "c", "d"], chunk_size=2)
    assert ranks == [[4, 1, 3, 2]]


def test_maxsim_rerank_equals_a_loop_over_tokens():
    generator = torch.Generator().manual_seed(9)
    query_tokens = {q: F.normalize(torch.randn(n, 8, generator=generator), dim=1) for q, n in [("q1", 3), ("q2", 5)]}
    doc_tokens = {f"d{i}": F.normalize(torch.randn(2 + i, 8, generator=generator), dim=1) for i in range(6)}
    candidates = {"q1": [("d0", 9.0), ("d3", 8.0), ("d5", 1.0)], "q2": [(f"d{i}", 0.0) for i in range(6)]}
    run = maxsim_rerank(query_tokens, doc_tokens, candidates, batch_size=4, k=4)
    for qid, ranking in run.items():
        expected = {
            docid: sum(max(float(q @ d) for d in doc_tokens[docid]) for q in query_tokens[qid])
            for docid, _ in candidates[qid]
        }
        best = sorted(expected.items(), key=lambda pair: -pair[1])[:4]
        assert [d for d, _ in ranking] == [d for d, _ in best]
        assert [s for _, s in ranking] == pytest.approx([s for _, s in best], abs=1e-5)
    assert len(run["q2"]) == 4


def test_maxsim_rerank_names_missing_embeddings():
    with pytest.raises(ValueError, match="no token embeddings for 1 candidate"):
        maxsim_rerank({"q": torch.ones(1, 2)}, {}, {"q": [("d", 1.0)]})


@pytest.mark.parametrize(("chunk_size", "query_chunk_size"), [(7, 3), (1000, 1000), (1, 1)])
def test_dense_search_scores_do_not_depend_on_chunk_shapes(chunk_size, query_chunk_size):
    queries, docs = _vectors(9, seed=10).float(), _vectors(120, seed=11).float()
    scores, indices = dense_search(queries, docs, 20, chunk_size=chunk_size, query_chunk_size=query_chunk_size)
    exact = (queries.double().numpy() @ docs.double().numpy().T).astype(np.float32)
    assert np.array_equal(scores.numpy(), np.take_along_axis(exact, indices.numpy(), 1))
    assert np.array_equal(indices.numpy(), _brute_force_topk(exact, np.eye(120, dtype=np.float32), 20))


def test_dense_search_keeps_the_larger_docids_among_ties_at_the_cut():
    query = torch.tensor([[1.0, 0.0]])
    docs = torch.tensor([[0.5, 0.5]] * 30 + [[0.9, 0.0]] + [[0.1, 0.9]] * 5)
    doc_ids = [f"d{i:02d}" for i in range(36)]
    scores, indices = dense_search(query, docs, 4, chunk_size=8, doc_ids=doc_ids)
    assert indices.tolist() == [[30, 29, 28, 27]]
    assert scores.tolist() == [[pytest.approx(0.9), 0.5, 0.5, 0.5]]
    _, by_row = dense_search(query, docs, 4, chunk_size=8)  # no ids: the first rows
    assert by_row.tolist() == [[30, 0, 1, 2]]
