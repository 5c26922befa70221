"""A seqbench plugin: a peephole LSTM (Gers & Schmidhuber 2000) and a task, registered through entry points.

run: pip install -e examples/plugin && python -m bench run --task majority --model peephole
"""

from dataclasses import dataclass

import torch
from torch import nn

from bench.base.options import option
from bench.models import Encoder, ModelSpec
from bench.tasks.classify import ClassifierTask


class Peephole(Encoder):
    """LSTM whose gates also read the cell state. x [B, T, F] -> outputs [B, T, H], final (h, c)."""

    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0):
        super().__init__()
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.ih = nn.ModuleList(nn.Linear(n, 4 * hidden_size) for n in sizes)
        self.hh = nn.ModuleList(nn.Linear(hidden_size, 4 * hidden_size, bias=False) for _ in sizes)
        self.peep = nn.Parameter(torch.zeros(num_layers, 3, hidden_size))  # i, f, o read c
        self.drop, self.output_size = nn.Dropout(dropout), hidden_size

    def parameter_groups(self):
        return {"ih": [m.weight for m in self.ih], "hh": [m.weight for m in self.hh]}

    def forward(self, x, lengths=None, state=None):
        b, t, _ = x.shape
        steps = torch.arange(t, device=x.device)
        mask = (
            (steps < lengths.to(x.device)[:, None])
            if lengths is not None
            else torch.ones(b, t, dtype=torch.bool, device=x.device)
        )
        for layer, (ih, hh) in enumerate(zip(self.ih, self.hh, strict=True)):
            h = c = x.new_zeros(b, self.output_size)
            gx, outs, p = ih(x if layer == 0 else self.drop(x)), [], self.peep[layer]  # gx: [B, T, 4H]
            for s in range(t):
                i, f, g, o = (gx[:, s] + hh(h)).chunk(4, dim=-1)
                c_new = torch.sigmoid(f + p[1] * c) * c + torch.sigmoid(i + p[0] * c) * torch.tanh(g)
                h_new = torch.sigmoid(o + p[2] * c_new) * torch.tanh(c_new)
                keep = mask[:, s, None]  # padded steps leave the state as it was
                h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
                outs.append(h)
            x = torch.stack(outs, dim=1)  # [B, T, H]
        return x, (h, c)


PEEPHOLE = ModelSpec(Peephole, "LSTM with peephole connections (plain torch loop)", "Gers & Schmidhuber 2000")


class MajorityTask(ClassifierTask):
    """Is there more 1 than 0 in a random bit string? Needs a count held over the whole sequence."""

    name = "majority"
    description = "majority vote of a random bit string (example plugin)"
    datasets = {"bits": "random bit strings, generated from the seed"}
    default_dataset = offline_dataset = "bits"

    @dataclass
    class Options:
        seq_len: int = option(15, "bits per string (odd: no ties)", least=1)
        n_train: int = option(1024, "training strings", least=1)

    def load(self, cfg):
        t, splits = cfg.options.seq_len, {}
        for stage, n, seed in (("train", cfg.options.n_train, cfg.seed), ("val", 256, 1), ("test", 256, 2)):
            bits = torch.randint(0, 2, (n, t, 1), generator=torch.Generator().manual_seed(seed)).float()
            splits[stage] = {"x": bits, "y": (bits.sum((1, 2)) > t / 2).long()}
        return splits, {
            "input_size": 1,
            "num_classes": 2,
            "sizes": {s: len(d["y"]) for s, d in splits.items()},
        }
