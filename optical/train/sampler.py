"""A seeded, resumable sampler of batches over a list of examples, sharded across ranks."""

from __future__ import annotations

import torch


class EpochSampler:
    """Yields index batches from a fresh seeded permutation each epoch.

    With ``world_size`` ranks, each global batch of ``batch_size * world_size`` indices is cut
    into contiguous shards, one per rank, so that the union of the ranks' batches is exactly
    the batch a single process would draw with ``batch_size * world_size``. The state is two
    integers (epoch, position): resuming mid-epoch continues the same sequence.
    """

    def __init__(self, size: int, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if size <= 0:
            raise ValueError("cannot sample batches from an empty dataset")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.size, generator=generator)

    def next_batch(self) -> list[int]:
        """This rank's indices for the next global batch (wrapping into a new epoch as needed)."""
        global_size = self.batch_size * self.world_size
        indices: list[int] = []
        while len(indices) < global_size:
            if self.position >= self.size:
                self.epoch += 1
                self.position = 0
                self._order = self._permutation(self.epoch)
            take = min(global_size - len(indices), self.size - self.position)
            indices += self._order[self.position:self.position + take].tolist()
            self.position += take
        start = self.rank * self.batch_size
        return indices[start:start + self.batch_size]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "size": self.size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["size"] != self.size or state["seed"] != self.seed:
            raise ValueError(
                f"sampler state is for {state['size']} examples with seed {state['seed']}, "
                f"not {self.size} with seed {self.seed}"
            )
        self.epoch, self.position = state["epoch"], state["position"]
        self._order = self._permutation(self.epoch)


class LengthBucketSampler(EpochSampler):
    """Batches of examples of similar length, in a shuffled order: less padding, same resume.

    Each epoch draws the seeded permutation of :class:`EpochSampler`, cuts it into pools of
    ``pool_batches`` global batches, sorts each pool by length and cuts it into global batches,
    then shuffles the batches of the whole epoch (seeded). Every example still appears once per
    epoch, a batch is still a random draw of the data (only similar in length), and the state is
    the same two integers, so resuming continues the same sequence. With ``world_size`` ranks
    each global batch is cut into contiguous shards, as in :class:`EpochSampler`.

    Parameters
    ----------
    lengths : sequence of int
        A length per example (tokens, or characters as a cheap proxy).
    pool_batches : int
        Batches per sorting pool: larger pools give more uniform lengths within a batch.

    Examples
    --------
    >>> lengths = [5, 50, 6, 49, 7, 48, 8, 47]
    >>> sampler = LengthBucketSampler(lengths, batch_size=2, pool_batches=4)
    >>> batches = [sampler.next_batch() for _ in range(4)]
    >>> all(max(lengths[i] for i in b) - min(lengths[i] for i in b) == 1 for b in batches)
    True
    """

    def __init__(self, lengths, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1,
                 pool_batches: int = 64) -> None:
        if pool_batches <= 0:
            raise ValueError(f"pool_batches must be > 0, got {pool_batches}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.pool_batches = pool_batches
        super().__init__(len(self.lengths), batch_size, seed=seed, rank=rank, world_size=world_size)

    def _permutation(self, epoch: int) -> torch.Tensor:
        order = super()._permutation(epoch)
        global_size = self.batch_size * self.world_size
        pool = global_size * self.pool_batches
        # Sorting is stable, so ties keep the permutation's random order.
        pools = [chunk[torch.argsort(self.lengths[chunk], stable=True)] for chunk in order.split(pool)]
        batches = list(torch.cat(pools).split(global_size))
        # A short last batch stays last, so that every other batch is one sorted run.
        tail = [batches.pop()] if len(batches[-1]) < global_size else []
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + 500_009)
        shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return torch.cat(shuffled + tail)
