"""Sequence classification shared by task families: a head on the final state, cross-entropy, acc / macro-F1 / confusion.

A task that labels whole sequences subclasses ClassifierTask and sets info["num_classes"] in `load`.

run: python -m bench run --task speech --dataset dtmf --model gru --max-epochs 2
"""

from bench.tasks import Task


class ClassifierTask(Task):
    """One label per sequence: accuracy is the primary metric, higher is better."""

    primary_metric = "acc"
    higher_is_better = True

    def build_head(self, cfg, info, encoder):
        from bench.tasks.heads import ClassifierHead

        return ClassifierHead(encoder.output_size, info["num_classes"], encoder.bidirectional, cfg.dropout)

    def loss(self, pred, y):
        from torch.nn import functional as F

        return F.cross_entropy(pred, y)

    def metrics(self, info):
        from bench.tasks.metrics import classification_metrics

        return classification_metrics(info["num_classes"])

    def baselines(self, datamodule, cfg) -> dict[str, dict[str, float]]:
        """Chance: every test sequence labelled with the training split's most frequent class."""
        import torch

        train, test = datamodule.splits["train"]["y"], datamodule.splits["test"]["y"]
        k = datamodule.info["num_classes"]
        share = (test == torch.bincount(train, minlength=k).argmax()).float().mean().item()
        # that class has recall 1 and precision `share`; every other class scores F1 0
        f1 = 2 * share / (share + 1) / k if share else 0.0
        return {"chance": {"test/acc": share, "test/f1": f1}}
