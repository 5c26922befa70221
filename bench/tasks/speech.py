"""Spoken-digit recognition: FSDD, Speech Commands digits, or offline DTMF tones -> MFCC/log-mel -> 10 classes.

run: python -m bench run --task speech --model lstm --dataset fsdd
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.base import datasets
from bench.base.errors import BenchError
from bench.base.options import option
from bench.base.sources import Source, fetch
from bench.tasks import register
from bench.tasks.classify import ClassifierTask

if TYPE_CHECKING:
    import numpy as np
    import torch

FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz"
# sha256 over the sorted recordings (name, then sha256 of the bytes): verifies a download or a copy file by file.
FSDD_DIGEST = "0fbe6612aaa20a80ef4371894a46e060038337a518fe3d4728cb7eee7caa013c"
SPEECHCOMMANDS_REL = "SpeechCommands/speech_commands_v0.02"
FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# DTMF keypad: (row, column) frequencies in Hz per digit (ITU-T Q.23).
DTMF = {
    1: (697, 1209),
    2: (697, 1336),
    3: (697, 1477),
    4: (770, 1209),
    5: (770, 1336),
    6: (770, 1477),
    7: (852, 1209),
    8: (852, 1336),
    9: (852, 1477),
    0: (941, 1336),
}


def read_wav(path: Path) -> np.ndarray:
    """Mono float32 samples; a clear error naming the file when it is corrupt or empty."""
    import soundfile as sf  # here: listing the tasks loads no audio library

    try:
        wav, _ = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for malformed headers
        raise BenchError(f"cannot read wav file {path}: {e}; delete or replace it") from None
    if wav.shape[0] == 0:
        raise BenchError(f"wav file {path} is empty (no samples); delete or replace it")
    return wav.mean(axis=1)


def fsdd_files() -> tuple[Path, list[Path]]:
    """The FSDD recordings, from BENCH_DATA or the cache, downloaded and verified when missing."""
    root = fetch(FSDD)
    files = sorted(root.glob("*.wav"))
    if not files:
        raise datasets.missing("fsdd", FSDD.layout, f" ({root} holds no .wav files)")
    for f in files:
        if not FSDD_NAME.match(f.name):
            raise BenchError(f"unexpected FSDD file name {f}; expected {{digit}}_{{speaker}}_{{take}}.wav")
    return root, files


def fsdd_digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(root.glob("*.wav")):
        h.update(f.name.encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def check_fsdd(root: Path) -> None:
    """GitHub's tag archives are generated on the fly, so no checksum of the archive itself can be known; the
    digest is over the recordings instead."""
    if fsdd_digest(root) != FSDD_DIGEST:
        raise BenchError("it does not hold the expected recordings (checksum mismatch)")


def speechcommands_download(out: Path) -> None:
    """Speech Commands v0.02 through torchaudio (which checks the archive's sha256), moved to `out`."""
    from torchaudio.datasets import SPEECHCOMMANDS

    (out.parent / "root").mkdir()
    SPEECHCOMMANDS(out.parent / "root", download=True)
    (out.parent / "root" / SPEECHCOMMANDS_REL).rename(out)


FSDD = Source(
    "fsdd",
    "fsdd/recordings",
    "Free Spoken Digit Dataset, 3,000 recordings at 8 kHz, 6 speakers (downloaded or BENCH_DATA/fsdd)",
    url=FSDD_URL,
    member="*/recordings",
    check=check_fsdd,
)
SPEECHCOMMANDS_DIGITS = Source(
    "speechcommands-digits",
    SPEECHCOMMANDS_REL,
    "the ten digit words of Speech Commands v0.02 (16 kHz), official lists",
    produce=speechcommands_download,
)


def dtmf_clips(n_per_class: int, seed: int, sr: int = 8000) -> list[tuple[np.ndarray, int]]:
    """Offline spoken-digit stand-in: noisy DTMF tones of random length, level and detuning."""
    import numpy as np

    rng = np.random.default_rng(seed)
    clips = []
    for digit, (lo, hi) in DTMF.items():
        for _ in range(n_per_class):
            tone = int(sr * rng.uniform(0.1, 0.5))
            pad = rng.integers(0, sr // 10, size=2)
            t = np.arange(tone) / sr
            detune = rng.uniform(0.985, 1.015, size=2)
            wav = np.sin(2 * np.pi * lo * detune[0] * t) + np.sin(2 * np.pi * hi * detune[1] * t)
            wav = np.concatenate([np.zeros(pad[0]), wav * rng.uniform(0.05, 0.5), np.zeros(pad[1])])
            wav += rng.normal(0, rng.uniform(0.005, 0.05), size=wav.shape)
            clips.append((wav.astype(np.float32), digit))
    return clips


@register
class SpeechTask(ClassifierTask):
    name = "speech"
    description = "spoken-digit recognition (10 classes) from MFCC or log-mel frames"
    datasets = {
        "fsdd": FSDD,
        "speechcommands-digits": SPEECHCOMMANDS_DIGITS,
        "dtmf": "offline: synthetic noisy DTMF keypad tones, one class per digit, no download",
    }
    default_dataset = "fsdd"
    offline_dataset = "dtmf"
    extensions = ("soundfile", "torchaudio")

    @dataclass
    class Options:
        split: str = option(
            "official",
            "official | speaker (FSDD: train on five speakers, test on the sixth)",
            choices=("official", "speaker"),
        )
        test_speaker: str = option("theo", "the held-out speaker for split=speaker")
        features: str = option("mfcc", "frame features", choices=("mfcc", "logmel"))
        n_mels: int = option(40, "mel bands", positive=True)
        n_mfcc: int = option(20, "MFCCs per frame (at most n_mels)", positive=True)
        win_ms: float = option(32.0, "analysis window in ms", above=0, below=1000)
        hop_ms: float = option(10.0, "hop between frames in ms", above=0, below=1000)
        train_limit: int = option(0, "use only this many training clips (0 = all), for quick suites", least=0)
        data_dir: str = option("", "Speech Commands root (holds SpeechCommands/); default: BENCH_DATA")

    def check_options(self, cfg) -> None:
        o = cfg.options
        if o.features == "mfcc" and o.n_mfcc > o.n_mels:  # MFCCs are a transform of the mel bins
            raise BenchError(f"'n_mfcc' must not exceed 'n_mels' ({o.n_mels}), got {o.n_mfcc}")
        if o.split == "speaker" and cfg.dataset != "fsdd":
            raise BenchError(f"split 'speaker' is defined for dataset fsdd only, not '{cfg.dataset}'")

    # -- data -------------------------------------------------------------------------------------------
    def prepare(self, cfg) -> None:
        self._features(cfg)

    def _featurizer(self, o: SpeechTask.Options, sr: int):
        import torch
        import torchaudio  # here: listing the tasks or building a suite loads no compiled audio extension

        n_fft = 2 ** math.ceil(math.log2(sr * o.win_ms / 1000))
        mel = {
            "n_fft": n_fft,
            "win_length": round(sr * o.win_ms / 1000),
            "hop_length": round(sr * o.hop_ms / 1000),
            "n_mels": o.n_mels,
        }
        if o.features == "mfcc":
            transform = torchaudio.transforms.MFCC(sample_rate=sr, n_mfcc=o.n_mfcc, melkwargs=mel)
            return lambda w: transform(w).T  # [T, n_mfcc]
        transform = torchaudio.transforms.MelSpectrogram(sample_rate=sr, **mel)
        return lambda w: torch.log(transform(w) + 1e-6).T  # [T, n_mels]

    def _features(self, cfg) -> dict:
        """Features of every clip of the dataset (flat [sum T, F] + lengths), cached by their parameters."""
        import torch

        o = cfg.options
        params = {k: getattr(o, k) for k in ("features", "n_mels", "n_mfcc", "win_ms", "hop_ms")}
        params["n_mfcc"] = params["n_mfcc"] if o.features == "mfcc" else None
        if cfg.dataset == "fsdd":
            root, files = fsdd_files()
            fingerprint = [(f.name, f.stat().st_size) for f in files]
            meta = [FSDD_NAME.match(f.name).groups() for f in files]

            def clips():
                return [(read_wav(f), int(d)) for f, (d, _, _) in zip(files, meta, strict=True)]

            extra = {"speaker": [m[1] for m in meta], "take": [int(m[2]) for m in meta]}
            sr = 8000
        elif cfg.dataset == "speechcommands-digits":
            items = speechcommands_items(o.data_dir)
            fingerprint = [(str(p), s) for p, _, s in items]

            def clips():
                return [(read_wav(p), label) for p, label, _ in items]

            extra = {"subset": [s for _, _, s in items]}
            sr = 16000
        else:  # dtmf
            fingerprint, extra, sr = (
                "dtmf-v1",
                {"subset": ["train"] * 1000 + ["val"] * 200 + ["test"] * 200},
                8000,
            )

            def clips():
                return dtmf_clips(100, seed=1) + dtmf_clips(20, seed=2) + dtmf_clips(20, seed=3)

        def build() -> dict:
            featurize = self._featurizer(o, sr)
            feats, labels = [], []
            for wav, label in clips():
                feats.append(featurize(torch.from_numpy(wav)))
                labels.append(label)
            return {
                "x": torch.cat(feats),
                "lengths": torch.tensor([len(f) for f in feats]),
                "y": torch.tensor(labels),
                **extra,
            }

        return datasets.cached_tensors(cfg.dataset, {**params, "files": fingerprint}, build)

    def split_indices(self, cfg, data: dict) -> dict[str, torch.Tensor]:
        """Row indices of train / val / test; no (speaker, digit, take) is in two splits."""
        import numpy as np
        import torch

        o = cfg.options
        if "subset" in data:
            subset = np.array(data["subset"])
            return {s: torch.from_numpy(np.flatnonzero(subset == s)) for s in ("train", "val", "test")}
        take, speaker = np.array(data["take"]), np.array(data["speaker"])
        if o.split == "official":  # takes 0-4 test (FSDD's own split), 5-9 validation
            masks = {"train": take >= 10, "val": (take >= 5) & (take < 10), "test": take < 5}
        else:
            if o.test_speaker not in set(speaker):
                raise BenchError(
                    f"unknown test_speaker '{o.test_speaker}'; valid: {', '.join(sorted(set(speaker)))}"
                )
            held = speaker == o.test_speaker
            masks = {"train": ~held & (take >= 5), "val": ~held & (take < 5), "test": held}
        return {s: torch.from_numpy(np.flatnonzero(m)) for s, m in masks.items()}

    def load(self, cfg):
        import torch
        from torch import nn

        data = self._features(cfg)
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), data["lengths"].cumsum(0)])
        idx = self.split_indices(cfg, data)
        if cfg.options.train_limit > 0:
            g = torch.Generator().manual_seed(0)
            keep = torch.randperm(len(idx["train"]), generator=g)[: cfg.options.train_limit]
            idx["train"] = idx["train"][keep.sort().values]
        train_frames = torch.cat([data["x"][offsets[i] : offsets[i + 1]] for i in idx["train"]])
        mean, std = train_frames.mean(0), train_frames.std(0) + 1e-5  # normalization from train only
        splits = {}
        for stage, rows in idx.items():
            seqs = [(data["x"][offsets[i] : offsets[i + 1]] - mean) / std for i in rows]
            splits[stage] = {
                "x": nn.utils.rnn.pad_sequence(seqs, batch_first=True),  # [N, T_max, F]
                "lengths": data["lengths"][rows],
                "y": data["y"][rows],
            }
        info = {
            "input_size": data["x"].shape[1],
            "num_classes": 10,
            "classes": [str(d) for d in range(10)],
            "sizes": {s: len(r) for s, r in idx.items()},
        }
        return splits, info


def speechcommands_items(data_dir: str) -> list[tuple[Path, int, str]]:
    """(path, digit, subset) for the digit words of Speech Commands v0.02, via torchaudio's SPEECHCOMMANDS."""
    from torchaudio.datasets import SPEECHCOMMANDS

    if data_dir:
        root = Path(data_dir)
        if not (root / SPEECHCOMMANDS_REL).is_dir():
            raise datasets.missing(
                "speechcommands-digits", SPEECHCOMMANDS_REL, f" (not under --data-dir {root})"
            )
    else:
        root = fetch(SPEECHCOMMANDS_DIGITS).parent.parent
    items = []
    for subset, short in (("training", "train"), ("validation", "val"), ("testing", "test")):
        ds = SPEECHCOMMANDS(root, subset=subset)
        for n in range(len(ds)):
            relpath, _, label, _, _ = ds.get_metadata(n)
            if label in DIGITS:
                items.append((Path(ds._archive) / relpath, DIGITS.index(label), short))
    return items
