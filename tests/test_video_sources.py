"""Real video datasets: UCF101 and HMDB51 official splits, KTH's person split and its verified download."""

import dataclasses
import zipfile

import pytest

from bench import tasks
from bench.base.errors import BenchError
from bench.tasks import video_sources
from tests.test_video import cfg_for, write_video

VIDEO = tasks.get("video")


# -- UCF101, HMDB51, KTH layouts ----------------------------------------------------------------------------
def test_ucf101_official_split_and_group_validation(tmp_path):
    root = tmp_path / "ucf"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Archery\n2 Biking\n")
    train, test = [], []
    for label, cls in enumerate(("Archery", "Biking"), start=1):
        for group in (1, 2, 8, 9, 10, 11):
            rel = f"{cls}/v_{cls}_g{group:02d}_c01.avi"
            write_video(root / "UCF-101" / rel, 3, size=(16, 16))
            if group < 8:
                test.append(rel)
            else:
                train.append(f"{rel} {label}")
    (lists / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (lists / "testlist01.txt").write_text("\n".join(test) + "\n")
    splits, info = VIDEO.load(cfg_for("ucf101", data_dir=str(root)))
    assert info["classes"] == ["Archery", "Biking"]
    assert info["sizes"] == {"train": 2, "val": 6, "test": 4}  # validation: groups 8-10, the lowest of train
    assert sorted(splits["test"]["y"].tolist()) == [0, 0, 1, 1]
    with pytest.raises(BenchError, match=r"split file .*trainlist02.txt not found"):
        VIDEO.load(cfg_for("ucf101", data_dir=str(root), split=2))


def test_ucf101_missing_is_named(tmp_path):
    with pytest.raises(
        BenchError, match=r"dataset 'ucf101' not found: looked for 'ucf101/ucfTrainTestlist'.*--data-dir"
    ):
        VIDEO.load(cfg_for("ucf101"))


def test_hmdb51_official_split(tmp_path):
    root = tmp_path / "hmdb"
    (root / "testTrainMulti_7030_splits").mkdir(parents=True)
    for action in ("clap", "wave"):
        marks = ["1", "1", "1", "2", "0"]
        for i in range(len(marks)):
            write_video(root / "videos" / action / f"{action}_{i}.avi", 3, size=(16, 16))
        text = "".join(f"{action}_{i}.avi {m} \n" for i, m in enumerate(marks))
        (root / "testTrainMulti_7030_splits" / f"{action}_test_split1.txt").write_text(text)
    _, info = VIDEO.load(cfg_for("hmdb51", data_dir=str(root)))
    assert info["classes"] == ["clap", "wave"] and info["sizes"] == {"train": 4, "val": 2, "test": 2}


def write_kth(root, persons=(11, 19, 22)):
    for action in video_sources.KTH_ACTIONS:
        for p in persons:
            write_video(root / action / f"person{p:02d}_{action}_d1_uncomp.avi", 3, size=(12, 16))
    return root


def test_kth_local_person_split(tmp_path):
    root = write_kth(tmp_path / "kth")
    splits, info = VIDEO.load(cfg_for("kth", data_dir=str(root)))
    assert info["classes"] == video_sources.KTH_ACTIONS and info["sizes"] == {"train": 6, "val": 6, "test": 6}
    assert sorted(splits["test"]["y"].tolist()) == list(range(6))
    assert [video_sources.kth_split(f"person{p:02d}_walking_d2_uncomp.avi") for p in (1, 10, 18)] == [
        "val",
        "test",
        "train",
    ]
    with pytest.raises(BenchError, match="unexpected KTH file name 'walk.avi'"):
        video_sources.kth_split("walk.avi")


def test_kth_offline_without_copy_names_dataset(tmp_path):
    with pytest.raises(
        BenchError,
        match=r"dataset 'kth' not found: looked for 'kth/boxing'.*BENCH_OFFLINE=1 forbids downloading",
    ):
        VIDEO.load(cfg_for("kth"))


def test_kth_download_extracts_and_verifies_sha1(tmp_path, monkeypatch, offline_cache):
    import hashlib

    src = write_kth(tmp_path / "src", persons=(12, 20, 2))
    sums = {}
    for action in video_sources.KTH_ACTIONS:
        archive = tmp_path / "www" / f"{action}.zip"
        archive.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(archive, "w") as z:
            for f in (src / action).iterdir():
                z.write(f, f.name)
        sums[action] = hashlib.sha1(archive.read_bytes()).hexdigest()
    monkeypatch.setenv("BENCH_OFFLINE", "0")

    def declare(sha1s):  # the declared sources, served from a local folder
        for action, source in video_sources.KTH.items():
            url = f"{(tmp_path / 'www').as_uri()}/{action}.zip"
            monkeypatch.setitem(
                video_sources.KTH, action, dataclasses.replace(source, url=url, sha1=sha1s[action])
            )

    declare({**sums, "walking": "0" * 40})
    with pytest.raises(BenchError, match=r"checksum mismatch for .*walking.zip \(dataset 'kth'\)"):
        VIDEO.load(cfg_for("kth"))
    declare(sums)
    _, info = VIDEO.load(cfg_for("kth"))
    assert info["sizes"] == {"train": 6, "val": 6, "test": 6}
    assert len(list((offline_cache / "kth" / "boxing").glob("*.avi"))) == 3
