import torch

from bench.base.batching import BucketBatchSampler, TensorBatches


def test_buckets_cover_every_row_once_and_group_similar_lengths():
    lengths = torch.randint(1, 200, (1000,), generator=torch.Generator().manual_seed(0))
    sampler = BucketBatchSampler(1000, 16, lengths, shuffle=True, seed=3, bucket=10)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 63
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = sum(int(lengths[b].max() - lengths[b].min()) for b in batches) / len(batches)
    assert spread < 30  # random batches of 16 would spread over ~170 frames
    sampler.set_epoch(1)
    assert list(sampler) != batches  # a new order every epoch


def test_rank_shards_are_disjoint_cover_and_equal_in_length():
    shards = [list(BucketBatchSampler(10, 2, shuffle=True, num_replicas=3, rank=r)) for r in range(3)]
    rows = [[i for b in s for i in b] for s in shards]
    assert all(len(r) == 4 for r in rows)  # ceil(10 / 3), the 2 extra rows wrap around
    assert set(rows[0]) | set(rows[1]) | set(rows[2]) == set(range(10))
    assert sum(map(len, rows)) - len(set().union(*map(set, rows))) == 2


def test_ordered_sampler_is_deterministic_and_batches_trim_padding():
    x = torch.arange(4 * 5 * 1, dtype=torch.float).reshape(4, 5, 1)
    data = {"x": x, "lengths": torch.tensor([2, 5, 3, 1]), "y": torch.arange(4)}
    batches = list(BucketBatchSampler(4, 2, data["lengths"], shuffle=False))
    assert batches == [[1, 2], [0, 3]]
    batch = TensorBatches(data)[batches[1]]
    assert batch["x"].shape == (2, 2, 1) and batch["y"].tolist() == [0, 3]
