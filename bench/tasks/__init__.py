"""Task registry: one adapter per task family (data, input layer, head, loss, metrics, primary metric).

Adding a task is one new file that subclasses Task, decorates it with @register, and is imported below.

A task's module imports no torch or numpy at its top: its name, datasets, options, primary metric and
direction are read (`bench tasks`, `bench table`, a suite's cells) without the training stack, and its
methods import what they use. Its torch layers live in bench/tasks/heads.py.

run: python -m bench tasks
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.base.errors import BenchError, unknown
from bench.base.registry import Registry
from bench.base.sources import Source, fetch

if TYPE_CHECKING:  # the training stack is imported by the methods that use it, not to list or describe a task
    import torch
    import torchmetrics
    from torch import nn
    from torch.utils.data import DataLoader


def _as_task(name: str, obj) -> type["Task"]:
    if isinstance(obj, type) and issubclass(obj, Task):
        return obj
    raise BenchError(f"task '{name}' is a {type(obj).__name__}, not a subclass of bench.tasks.Task")


# built-in tasks, plugins (entry-point group seqbench.tasks) and `package.module:Class` names
REGISTRY = Registry("task", "seqbench.tasks", lambda name, obj: _as_task(name, obj))


def register(cls):
    """Class decorator: register the task class under its `name`."""
    return REGISTRY.register(cls.name, cls)


def get(name: str) -> "Task":
    """A fresh instance of the named task: a task holds no state shared between runs."""
    return REGISTRY.get(name)()


def names() -> list[str]:
    return REGISTRY.names()


@dataclass
class Layers:
    """What a task puts around the recurrent encoder: `input` maps a batch's x to features [B, T, F], `head`
    maps (encoder outputs, lengths) to predictions, and `output`, when set, post-processes them as
    output(pred, x) (forecasting adds back each window's last value, which its input layer took away)."""

    input: "nn.Module"
    encoder: "nn.Module"
    head: "nn.Module"
    output: "Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None" = None


class Task:
    """The contract every task family fulfils. `info` is what `load` learned from the data (sizes, classes)."""

    name = ""
    description = ""
    # name (or "scheme:PATH") -> its declared Source (bench.base.sources: layout, URL, checksum; fetched by
    # bench.base.sources.fetch), or a one-line description where nothing is fetched (generated, the user's files)
    datasets: dict[str, "Source | str"] = {}
    default_dataset = ""
    offline_dataset = ""  # a dataset that needs no download, for smoke runs and tests
    primary_metric = ""  # a key of metrics(); logged as val/<key>
    higher_is_better = True
    stateful = False  # True: the recurrent state is carried (detached) across consecutive batches
    # compiled packages a run of the task loads: imported before a run writes anything, so that a broken wheel
    # is the doctor's one line, not a failed record (the task's module imports them only where it uses them)
    extensions: tuple[str, ...] = ()

    @dataclass
    class Options:
        """Task-specific options (flat keys in YAML, --key value on the command line)."""

    def check_dataset(self, dataset: str) -> None:
        if dataset not in self.datasets:
            raise unknown(f"dataset for task '{self.name}'", dataset, self.datasets)

    def check_options(self, cfg) -> None:
        """Validate cfg.options; raise BenchError on a bad value."""

    def source(self, dataset: str) -> Source | None:
        """The declared source of `dataset`; None where nothing is fetched (generated data, scheme:PATH files)."""
        found = self.datasets.get(dataset)
        return found if isinstance(found, Source) else None

    def prepare(self, cfg) -> None:
        """Download and cache whatever `load` needs (runs once per machine); by default the declared source."""
        if (source := self.source(cfg.dataset)) is not None:
            fetch(source)

    def load(self, cfg) -> "tuple[dict[str, dict[str, torch.Tensor]], dict]":
        """Return ({'train'|'val'|'test': {'x', 'y', optional 'lengths'}}, info)."""
        raise NotImplementedError

    def dataloader(self, data: dict, cfg, train: bool, world: int, rank: int) -> "DataLoader":
        """This rank's batches of one split (cfg.batch_size // world each); length-bucketed, shuffled when training."""
        from bench.base.batching import bucket_loader

        return bucket_loader(data, cfg.batch_size // world, train, cfg.seed, world, rank)

    def build(self, cfg, info: dict, make_encoder: "Callable[[int], nn.Module]") -> Layers:
        """The model around the encoder, built in one place and in this order (the order fixes the initial
        weights drawn from the seed): input layer, the encoder for its feature size, head. A task whose
        layers share weights or state overrides this (the LM ties its embedding to its output layer)."""
        input_layer = self.build_input(cfg, info)
        encoder = make_encoder(self.input_size(cfg, info))
        return Layers(input_layer, encoder, self.build_head(cfg, info, encoder))

    def build_input(self, cfg, info: dict) -> "nn.Module":
        """Maps a batch's x to features [B, T, F]; identity by default."""
        from torch import nn

        return nn.Identity()

    def input_size(self, cfg, info: dict) -> int:
        return info["input_size"]

    def build_head(self, cfg, info: dict, encoder) -> "nn.Module":
        """Maps (encoder outputs [B, T, H], lengths) to predictions."""
        raise NotImplementedError

    def loss(self, pred: "torch.Tensor", y: "torch.Tensor") -> "torch.Tensor":
        raise NotImplementedError

    def final_loss(self, pred: "torch.Tensor", y: "torch.Tensor") -> "torch.Tensor":
        """The loss at the last time step, for the temporal gradient profile; per-step tasks override."""
        return self.loss(pred, y)

    def metrics(self, info: dict) -> "torchmetrics.MetricCollection":
        """Metrics updated with (pred, y); non-scalar results (a confusion matrix) go to the record only."""
        raise NotImplementedError

    def extras(self, module, datamodule, cfg, run_dir) -> dict:
        """Task-specific additions to the record after a finished test (samples, plots); rank 0 only."""
        return {}

    def baselines(self, datamodule, cfg) -> dict[str, dict[str, float]]:
        """Models that learn nothing from the sequences, scored like the model on the test split:
        {name: {"test/<metric>": value}}. The results table shows them beside each row."""
        return {}


from bench.tasks import forecast, lm, probes, speech, video  # noqa: E402,F401
