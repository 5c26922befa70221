"""Language modeling: datasets (WikiText-2, text files, Tiny Shakespeare and its verified download) and bad input."""

import dataclasses
import subprocess
import sys

import pytest

from bench import tasks
from bench.base.datasets import file_digest
from bench.base.errors import BenchError
from bench.cli import main
from bench.config import resolve
from bench.tasks import lm_text
from tests.conftest import ROOT, usage_error

LM = tasks.get("lm")


# -- datasets ---------------------------------------------------------------------------------------------
def test_wikitext_local_folder_vocabulary_from_train_only(tmp_path):
    folder = tmp_path / "wt2"
    folder.mkdir()
    (folder / "train.txt").write_text(" = Title = \n\n the cat sat on the mat \n the dog sat \n" * 20)
    (folder / "valid.txt").write_text(" the cow sat on the mat \n" * 10)
    (folder / "test.txt").write_text(" a dog sat \n" * 10)
    cfg = resolve(
        {"task": "lm", "dataset": "wikitext-2", "data_dir": str(folder), "batch_size": 2, "bptt": 4}
    )
    splits, info = LM.load(cfg)
    vocab = info["vocab"]
    assert info["level"] == "word" and vocab[0] == "<unk>" and "cow" not in vocab and "a" not in vocab
    assert set(vocab) == {"<unk>", "<eos>", "=", "Title", "the", "cat", "sat", "on", "mat", "dog"}
    assert [vocab[i] for i in splits["val"]["ids"][:8]] == [
        "the",
        "<unk>",
        "sat",
        "on",
        "the",
        "mat",
        "<eos>",
        "the",
    ]
    assert info["sizes"] == {"train": 20 * 16, "val": 70, "test": 40}  # every line ends with <eos>
    # found under BENCH_DATA/wikitext-2 as well
    (tmp_path / "data").mkdir(exist_ok=True)
    folder.rename(tmp_path / "data" / "wikitext-2")
    _, again = LM.load(resolve({"task": "lm", "dataset": "wikitext-2", "batch_size": 2, "bptt": 4}))
    assert again["vocab"] == vocab


def test_wikitext_missing_offline_and_incomplete_folder(tmp_path):
    with pytest.raises(BenchError, match=r"dataset 'wikitext-2' not found: .*BENCH_OFFLINE=1 forbids"):
        LM.load(resolve({"task": "lm", "dataset": "wikitext-2"}))
    (tmp_path / "wt2").mkdir()
    (tmp_path / "wt2" / "train.txt").write_text("a b\n")
    with pytest.raises(BenchError, match=r"wikitext-2 folder '.*wt2' lacks valid.txt, test.txt"):
        LM.load(resolve({"task": "lm", "dataset": "wikitext-2", "data_dir": str(tmp_path / "wt2")}))


def test_text_file_word_level_and_split_by_position(tmp_path):
    path = tmp_path / "t.txt"
    words = [f"w{i % 7}" for i in range(2000)]
    path.write_text("\n".join(" ".join(words[i : i + 10]) for i in range(0, 2000, 10)) + "\n")
    splits, info = LM.load(
        resolve({"task": "lm", "dataset": f"text:{path}", "level": "word", "batch_size": 4, "bptt": 8})
    )
    assert info["sizes"] == {"train": 1980, "val": 110, "test": 110}  # 2,200 tokens (200 <eos>), 90 / 5 / 5
    assert len(info["vocab"]) == 9  # <unk>, <eos>, w0..w6


def test_real_tiny_shakespeare_loads(shared_data):
    path = shared_data / "tiny-shakespeare" / "input.txt"
    assert file_digest(path) == lm_text.SHAKESPEARE_SHA256
    splits, info = LM.load(resolve({"task": "lm"}))
    assert info["sizes"] == {"train": 1_003_854, "val": 55_769, "test": 55_771}  # 1,115,394 by 90 / 5 / 5
    assert info["vocab_size"] == 66 and info["level"] == "char"  # 65 characters and <unk>
    text = path.read_text()
    assert "".join(info["vocab"][i] for i in splits["val"]["ids"][:50].tolist()) == text[1_003_854:1_003_904]


def test_tiny_shakespeare_download_is_verified(tmp_path, monkeypatch, offline_cache):
    src = tmp_path / "src" / "input.txt"
    src.parent.mkdir()
    src.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 200)
    monkeypatch.setenv("BENCH_OFFLINE", "0")
    declared = dataclasses.replace(lm_text.SHAKESPEARE, url=src.as_uri(), sha256="0" * 64)
    monkeypatch.setattr(lm_text, "SHAKESPEARE", declared)
    with pytest.raises(BenchError, match="checksum mismatch"):
        lm_text.shakespeare_file()
    monkeypatch.setattr(lm_text, "SHAKESPEARE", dataclasses.replace(declared, sha256=file_digest(src)))
    assert lm_text.shakespeare_file() == offline_cache / "tiny-shakespeare" / "input.txt"
    _, info = LM.load(resolve({"task": "lm", "batch_size": 4, "bptt": 8}))
    assert info["sizes"]["train"] == int(0.9 * len(src.read_text()))


# -- bad input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"good text\n\xff\xfe more", "is not UTF-8: invalid byte 0xff at byte offset 10"),
    ],
)
def test_bad_text_file_is_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    assert main(["run", "--task", "lm", "--dataset", f"text:{path}", "--out", str(tmp_path / "runs")]) == 2
    assert not list((tmp_path / "runs").glob("*.json"))  # bad input: nothing written
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: text file '{path}' {message}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dataset", "ptb"],
            "error: unknown dataset for task 'lm' 'ptb'; valid: synthetic, text:PATH, tiny-",
        ),
        (["--dataset", "text:/no/such.txt"], "error: text file '/no/such.txt' not found"),
        (["--level", "byte"], "error: unknown level 'byte'; valid: auto, char, word"),
        (["--bptt", "0"], "error: 'bptt' must be at least 1, got 0"),
        (["--bidirectional"], "error: a bidirectional encoder sees the next token"),
        (["--data-dir", "/tmp"], "error: data_dir applies to dataset wikitext-2 only"),
    ],
)
def test_bad_arguments_are_one_line(args, message, capsys):
    error = usage_error(["run", "--task", "lm", *args], capsys)
    assert error.startswith(message), error


def test_bptt_too_long_is_bad_input_with_one_line(tmp_path, capsys):
    args = ["--dataset", "synthetic", "--batch-size", "64", "--bptt", "5000", "--out", str(tmp_path)]
    assert main(["run", "--task", "lm", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: bptt 5000 is not smaller than the stream length 3719 of split 'train'")


def test_generate_help():
    res = subprocess.run(
        [sys.executable, "-m", "bench", "generate", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0 and res.stdout.startswith("usage: bench generate")
    assert "--prompt" in res.stdout and "--temperature" in res.stdout and "--seed" in res.stdout
