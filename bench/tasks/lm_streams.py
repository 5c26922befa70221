"""Contiguous-stream batching for language modeling: the token stream cut into parallel streams, BPTT chunks.

run: python -c "import torch; from bench.tasks.lm_streams import StreamBatches; print(StreamBatches(torch.arange(50), 2, 8)[0])"
"""

import math

import torch
from torch.utils.data import Dataset

from bench.base.errors import BenchError


class StreamBatches(Dataset):
    """Contiguous-stream batching: the token stream cut into `batch_size * world` parallel streams.

    Batch i holds time steps [i * bptt, (i + 1) * bptt) of every stream of this rank (the last batch may be
    shorter); targets are the inputs shifted by one token. Rank r owns streams [r * B, (r + 1) * B): a
    contiguous, disjoint piece of the text, so the state carried across its batches stays meaningful.
    """

    def __init__(self, ids: torch.Tensor, batch_size: int, bptt: int, world: int = 1, rank: int = 0):
        streams = batch_size * world
        self.length = check_streams(len(ids), batch_size, bptt, world)
        n = streams * self.length
        x = ids[:n].view(streams, self.length)  # [S, L]
        y = ids[1 : n + 1].view(streams, self.length)  # [S, L] the next token of each input
        mine = slice(rank * batch_size, (rank + 1) * batch_size)
        self.x, self.y, self.bptt = x[mine], y[mine], bptt  # [B, L] this rank's streams

    def __len__(self) -> int:
        return math.ceil(self.length / self.bptt)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(i)  # also ends plain iteration over the batches
        t = slice(i * self.bptt, (i + 1) * self.bptt)
        return {"x": self.x[:, t].contiguous(), "y": self.y[:, t].contiguous()}  # [B, T] each


def check_streams(n_tokens: int, batch_size: int, bptt: int, world: int = 1, split: str = "") -> int:
    """The stream length of a split; an error when --bptt is not smaller than it."""
    streams = batch_size * world
    length = (n_tokens - 1) // streams
    if bptt >= length:
        where = f" of split '{split}'" if split else ""
        raise BenchError(
            f"bptt {bptt} is not smaller than the stream length {length}{where} ({n_tokens} tokens in "
            f"{streams} streams = batch_size {batch_size} x {world} devices); lower --bptt or --batch-size"
        )
    return length
