"""The video task: moving-shapes, frame sampling, the PyAV loaders on clips written here, bad input, a short run.
UCF101, HMDB51 and KTH: test_video_sources.py."""

import json

import av
import numpy as np
import pytest
import torch

from bench import tasks
from bench.base.errors import BenchError
from bench.cli import main
from bench.config import resolve
from bench.tasks import video, video_cnn, video_shapes
from bench.tasks.metrics import OrderAccuracy
from bench.tasks.video_io import sample_indices, stratified_split
from tests.conftest import usage_error

VIDEO = tasks.get("video")


def write_video(path, n_frames: int, colour=(200, 40, 40), size=(24, 32), codec="mpeg4"):
    """A clip whose frame k is a solid colour at brightness (k + 1) / n_frames: frame order shows in the pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        container.start_encoding()  # writes the header even when there is no frame
        for k in range(n_frames):
            rgb = np.full((h, w, 3), np.array(colour) * (k + 1) / n_frames, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


def cfg_for(dataset: str, **options):
    return resolve({"task": "video", "dataset": dataset, "frames": 4, "size": 8, **options})


# -- moving-shapes ------------------------------------------------------------------------------------------
def test_generator_is_deterministic_and_balanced():
    x, y = video_shapes.generate(2, 6, 16, seed=5)
    assert x.shape == (2 * 13, 6, 3, 16, 16) and x.dtype == torch.uint8
    assert torch.bincount(y).tolist() == [2] * 13
    x2, y2 = video_shapes.generate(2, 6, 16, seed=5)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, video_shapes.generate(2, 6, 16, seed=6)[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_temporal_twins_show_the_same_frames_in_reverse_order(seed):
    for a, b in video_shapes.TWINS.items():
        clip_a = video_shapes.render_clip(a, np.random.default_rng(seed), 8, 16)
        clip_b = video_shapes.render_clip(b, np.random.default_rng(seed), 8, 16)
        assert np.array_equal(clip_a, clip_b[::-1]), (a, b)
        # identical sets of single frames, so no frame (nor bag of frames) tells the pair apart; the order does
        assert sorted(f.tobytes() for f in clip_a) == sorted(f.tobytes() for f in clip_b)
        assert not np.array_equal(clip_a, clip_b), video_shapes.CLASSES[a]
    assert sorted(video_shapes.TEMPORAL + video_shapes.REST) == list(range(len(video_shapes.CLASSES)))


def test_moving_shapes_splits_come_from_different_seeds():
    splits, info = VIDEO.load(cfg_for("moving-shapes", n_train=2, n_eval=1, frames=4, size=12))
    assert info["sizes"] == {"train": 26, "val": 13, "test": 13} and info["classes"] == video_shapes.CLASSES
    assert splits["train"]["x"].shape == (26, 4, 3, 12, 12) and splits["train"]["x"].dtype == torch.uint8
    assert not torch.equal(splits["val"]["x"], splits["test"]["x"])
    assert info["twins"][0] == 1 and info["twins"][10] == -1


def test_shuffle_frames_permutes_each_clip_and_keeps_labels():
    ordered, _ = VIDEO.load(cfg_for("moving-shapes", n_train=1, n_eval=1, frames=6, size=12))
    shuffled, _ = VIDEO.load(
        cfg_for("moving-shapes", n_train=1, n_eval=1, frames=6, size=12, shuffle_frames=True)
    )
    for stage in ("train", "test"):
        a, b = ordered[stage]["x"], shuffled[stage]["x"]
        assert torch.equal(ordered[stage]["y"], shuffled[stage]["y"]) and not torch.equal(a, b)
        for clip_a, clip_b in zip(a, b, strict=True):
            assert sorted(f.numpy().tobytes() for f in clip_a) == sorted(f.numpy().tobytes() for f in clip_b)


def test_order_accuracy_compares_each_class_with_its_twin():
    metric = OrderAccuracy([1, 0, -1])
    pred = torch.tensor([[2.0, 1.0, 9.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # wrong overall, right in pair
    metric.update(pred, torch.tensor([0, 1, 2]))
    assert metric.compute().item() == 0.5  # class 2 has no twin and is not counted


# -- frame sampling and decoding ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "frames", "expected"),
    [
        (10, 5, [1, 3, 5, 7, 9]),
        (16, 16, list(range(16))),
        (100, 4, [12, 37, 62, 87]),
        (3, 7, [0, 1, 2, 0, 1, 2, 0]),
        (1, 3, [0, 0, 0]),
    ],
)
def test_frame_indices_are_uniform_and_short_clips_loop(n, frames, expected):
    assert sample_indices(n, frames) == expected


def test_frame_indices_need_frames():
    with pytest.raises(ValueError, match="positive"):
        sample_indices(0, 4)


def test_stratified_split_is_per_class_and_fixed():
    labels = [0] * 10 + [1] * 3 + [2] * 2
    split = stratified_split(labels, {"val": 0.2, "test": 0.2})
    assert split == stratified_split(labels, {"val": 0.2, "test": 0.2})
    counts = {
        (label, s): sum(1 for l2, s2 in zip(labels, split, strict=True) if (l2, s2) == (label, s))
        for label in (0, 1, 2)
        for s in ("train", "val", "test")
    }
    assert (counts[(0, "val")], counts[(0, "test")], counts[(0, "train")]) == (2, 2, 6)
    assert (counts[(1, "val")], counts[(1, "test")], counts[(2, "train")]) == (
        1,
        1,
        2,
    )  # two items: all train


@pytest.fixture
def folder(tmp_path):
    """Two classes of three clips each, mp4 and avi, 5 to 12 frames; red class a, green class b."""
    root = tmp_path / "clips"
    for name, colour in (("a", (200, 40, 40)), ("b", (40, 200, 40))):
        for i, n in enumerate((5, 8, 12)):
            write_video(root / name / f"{name}{i}.{'avi' if i == 1 else 'mp4'}", n, colour)
    return root


def test_videofolder_loads_samples_and_colours(folder):
    splits, info = VIDEO.load(cfg_for(f"videofolder:{folder}"))
    assert info["classes"] == ["a", "b"] and info["sizes"] == {"train": 2, "val": 2, "test": 2}
    for part in splits.values():
        x, y = part["x"], part["y"]
        assert x.dtype == torch.uint8 and x.shape[1:] == (4, 3, 8, 8)
        means = x.float().mean((3, 4))  # [N, T, 3]
        assert torch.all(means[:, -1].argmax(1) == y)  # red clips are class a, green class b
        assert torch.all(means[:, 1:].amax(2) > means[:, :-1].amax(2))  # sampled frames keep their order
    clip8 = torch.cat([p["x"] for p in splits.values()])  # the 8-frame clips sample frames 1, 3, 5, 7
    bright = clip8.float().mean((3, 4)).amax(2)  # [N, T]
    assert any(torch.allclose(b, torch.tensor([2, 4, 6, 8]) / 8 * 200, atol=8) for b in bright)


def test_videofolder_with_split_folders(tmp_path):
    for split in ("train", "test"):
        for name in ("walk", "run"):
            for i in range(3 if split == "train" else 1):
                write_video(tmp_path / "v" / split / name / f"{i}.mp4", 4)
    _, info = VIDEO.load(cfg_for(f"videofolder:{tmp_path / 'v'}"))
    assert info["classes"] == ["run", "walk"] and info["sizes"] == {"train": 4, "val": 2, "test": 2}


def test_decoded_clips_are_cached(folder, monkeypatch, offline_cache):
    first, _ = VIDEO.load(cfg_for(f"videofolder:{folder}"))

    def no_decoding(*args):
        raise AssertionError("videos were decoded again although the clips are cached")

    monkeypatch.setattr(video, "decode_all", no_decoding)
    again, _ = VIDEO.load(cfg_for(f"videofolder:{folder}", seed=3))
    assert torch.equal(first["train"]["x"], again["train"]["x"])
    with pytest.raises(AssertionError, match="decoded again"):
        VIDEO.load(cfg_for(f"videofolder:{folder}", frames=5))  # another T: decoded anew


# -- bad input --------------------------------------------------------------------------------------------
def test_unreadable_video_is_skipped_counted_and_named(folder, capsys):
    (folder / "a" / "broken.mp4").write_bytes(b"not a video at all")
    VIDEO.prepare(cfg_for(f"videofolder:{folder}"))  # as a run does: prepare (decode, cache), then load
    _, info = VIDEO.load(cfg_for(f"videofolder:{folder}"))
    err = capsys.readouterr().err
    assert err.count("warning: skipped 1 of 7 videos that could not be read: ") == 1 and "broken.mp4 (" in err
    assert len(info["skipped"]) == 1 and sum(info["sizes"].values()) == 6
    with pytest.raises(
        BenchError, match=r"cannot read 1 of 7 videos, first .*broken.mp4 \(.*--bad-videos skip"
    ):
        VIDEO.load(cfg_for(f"videofolder:{folder}", bad_videos="fail"))


def test_video_with_zero_frames_is_named(folder, capsys):
    write_video(folder / "b" / "empty.avi", 0)  # AVI keeps a video stream with no frame (MP4 drops it)
    VIDEO.load(cfg_for(f"videofolder:{folder}"))
    assert "empty.avi (zero frames)" in capsys.readouterr().err
    with pytest.raises(BenchError, match=r"cannot read 1 of 7 videos, first .*empty.avi \(zero frames\)"):
        VIDEO.load(cfg_for(f"videofolder:{folder}", bad_videos="fail"))


def test_empty_class_folder_is_an_error(folder):
    (folder / "c").mkdir()
    (folder / "c" / ".DS_Store").write_bytes(b"")
    with pytest.raises(BenchError, match=r"class folder .*/c is empty; add videos to it or remove it"):
        VIDEO.load(cfg_for(f"videofolder:{folder}"))


def test_class_with_no_readable_video_is_an_error(folder):
    (folder / "c").mkdir()
    (folder / "c" / "x.mp4").write_bytes(b"junk")
    with pytest.raises(BenchError, match=r"class 'c' of dataset 'videofolder:.*' has no readable videos"):
        VIDEO.load(cfg_for(f"videofolder:{folder}"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "0"], "error: 'frames' must be positive, got 0"),
        (["--size", "-8"], "error: 'size' must be positive, got -8"),
        (["--frames", "3"], "error: moving-shapes needs 'frames' of at least 4, got 3"),
        (["--backbone", "vgg"], "error: unknown backbone 'vgg'; valid: small, resnet18"),
        (["--bad-videos", "ignore"], "error: unknown bad_videos 'ignore'; valid: skip, fail"),
        (["--split", "4"], "error: unknown split '4'; valid: 1, 2, 3"),
        (["--val-fraction", "0.7"], "error: 'val_fraction' must be in (0, 0.5), got 0.7"),
        (["--backbone-weights", "w.pt"], "error: 'backbone_weights' needs --backbone resnet18"),
        (["--dataset", "videofolder:"], "error: dataset 'videofolder:' needs a path"),
        (
            ["--dataset", "kinetics"],
            "error: unknown dataset for task 'video' 'kinetics'; valid: hmdb51, kth, moving-shapes, ucf101, "
            "videofolder:PATH",
        ),
    ],
)
def test_bad_options_are_one_line(args, message, capsys):
    assert usage_error(["run", "--task", "video", *args], capsys).startswith(message)


def test_missing_videofolder_is_named(tmp_path):
    with pytest.raises(BenchError, match=r"videofolder path '.*nowhere' is not a folder"):
        VIDEO.load(cfg_for(f"videofolder:{tmp_path / 'nowhere'}"))
    (tmp_path / "flat").mkdir()
    write_video(tmp_path / "flat" / "x.mp4", 3)
    with pytest.raises(BenchError, match="has no class sub-folders"):
        VIDEO.load(cfg_for(f"videofolder:{tmp_path / 'flat'}"))


# -- model and a whole run ----------------------------------------------------------------------------------
def test_frame_encoders_take_uint8_clips(tmp_path):
    x = torch.randint(0, 255, (2, 3, 3, 16, 16), dtype=torch.uint8)
    assert video_cnn.build("small", 24, width=4)(x).shape == (2, 3, 24)
    assert video_cnn.build("small", 24, width=4)(x[:, :, :1]).shape == (2, 3, 24)  # grey video
    from torchvision.models import resnet18

    weights = tmp_path / "r18.pt"
    reference = resnet18(weights=None)
    torch.save(reference.state_dict(), weights)
    net = video_cnn.build("resnet18", 24, weights=str(weights))
    assert net(x).shape == (2, 3, 24)
    assert torch.equal(net.backbone.conv1.weight, reference.conv1.weight)
    with pytest.raises(BenchError, match=r"backbone weights file '.*nope.pt' not found"):
        video_cnn.build("resnet18", 24, weights=str(tmp_path / "nope.pt"))
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(BenchError, match="do not fit resnet18: Missing key"):
        video_cnn.build("resnet18", 24, weights=str(tmp_path / "bad.pt"))


@pytest.mark.parametrize("shuffle", [False, True])
def test_run_records_groups_confusion_and_gradient_profile(tmp_path, capsys, shuffle):
    args = ["run", "--task", "video", "--frames", "4", "--size", "12", "--n-train", "2", "--n-eval", "1"]
    args += [
        "--width",
        "4",
        "--feature-size",
        "8",
        "--hidden-size",
        "8",
        "--max-epochs",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main(args + (["--shuffle-frames"] if shuffle else [])) == 0
    rec = json.loads(open(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("record: ")).read())
    assert rec["status"] == "ok" and rec["extras"]["shuffle_frames"] is shuffle
    assert {"test/acc", "test/f1", "test/order_acc", "val/order_acc"} <= set(rec["metrics"])
    assert sum(map(sum, rec["matrices"]["test/confusion"])) == 13
    assert (
        rec["extras"]["class_groups"]["temporal"][:2] == ["move-right", "move-left"]
        and "still" in rec["extras"]["class_groups"]["rest"]
    )
    assert (
        set(rec["extras"]["group_acc"]) == {"temporal", "rest"}
        and rec["extras"]["chance"]["temporal_without_order"] == 0.5
    )
    assert len(rec["grad_profile"]) == 4 and set(rec["extras"]["class_acc"]) == set(video_shapes.CLASSES)
