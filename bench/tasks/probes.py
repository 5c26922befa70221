"""Long-range probes: the adding problem and the copy-memory task, generated deterministically from a seed.

Settings follow Bai, Kolter & Koltun 2018 (after Hochreiter & Schmidhuber 1997 and Arjovsky et al. 2016):
- adding: T steps of (value ~ U(0, 1), marker); exactly two markers, one in each half; the target is the sum
  of the two marked values. Loss MSE; always predicting 1 scores 1/6 ~ 0.167 (the variance of the sum).
- copy: 10 symbols from 1-8, T - 1 blanks, the delimiter 9, 10 blanks (T + 20 steps); recall the 10 symbols in
  the last 10 steps, blanks elsewhere. Loss: cross-entropy over all steps; predicting blanks and then a
  uniform guess scores 10 ln 8 / (T + 20). Accuracy is measured on the 10 recalled symbols.
The primary metric is the test loss for both (lower is better), so the baselines compare directly.

run: python -m bench run --task probes --dataset adding --seq-len 200 --model lstm
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.base.options import option
from bench.tasks import Task, register

if TYPE_CHECKING:
    import torch

EVAL_SEED = 10**6  # validation and test sets are the same for every run seed


def adding(n: int, seq_len: int, seed: int) -> "tuple[torch.Tensor, torch.Tensor]":
    import torch

    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n, seq_len, generator=g)
    half = seq_len // 2
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, seq_len, (n,), generator=g)
    marks = torch.zeros(n, seq_len)
    rows = torch.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = torch.stack([values, marks], dim=2)  # [N, T, 2]
    y = values[rows, first] + values[rows, second]  # [N]
    return x, y


def copy_memory(n: int, seq_len: int, seed: int) -> "tuple[torch.Tensor, torch.Tensor]":
    import torch
    from torch.nn import functional as F

    g = torch.Generator().manual_seed(seed)
    symbols = torch.randint(1, 9, (n, 10), generator=g)
    total = seq_len + 20
    x = torch.zeros(n, total, dtype=torch.long)
    x[:, :10] = symbols
    x[:, seq_len + 9] = 9  # the delimiter: recall starts at the next step
    y = torch.zeros(n, total, dtype=torch.long)
    y[:, -10:] = symbols
    return F.one_hot(x, 10).float(), y  # [N, T + 20, 10], [N, T + 20]


@dataclass(frozen=True)
class Probe:
    """One probe, declared: adding a probe is one more entry in PROBES."""

    description: str
    generate: "Callable[[int, int, int], tuple[torch.Tensor, torch.Tensor]]"  # (n, T, seed) -> x, y
    # T -> the loss of the predictor that learns nothing from the sequence
    trivial_loss: Callable[[int], float]
    recall_classes: int = 0  # > 0: logits over these classes at every step, scored on the recalled symbols
    trivial_acc: float | None = None


PROBES = {
    "adding": Probe("the adding problem, generated (no download)", adding, lambda t: 1 / 6),
    "copy": Probe(
        "the copy-memory task, generated (no download)",
        copy_memory,
        lambda t: 10 * math.log(8) / (t + 20),
        recall_classes=10,
        trivial_acc=1 / 8,
    ),
}


@register
class ProbesTask(Task):
    name = "probes"
    description = "long-range probes: adding problem (MSE) and copy memory (cross-entropy), length --seq-len"
    datasets = {name: probe.description for name, probe in PROBES.items()}
    default_dataset = "adding"
    offline_dataset = "adding"
    primary_metric = "loss"
    higher_is_better = False

    @dataclass
    class Options:
        seq_len: int = option(
            200, "adding: sequence length T; copy: blank gap T (sequences are T + 20 long)", least=2
        )
        n_train: int = option(20000, "training sequences", least=1)
        n_eval: int = option(1000, "validation and test sequences, each", least=1)

    def load(self, cfg):
        o, probe = cfg.options, PROBES[cfg.dataset]
        splits = {}
        for stage, n, seed in (
            ("train", o.n_train, cfg.seed),
            ("val", o.n_eval, EVAL_SEED),
            ("test", o.n_eval, EVAL_SEED + 1),
        ):
            x, y = probe.generate(n, o.seq_len, seed)
            splits[stage] = {"x": x, "y": y}
        info = {
            "input_size": splits["train"]["x"].shape[2],
            "sizes": {s: len(d["y"]) for s, d in splits.items()},
            "baseline_loss": probe.trivial_loss(o.seq_len),
            "dataset": cfg.dataset,
        }
        return splits, info

    def build_head(self, cfg, info, encoder):
        from bench.tasks.heads import AddingHead, StepHead

        classes = PROBES[cfg.dataset].recall_classes
        return StepHead(encoder.output_size, classes) if classes else AddingHead(encoder)

    def loss(self, pred, y):
        from torch.nn import functional as F

        if pred.dim() == 1:
            return F.mse_loss(pred, y)
        return F.cross_entropy(pred.flatten(0, 1), y.flatten())  # over every step, as in Bai et al.

    def final_loss(self, pred, y):
        from torch.nn import functional as F

        return self.loss(pred, y) if pred.dim() == 1 else F.cross_entropy(pred[:, -1], y[:, -1])

    def metrics(self, info):
        import torchmetrics

        from bench.tasks.metrics import RecallAccuracy

        recall = PROBES[info["dataset"]].recall_classes
        return torchmetrics.MetricCollection({"acc": RecallAccuracy()} if recall else {})

    def baselines(self, datamodule, cfg) -> dict[str, dict[str, float]]:
        """The trivial predictor: always 1 (adding), or certain blanks then a uniform guess (copy)."""
        acc = PROBES[cfg.dataset].trivial_acc
        return {
            "trivial": {"test/loss": datamodule.info["baseline_loss"]} | ({"test/acc": acc} if acc else {})
        }

    def extras(self, module, datamodule, cfg, run_dir) -> dict:
        return {"loss_over_baseline": module.results["test"]["loss"] / datamodule.info["baseline_loss"]}
