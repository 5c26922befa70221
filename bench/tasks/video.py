"""Action clips, LRCN-style: a per-frame CNN shared over time, the recurrent model over frame features, a classifier
on the final state, trained jointly. Datasets: moving-shapes (procedural, offline), videofolder:PATH, ucf101,
hmdb51, kth. `--shuffle-frames` permutes every clip's frames (train and test): the control that shows whether
the model uses time (see the record's group_acc).

run: python -m bench run --task video --model lstm
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.base import datasets
from bench.base.errors import BenchError
from bench.base.options import option
from bench.base.sources import fetch, split_scheme
from bench.tasks import register, video_shapes, video_sources
from bench.tasks.classify import ClassifierTask
from bench.tasks.video_io import BAD_VIDEOS, decode_all, report_skipped

if TYPE_CHECKING:
    import torch
    from torch import nn

VIDEOFOLDER = "videofolder"
BACKBONES = ("small", "resnet18")  # the frame encoders bench/tasks/video_cnn.py builds
EVAL_SEEDS = {"train": 1, "val": 2, "test": 3}  # moving-shapes: fixed, so every run seed sees the same clips


@register
class VideoTask(ClassifierTask):
    name = "video"
    description = "action clips (LRCN: per-frame CNN + recurrent model), moving-shapes or real video"
    datasets = {
        "moving-shapes": "offline: procedural clips, 13 classes, 10 of them told apart only by frame order",
        "videofolder:PATH": "PATH/<class>/<video> (any container PyAV reads) or PATH/{train,val,test}/<class>/",
        "ucf101": video_sources.UCF101,
        "hmdb51": video_sources.HMDB51,
        "kth": "KTH actions (6 classes), person-based split of Schuldt et al. 2004; downloaded when missing",
    }
    default_dataset = "moving-shapes"
    offline_dataset = "moving-shapes"

    @dataclass
    class Options:
        frames: int = option(16, "T frames per clip, sampled uniformly (short clips loop)", positive=True)
        size: int = option(32, "frames are resized and centre-cropped to size x size", positive=True)
        shuffle_frames: bool = option(False, "control: permute each clip's frames, at train and test time")
        n_train: int = option(150, "moving-shapes: training clips per class", positive=True)
        n_eval: int = option(30, "moving-shapes: validation and test clips per class, each", positive=True)
        backbone: str = option("small", "frame encoder (resnet18 from torchvision)", choices=BACKBONES)
        backbone_weights: str = option("", "resnet18: a local state-dict file; empty = random init")
        width: int = option(16, "small CNN: channels of the first block", positive=True)
        feature_size: int = option(128, "frame features fed to the recurrent model", positive=True)
        data_dir: str = option("", "ucf101 / hmdb51 / kth root; default: BENCH_DATA/<dataset>")
        split: int = option(1, "ucf101 / hmdb51: the official split", choices=(1, 2, 3))
        val_fraction: float = option(
            0.15, "share of each class's training videos held out for validation", above=0, below=0.5
        )
        test_fraction: float = option(
            0.15, "videofolder without split folders: share held out for test", above=0, below=0.5
        )
        bad_videos: str = option("skip", "skip: a counted warning, named in the record", choices=BAD_VIDEOS)

    def check_dataset(self, dataset: str) -> None:
        scheme, path = split_scheme(dataset)
        if scheme == VIDEOFOLDER:
            if not path:
                raise BenchError("dataset 'videofolder:' needs a path, for example videofolder:~/clips")
            return
        super().check_dataset(dataset)

    def check_options(self, cfg) -> None:
        o = cfg.options
        if cfg.dataset == "moving-shapes" and o.frames < video_shapes.MIN_FRAMES:
            raise BenchError(
                f"moving-shapes needs 'frames' of at least {video_shapes.MIN_FRAMES}, got {o.frames}"
            )
        if o.backbone_weights and o.backbone != "resnet18":
            raise BenchError("'backbone_weights' needs --backbone resnet18")

    # -- data -------------------------------------------------------------------------------------------
    def prepare(self, cfg) -> None:
        self._clips(cfg)

    def _clips(self, cfg) -> dict:
        """Every clip of the dataset as uint8 [N, T, 3, S, S] with labels and splits, cached by its parameters."""
        import torch

        o = cfg.options
        params = {"frames": o.frames, "size": o.size}
        if cfg.dataset == "moving-shapes":
            params.update(version=1, n_train=o.n_train, n_eval=o.n_eval)
            return datasets.cached_tensors("moving-shapes", params, lambda: shapes_clips(o))
        listing = self._listing(cfg)
        params["files"] = [(str(p), p.stat().st_size) for p in listing.paths]
        params["splits"] = listing.splits

        def build() -> dict:
            x, kept, skipped = decode_all(listing.paths, o.frames, o.size)
            return {
                "x": torch.from_numpy(x),
                "y": torch.tensor([listing.labels[i] for i in kept], dtype=torch.long),
                "split": [listing.splits[i] for i in kept],
                "classes": listing.classes,
                "skipped": skipped,
                "total": len(listing.paths),
            }

        source = self.source(cfg.dataset)  # a declared source's version is part of its cache's name
        name = source.cache_key if source else split_scheme(cfg.dataset)[0] or cfg.dataset
        return datasets.cached_tensors(name, params, build)

    def _listing(self, cfg) -> video_sources.Listing:
        o = cfg.options
        if cfg.dataset == "ucf101":
            return video_sources.ucf101(o.data_dir, o.split)
        if cfg.dataset == "hmdb51":
            return video_sources.hmdb51(o.data_dir, o.split, o.val_fraction)
        if cfg.dataset == "kth":
            return video_sources.kth(o.data_dir)
        source = self.source(cfg.dataset)  # a declared class-per-folder tree, or the user's videofolder:PATH
        root = fetch(source) if source else split_scheme(cfg.dataset)[1]
        return video_sources.videofolder(str(root), o.val_fraction, o.test_fraction)

    def load(self, cfg):
        import torch

        data = self._clips(cfg)
        if "skipped" in data:  # named and counted on every run, also when the clips come from the cache
            report_skipped(data["skipped"], data["total"], cfg.options.bad_videos)
        classes = data["classes"]
        split = data["split"]
        splits = {}
        for stage in ("train", "val", "test"):
            rows = torch.tensor([i for i, s in enumerate(split) if s == stage], dtype=torch.long)
            if len(rows) == 0:
                raise BenchError(
                    f"dataset '{cfg.dataset}' has no {stage} clips; add videos or use split folders"
                )
            splits[stage] = {"x": data["x"][rows], "y": data["y"][rows]}  # x uint8 [N, T, 3, S, S]
        for label, name in enumerate(classes):
            if not (data["y"] == label).any():
                raise BenchError(f"class '{name}' of dataset '{cfg.dataset}' has no readable videos")
        if cfg.options.shuffle_frames:
            g = torch.Generator().manual_seed(cfg.seed + 12345)
            for part in splits.values():
                part["x"] = shuffle_frames(part["x"], g)
        info = {
            "num_classes": len(classes),
            "classes": classes,
            "sizes": {s: len(p["y"]) for s, p in splits.items()},
            "skipped": data.get("skipped", []),
        }
        if cfg.dataset == "moving-shapes":
            info["twins"] = [video_shapes.TWIN.get(c, -1) for c in range(len(classes))]
        return splits, info

    # -- model ------------------------------------------------------------------------------------------
    def build_input(self, cfg, info) -> nn.Module:
        from bench.tasks import video_cnn

        o = cfg.options
        return video_cnn.build(o.backbone, o.feature_size, o.width, o.backbone_weights)

    def input_size(self, cfg, info) -> int:
        return cfg.options.feature_size

    def metrics(self, info):
        from bench.tasks.metrics import OrderAccuracy, classification_metrics

        metrics = classification_metrics(info["num_classes"])
        if "twins" in info:
            metrics.add_metrics({"order_acc": OrderAccuracy(info["twins"])})
        return metrics

    def extras(self, module, datamodule, cfg, run_dir) -> dict:
        """Per-class accuracy and, on moving-shapes, accuracy per class group: the shuffle control's evidence."""
        import torch

        info = datamodule.info
        confusion = torch.tensor(module.results["test"]["confusion"], dtype=torch.float)  # [C, C], rows: true
        per_class = (confusion.diag() / confusion.sum(1).clamp(min=1)).tolist()
        out = {
            "shuffle_frames": cfg.options.shuffle_frames,
            "class_acc": dict(zip(info["classes"], per_class, strict=True)),
        }
        if info["skipped"]:
            out["skipped_videos"] = info["skipped"]
        if "twins" in info:
            groups = {"temporal": video_shapes.TEMPORAL, "rest": video_shapes.REST}
            out["class_groups"] = {g: [info["classes"][c] for c in rows] for g, rows in groups.items()}
            out["group_acc"] = {
                g: (confusion.diag()[rows].sum() / confusion[rows].sum()).item() for g, rows in groups.items()
            }
            out["chance"] = {
                "uniform": 1 / info["num_classes"],
                "temporal_without_order": 0.5,  # the best a model blind to order can do: guess within the pair
                "order_acc": 0.5,
            }
        return out


def shapes_clips(o: dict) -> dict:
    """moving-shapes train / val / test from different seeds, in the cached layout of decoded datasets."""
    import torch

    parts = {
        s: video_shapes.generate(o.n_train if s == "train" else o.n_eval, o.frames, o.size, seed)
        for s, seed in EVAL_SEEDS.items()
    }
    return {
        "x": torch.cat([x for x, _ in parts.values()]),  # [N, T, 3, S, S]
        "y": torch.cat([y for _, y in parts.values()]),
        "split": [s for s, (_, y) in parts.items() for _ in range(len(y))],
        "classes": video_shapes.CLASSES,
    }


def shuffle_frames(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Each clip's frames in its own random order: x [N, T, ...] -> [N, T, ...]."""
    import torch

    order = torch.rand(x.shape[:2], generator=g).argsort(1)  # [N, T]
    return x[torch.arange(len(x))[:, None], order]
