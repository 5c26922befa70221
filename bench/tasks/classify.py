"""Sequence classification shared by task families: a head on the final state, cross-entropy, acc / macro-F1 / confusion.

A task that labels whole sequences subclasses ClassifierTask and sets info["num_classes"] in `load`.

run: python -m bench run --task speech --dataset dtmf --model gru --max-epochs 2
"""

import torch
from torch import nn
from torch.nn import functional as F

from bench.models.recurrent import final_features
from bench.tasks import Task


class ClassifierHead(nn.Module):
    """Logits [B, C] from each sequence's final recurrent output."""

    def __init__(self, size: int, num_classes: int, bidirectional: bool, dropout: float = 0.0):
        super().__init__()
        self.bidirectional = bidirectional
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(size, num_classes)

    def forward(self, out, lengths):
        return self.fc(self.drop(final_features(out, lengths, self.bidirectional)))  # [B, C]


class ClassifierTask(Task):
    """One label per sequence: accuracy is the primary metric, higher is better."""

    primary_metric = "acc"
    higher_is_better = True

    def build_head(self, cfg, info, encoder) -> nn.Module:
        return ClassifierHead(encoder.output_size, info["num_classes"], encoder.bidirectional, cfg.dropout)

    def loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(pred, y)

    def metrics(self, info):
        from bench.tasks.metrics import classification_metrics

        return classification_metrics(info["num_classes"])

    def baselines(self, datamodule, cfg) -> dict[str, dict[str, float]]:
        """Chance: every test sequence labelled with the training split's most frequent class."""
        train, test = datamodule.splits["train"]["y"], datamodule.splits["test"]["y"]
        k = datamodule.info["num_classes"]
        share = (test == torch.bincount(train, minlength=k).argmax()).float().mean().item()
        # that class has recall 1 and precision `share`; every other class scores F1 0
        f1 = 2 * share / (share + 1) / k if share else 0.0
        return {"chance": {"test/acc": share, "test/f1": f1}}
