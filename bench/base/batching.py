"""In-memory batching: tensors indexed per batch, length-sorted buckets, per-rank shards for DDP.

run: python -c "from bench.base.batching import BucketBatchSampler; print(list(BucketBatchSampler(4, 2, [3,1,2,5], shuffle=False)))"
"""

import math

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class TensorBatches(Dataset):
    """Indexed by a list of row indices, returns one batch dict; padded time is cut to the batch's longest.

    Holding the data as a few big tensors keeps per-sample Python work out of the training loop.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], pin_lengths: bool = False):
        self.tensors = tensors
        self.size = len(next(iter(tensors.values())))
        self.pin_lengths = pin_lengths  # lengths stay on the host; pinned, their copy to a GPU does not block

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(idx)
        batch = {k: v[idx] for k, v in self.tensors.items()}
        if "lengths" in batch:
            batch["x"] = batch["x"][:, : int(batch["lengths"].max())]  # [B, T_batch, F]
            if self.pin_lengths:
                batch["lengths"] = batch["lengths"].pin_memory()
        return batch


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length: shuffle, cut into buckets of `bucket` batches, sort each bucket by length.

    Each of `num_replicas` ranks takes a disjoint shard (padded by wrapping so all ranks see the same
    number of batches, as DistributedSampler does). With `lengths` None it is a plain shuffled sampler.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        lengths=None,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        bucket: int = 50,
        drop_last: bool = False,
    ):
        self.n = n
        self.lengths = None if lengths is None else torch.as_tensor(lengths)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.num_replicas, self.rank, self.bucket, self.drop_last = num_replicas, rank, bucket, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard(self) -> torch.Tensor:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        per_rank = math.ceil(self.n / self.num_replicas)
        order = order.repeat(math.ceil(per_rank * self.num_replicas / max(self.n, 1)))[
            : per_rank * self.num_replicas
        ]
        return order[self.rank :: self.num_replicas]

    def __iter__(self):
        idx = self._shard()
        batches = []
        step = self.batch_size * self.bucket
        for start in range(0, len(idx), step):
            chunk = idx[start : start + step]
            if self.lengths is not None:
                chunk = chunk[torch.argsort(self.lengths[chunk], descending=True, stable=True)]
            batches += [
                chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)
            ]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch + 7919)
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g)]
        return iter(batches)

    def __len__(self) -> int:
        per_rank = math.ceil(self.n / self.num_replicas)
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)


def bucket_loader(
    data: dict, batch_size: int, train: bool, seed: int, world: int = 1, rank: int = 0
) -> DataLoader:
    """Shuffled (train) or ordered length-bucketed batches of this rank's shard of `data`."""
    sampler = BucketBatchSampler(
        len(data["y"]),
        batch_size,
        data.get("lengths"),
        shuffle=train,
        seed=seed,
        num_replicas=world,
        rank=rank,
    )
    return DataLoader(
        TensorBatches(data, pin_lengths=torch.cuda.is_available()), sampler=sampler, batch_size=None
    )


class TensorDataModule(pl.LightningDataModule):
    """A data module over in-memory splits {stage: {"x", "y", optional "lengths"}} produced by a task.

    `prepare_data` (download, feature cache) runs once per machine; `setup` loads the tensors.
    """

    def __init__(self, task, cfg):
        super().__init__()
        self.task, self.cfg = task, cfg
        self.splits: dict[str, dict[str, torch.Tensor]] = {}
        self._device_splits: dict[str, dict[str, torch.Tensor]] = {}
        self.info: dict = {}

    def prepare_data(self) -> None:
        if not self.splits:  # the runner prepares before building the model; the Trainer asks again
            self.task.prepare(self.cfg)

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits, self.info = self.task.load(self.cfg)

    def _loader(self, split: str, train: bool) -> DataLoader:
        world, rank = (
            (self.trainer.world_size, self.trainer.global_rank) if self.trainer is not None else (1, 0)
        )
        return self.task.dataloader(self._resident(split), self.cfg, train, world, rank)

    def _resident(self, split: str) -> dict[str, torch.Tensor]:
        """A split as the batches should be cut from it: on a GPU, a copy kept on the device when the split
        takes under a quarter of its free memory (no copy per batch at all), else pinned host memory
        (asynchronous copies). `lengths` stays on the host, where packing reads it. The CPU split is kept
        as it is for what tasks do with it after training."""
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        data = self.splits[split]
        if device.type != "cuda":
            return data
        if split not in self._device_splits:
            size = sum(v.numel() * v.element_size() for v in data.values())
            fits = size < torch.cuda.mem_get_info(device)[0] / 4
            self._device_splits[split] = {
                k: v if k == "lengths" else v.to(device) if fits else v.pin_memory() for k, v in data.items()
            }
        return self._device_splits[split]

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)
