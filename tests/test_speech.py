import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from bench import tasks
from bench.base.errors import BenchError
from bench.config import resolve
from bench.tasks import speech

SPEECH = tasks.get("speech")


def keys(data, rows):
    return {(data["speaker"][i], int(data["y"][i]), data["take"][i]) for i in rows.tolist()}


@pytest.fixture
def fsdd_real(shared_data, session_cache, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(session_cache))  # compute the real features once per session
    return shared_data


def test_fsdd_official_split(fsdd_real):
    cfg = resolve({"dataset": "fsdd"})
    data = SPEECH._features(cfg)
    assert len(data["y"]) == 3000 and data["x"].shape[1] == 20
    idx = SPEECH.split_indices(cfg, data)
    assert {k: len(v) for k, v in idx.items()} == {"train": 2400, "val": 300, "test": 300}
    assert all(data["take"][i] < 5 for i in idx["test"].tolist())  # FSDD's official test takes 0-4
    splits = [keys(data, idx[s]) for s in ("train", "val", "test")]
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
    assert sum(len(s) for s in splits) == 3000


def test_fsdd_speaker_held_out(fsdd_real):
    cfg = resolve({"dataset": "fsdd", "split": "speaker", "test_speaker": "lucas"})
    data = SPEECH._features(cfg)
    idx = SPEECH.split_indices(cfg, data)
    speakers = {s: {data["speaker"][i] for i in idx[s].tolist()} for s in idx}
    assert speakers["test"] == {"lucas"} and len(idx["test"]) == 500
    assert "lucas" not in speakers["train"] | speakers["val"] and len(speakers["train"]) == 5
    with pytest.raises(BenchError, match="unknown test_speaker 'bob'; valid: george, jackson, lucas"):
        SPEECH.split_indices(resolve({"split": "speaker", "test_speaker": "bob"}), data)


def test_normalization_uses_train_only(fsdd_real):
    splits, info = SPEECH.load(resolve({"dataset": "fsdd"}))
    train = splits["train"]
    mask = torch.arange(train["x"].shape[1])[None, :] < train["lengths"][:, None]  # [N, T] valid frames
    frames = train["x"][mask]
    torch.testing.assert_close(frames.mean(0), torch.zeros(20), atol=1e-3, rtol=0)
    torch.testing.assert_close(frames.std(0), torch.ones(20), atol=1e-3, rtol=0)
    assert info["sizes"] == {"train": 2400, "val": 300, "test": 300}


