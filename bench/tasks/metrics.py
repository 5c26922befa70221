"""The tasks' torchmetrics, apart from the tasks: a task module imports this file only when a run asks for its
metrics, so that listing tasks, building a suite or printing a table loads neither torchmetrics nor Lightning.

run: python -c "import torch; from bench.tasks.metrics import RecallAccuracy; m = RecallAccuracy(); m.update(torch.zeros(1, 10, 3), torch.zeros(1, 10, dtype=torch.long)); print(m.compute())"
"""

import math

import torch
import torchmetrics
from torch.nn import functional as F


def classification_metrics(num_classes: int) -> torchmetrics.MetricCollection:
    """Clip-level accuracy (micro), macro-F1, and the confusion matrix (rows: true class)."""
    k = num_classes
    return torchmetrics.MetricCollection(
        {
            "acc": torchmetrics.classification.MulticlassAccuracy(k, average="micro"),
            "f1": torchmetrics.classification.MulticlassF1Score(k, average="macro"),
            "confusion": torchmetrics.classification.MulticlassConfusionMatrix(k),
        }
    )


class MASE(torchmetrics.Metric):
    """Mean absolute scaled error: the forecast's absolute error on every step divided, per output column, by
    the in-sample MAE of the one-step seasonal-naive forecast on the training split (Hyndman & Koehler 2006,
    period m; scaled data). Averaged over all steps, windows and columns. Below 1 beats that in-sample error."""

    full_state_update = False
    higher_is_better = False
    is_differentiable = True

    def __init__(self, scale: torch.Tensor, **kwargs):
        super().__init__(**kwargs)
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).clone(), persistent=False)
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        err = (pred - target).abs() / self.scale  # [B, H, F_out]
        self.total += err.sum()
        self.count += err.numel()

    def compute(self) -> torch.Tensor:
        return self.total / self.count


class TokenNLL(torchmetrics.Metric):
    """Mean cross-entropy per token over a pass (summed across DDP ranks), reported as perplexity or bits."""

    full_state_update = False
    higher_is_better = False

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit  # ppl: exp(mean nats) | bpc: mean nats / ln 2
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, y: torch.Tensor) -> None:
        # pred: [B, T, V] logits; y: [B, T] token ids
        self.total += F.cross_entropy(
            pred.reshape(-1, pred.shape[-1]).float(), y.reshape(-1), reduction="sum"
        )
        self.count += y.numel()

    def compute(self) -> torch.Tensor:
        mean = self.total / self.count
        return mean.exp() if self.unit == "ppl" else mean / math.log(2)


class RecallAccuracy(torchmetrics.Metric):
    """Accuracy over the last 10 steps (the recalled symbols) of per-step logits [B, T, C]."""

    def __init__(self):
        super().__init__()
        self.add_state("correct", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, pred, y):
        self.correct += (pred[:, -10:].argmax(-1) == y[:, -10:]).sum()
        self.total += y[:, -10:].numel()

    def compute(self):
        return self.correct / self.total


class OrderAccuracy(torchmetrics.Metric):
    """On classes with a time-reversed twin: how often the logit of the true class beats its twin's. Chance 0.5;
    a model blind to frame order cannot beat it, whatever else it gets right."""

    def __init__(self, twins: list[int]):
        super().__init__()
        self.register_buffer("twins", torch.tensor(twins), persistent=False)
        self.add_state("correct", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, y: torch.Tensor) -> None:
        twin = self.twins[y]  # [B]
        has = twin >= 0
        rows = torch.arange(len(y), device=y.device)[has]
        self.correct += (pred[rows, y[has]] > pred[rows, twin[has]]).sum()
        self.total += has.sum()

    def compute(self) -> torch.Tensor:
        return self.correct / self.total.clamp(min=1)
