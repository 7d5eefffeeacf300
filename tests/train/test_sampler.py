"""The samplers: permutations, length buckets, sharding, resume."""

from __future__ import annotations

import random

import pytest

from optical.train import EpochSampler, LengthBucketSampler


def test_every_example_once_per_epoch() -> None:
    sampler = EpochSampler(10, 5, seed=3)
    first = sampler.next_batch() + sampler.next_batch()
    assert sorted(first) == list(range(10))
    second = sampler.next_batch() + sampler.next_batch()
    assert sorted(second) == list(range(10)) and second != first


def test_shards_partition_the_single_process_global_batch() -> None:
    single = EpochSampler(23, 6, seed=1)
    ranks = [EpochSampler(23, 3, seed=1, rank=r, world_size=2) for r in range(2)]
    for _ in range(9):
        assert single.next_batch() == ranks[0].next_batch() + ranks[1].next_batch()


def test_resume_continues_the_same_sequence() -> None:
    reference = EpochSampler(17, 4, seed=2)
    expected = [reference.next_batch() for _ in range(12)]
    first = EpochSampler(17, 4, seed=2)
    got = [first.next_batch() for _ in range(7)]
    resumed = EpochSampler(17, 4, seed=2)
    resumed.load_state_dict(first.state_dict())
    got += [resumed.next_batch() for _ in range(5)]
    assert got == expected


def test_state_of_another_dataset_is_refused() -> None:
    state = EpochSampler(10, 2).state_dict()
    with pytest.raises(ValueError, match="10 examples"):
        EpochSampler(11, 2).load_state_dict(state)


def test_empty_dataset_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        EpochSampler(0, 2)


def _lengths(size: int = 203) -> list[int]:
    generator = random.Random(4)
    return [generator.choice([generator.randint(3, 10), generator.randint(40, 60)]) for _ in range(size)]


def _padding(batches: list[list[int]], lengths: list[int]) -> float:
    return 1 - sum(sum(lengths[i] for i in b) for b in batches) / sum(len(b) * max(lengths[i] for i in b)
                                                                       for b in batches)


def test_length_buckets_cover_every_example_once_per_epoch_with_less_padding() -> None:
    lengths = _lengths()
    size, batch = len(lengths), 8
    batches_per_epoch = -(-size // batch)
    bucketed = LengthBucketSampler(lengths, batch, seed=5, pool_batches=8)
    epoch = [bucketed.next_batch() for _ in range(batches_per_epoch - 1)]
    seen = [i for b in epoch for i in b]
    tail = size - len(seen)
    seen += bucketed.next_batch()[:tail]
    assert sorted(seen) == list(range(size))
    plain = EpochSampler(size, batch, seed=5)
    plain_batches = [plain.next_batch() for _ in range(batches_per_epoch - 1)]
    assert _padding(epoch, lengths) < 0.5 * _padding(plain_batches, lengths)


def test_length_buckets_resume_and_shard_like_the_epoch_sampler() -> None:
    lengths = _lengths()
    reference = LengthBucketSampler(lengths, 6, seed=2)
    expected = [reference.next_batch() for _ in range(80)]  # crosses two epochs
    first = LengthBucketSampler(lengths, 6, seed=2)
    got = [first.next_batch() for _ in range(37)]
    resumed = LengthBucketSampler(lengths, 6, seed=2)
    resumed.load_state_dict(first.state_dict())
    got += [resumed.next_batch() for _ in range(43)]
    assert got == expected
    ranks = [LengthBucketSampler(lengths, 3, seed=2, rank=r, world_size=2) for r in range(2)]
    for batch in expected[:40]:
        assert batch == ranks[0].next_batch() + ranks[1].next_batch()