def write_fsdd(root, n_takes=3, sr=8000):
    rec = root / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for digit in range(10):
        for take in range(n_takes):
            sf.write(rec / f"{digit}_alice_{take}.wav", rng.normal(0, 0.1, sr // 4).astype(np.float32), sr)
    return rec


def test_feature_cache_reused_and_rebuilt_on_parameter_change(tmp_path, monkeypatch, offline_cache):
    write_fsdd(tmp_path / "data")
    first = SPEECH._features(resolve({}))
    assert len(list((offline_cache / "features").glob("*.pt"))) == 1

    def no_reading(path):
        raise AssertionError("audio was decoded again although the features are cached")

    monkeypatch.setattr(speech, "read_wav", no_reading)
    again = SPEECH._features(resolve({"seed": 3}))  # a non-feature change reuses the cache
    torch.testing.assert_close(again["x"], first["x"])
    with pytest.raises(AssertionError, match="decoded again"):
        SPEECH._features(resolve({"n_mfcc": 13}))


def test_corrupt_and_empty_wav_are_named(tmp_path):
    rec = write_fsdd(tmp_path / "data")
    (rec / "3_alice_1.wav").write_bytes(b"RIFF not really a wav")
    with pytest.raises(BenchError, match=r"cannot read wav file .*3_alice_1.wav.*delete or replace it"):
        SPEECH._features(resolve({}))
    sf.write(rec / "3_alice_1.wav", np.zeros(0, dtype=np.float32), 8000)
    with pytest.raises(BenchError, match=r"wav file .*3_alice_1.wav is empty \(no samples\)"):
        SPEECH._features(resolve({}))


def test_missing_data_offline_names_dataset_and_folders(tmp_path):
    with pytest.raises(BenchError) as e:
        SPEECH._features(resolve({}))
    msg = str(e.value)
    assert "dataset 'fsdd' not found" in msg and str(tmp_path / "data") in msg and "BENCH_DATA" in msg


def test_missing_data_download_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_OFFLINE", "0")
    declared = dataclasses.replace(
        speech.FSDD, url="http://127.0.0.1:9/fsdd.tar.gz"
    )  # nothing listens on port 9
    monkeypatch.setattr(speech, "FSDD", declared)
    with pytest.raises(
        BenchError, match=r"dataset 'fsdd' not found.*downloading http://127.0.0.1:9/fsdd.tar.gz failed"
    ):
        SPEECH._features(resolve({}))


def serve_fsdd_archive(tmp_path, monkeypatch) -> Path:
    """A small FSDD release archive as the declared download (a file URL, downloads allowed); its recordings."""
    import tarfile

    src = write_fsdd(tmp_path / "src")
    archive = tmp_path / "fsdd-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(src, arcname="free-spoken-digit-dataset-1.0/recordings")
    monkeypatch.setenv("BENCH_OFFLINE", "0")
    monkeypatch.setattr(speech, "FSDD", dataclasses.replace(speech.FSDD, url=archive.as_uri()))
    return src


def test_download_extracts_and_verifies(tmp_path, monkeypatch, offline_cache):
    src = serve_fsdd_archive(tmp_path, monkeypatch)
    monkeypatch.setattr(speech, "FSDD_DIGEST", speech.fsdd_digest(src))
    root, files = speech.fsdd_files()
    assert root == offline_cache / "fsdd" / "recordings" and len(files) == 30


def test_download_that_fails_its_checksum_is_never_accepted(tmp_path, monkeypatch, offline_cache):
    """The recordings are verified before they are moved into place: a second run does not find them."""
    serve_fsdd_archive(tmp_path, monkeypatch)
    for _ in range(2):
        with pytest.raises(BenchError, match=r"does not hold the expected recordings.*removed, run again"):
            speech.fsdd_files()
    assert not (offline_cache / "fsdd" / "recordings").exists()
    assert sorted(p.name for p in (offline_cache / "fsdd").iterdir()) == []  # no extraction left behind


def test_corrupt_feature_cache_is_named_removed_and_rebuilt(tmp_path, offline_cache, capsys):
    """Truncated, 4 KB flipped in place (it used to load and train quietly on other numbers), or a loadable file
    with other contents (it used to fail with KeyError on every rerun): each is caught by the digest beside the
    cache file, named, removed and rebuilt."""
    write_fsdd(tmp_path / "data")
    first = SPEECH._features(resolve({}))
    (cached,) = (offline_cache / "features").glob("*.pt")
    assert (cached.parent / f"{cached.name}.sha256").is_file()
    whole = cached.read_bytes()
    flipped = bytearray(whole)
    flipped[1000:5096] = bytes(b ^ 0xFF for b in flipped[1000:5096])
    foreign = tmp_path / "foreign.pt"
    torch.save({"x": torch.zeros(3)}, foreign)
    for damage in (whole[:100], bytes(flipped), foreign.read_bytes()):
        cached.write_bytes(damage)
        again = SPEECH._features(resolve({}))
        torch.testing.assert_close(again["x"], first["x"])
        err = capsys.readouterr().err
        assert f"cached features {cached}: its contents do not match their digest; removed, rebuilding" in err
        assert cached.read_bytes() == whole  # saved whole again
    (cached.parent / f"{cached.name}.sha256").unlink()  # a cache from before digests: not trusted
    torch.testing.assert_close(SPEECH._features(resolve({}))["x"], first["x"])
    assert "it has no digest beside it" in capsys.readouterr().err


def test_speechcommands_digits_from_local_root(tmp_path):
    base = tmp_path / "sc" / "SpeechCommands" / "speech_commands_v0.02"
    rng = np.random.default_rng(0)
    for word in ["zero", "seven", "dog"]:
        (base / word).mkdir(parents=True)
        for spk in ["aa11", "bb22", "cc33"]:
            sf.write(base / word / f"{spk}_nohash_0.wav", rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    (base / "validation_list.txt").write_text("zero/bb22_nohash_0.wav\nseven/bb22_nohash_0.wav\n")
    (base / "testing_list.txt").write_text(
        "zero/cc33_nohash_0.wav\nseven/cc33_nohash_0.wav\ndog/cc33_nohash_0.wav\n"
    )
    cfg = resolve({"dataset": "speechcommands-digits", "data_dir": str(tmp_path / "sc")})
    splits, info = SPEECH.load(cfg)
    assert info["sizes"] == {"train": 2, "val": 2, "test": 2}  # "dog" is not a digit
    assert sorted(splits["test"]["y"].tolist()) == [0, 7]
    assert (
        splits["train"]["x"].shape[2] == 20 and splits["train"]["lengths"].max() == 101
    )  # 1 s at 10 ms hops


def test_dtmf_offline_dataset_is_deterministic():
    a, b = speech.dtmf_clips(2, seed=5), speech.dtmf_clips(2, seed=5)
    assert len(a) == 20 and all(
        np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b, strict=True)
    )
    assert sorted({label for _, label in a}) == list(range(10))


def test_a_damaged_cached_archive_is_fetched_again_not_failed_on_forever(
    tmp_path, monkeypatch, offline_cache, capsys
):
    """Row 4 of issue 30: a truncated archive in the download cache gave EOFError on every rerun. A download
    without a published checksum now carries its own digest; a damaged one is removed and fetched again, and an
    archive that cannot be read at all is named and removed."""
    import shutil

    from bench.base.datasets import safe_extract

    src = serve_fsdd_archive(tmp_path, monkeypatch)
    monkeypatch.setattr(speech, "FSDD_DIGEST", speech.fsdd_digest(src))
    speech.fsdd_files()
    (archive,) = (offline_cache / "downloads").glob("*.tar.gz")
    whole = archive.read_bytes()
    shutil.rmtree(offline_cache / "fsdd" / "recordings")
    archive.write_bytes(whole[:500])  # cut short in the cache
    root, files = speech.fsdd_files()
    assert len(files) == 30 and archive.read_bytes() == whole
    assert (
        f"cached download {archive}: its contents do not match their digest; removed"
        in capsys.readouterr().err
    )
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[:500])
    with pytest.raises(BenchError, match=r"the archive .*cut.tar.gz is damaged \(.*\); removed, run again"):
        safe_extract(cut, tmp_path / "out")
    assert not cut.exists()
