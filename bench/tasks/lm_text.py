"""Text for the lm task: sources (Tiny Shakespeare, WikiText-2, any file, a synthetic play), tokens, vocabulary.

run: BENCH_DATA=../shared/data python -c "from bench.tasks.lm_text import shakespeare_file; print(shakespeare_file())"
"""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from bench.base.errors import BenchError
from bench.base.sources import Source, fetch, split_scheme

if TYPE_CHECKING:
    import torch

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_REL = "tiny-shakespeare/input.txt"
WIKITEXT_FILES = {"train": "train.txt", "val": "valid.txt", "test": "test.txt"}
UNK, EOS = "<unk>", "<eos>"


def _wikitext_from_hub(out: Path) -> None:
    """WikiText-2 (raw) from the `datasets` hub (it verifies its own files), in the pytorch/examples layout."""
    from datasets import load_dataset  # the Hugging Face package, not bench.base.datasets

    hub = load_dataset("wikitext", "wikitext-2-raw-v1")
    out.mkdir()
    for split, name in (("train", "train.txt"), ("validation", "valid.txt"), ("test", "test.txt")):
        lines = [row.rstrip("\n") for row in hub[split]["text"]]  # one row per line of the original files
        (out / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


SHAKESPEARE = Source(
    "tiny-shakespeare",
    SHAKESPEARE_REL,
    "Tiny Shakespeare, 1.1M characters (downloaded with sha256 or BENCH_DATA/tiny-shakespeare)",
    url=SHAKESPEARE_URL,
    sha256=SHAKESPEARE_SHA256,
)
WIKITEXT = Source(
    "wikitext-2",
    "wikitext-2",
    "WikiText-2 (raw), word level: datasets hub, --data-dir or BENCH_DATA/wikitext-2",
    produce=_wikitext_from_hub,
)


def read_text(path: Path) -> str:
    """A UTF-8 text file; one-line errors for a missing, empty or non-UTF-8 file (naming the byte offset)."""
    if not path.is_file():
        raise BenchError(f"text file '{path}' not found")
    raw = path.read_bytes()
    if not raw.strip():
        raise BenchError(f"text file '{path}' is empty")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BenchError(
            f"text file '{path}' is not UTF-8: invalid byte 0x{raw[e.start]:02x} at byte offset {e.start}"
        ) from None


def tokenize(text: str, level: str) -> list[str]:
    """Characters, or whitespace-separated words with <eos> closing every line (as WikiText is modeled)."""
    if level == "char":
        return list(text)
    return [w for line in text.splitlines() for w in (*line.split(), EOS)]


def vocabulary(train: list[str], level: str, min_count: int = 1) -> list[str]:
    """Index -> token from the training split only; index 0 is <unk>, where unseen tokens go."""
    if level == "char":
        return [UNK, *sorted(set(train))]
    counts = Counter(train)
    words = sorted(
        (w for w, c in counts.items() if c >= min_count and w != UNK), key=lambda w: (-counts[w], w)
    )
    return [UNK, *words]


def encode(tokens: list[str], vocab: list[str]) -> torch.Tensor:
    import torch

    stoi = {t: i for i, t in enumerate(vocab)}
    return torch.tensor([stoi.get(t, 0) for t in tokens], dtype=torch.long)  # [N]


def split_by_position(tokens: list, fractions=(0.9, 0.05, 0.05)) -> dict[str, list]:
    a = int(len(tokens) * fractions[0])
    b = a + int(len(tokens) * fractions[1])
    return {"train": tokens[:a], "val": tokens[a:b], "test": tokens[b:]}


def synthetic_play(n_chars: int = 260_000, seed: int = 0) -> str:
    """Offline corpus: a play from a small seeded grammar; speaker turns, entrances and exits, numbered scenes,
    subject-verb agreement. Few short words make it easy by design, so a smoke run learns within a few steps.
    """
    rng = random.Random(seed)
    names = ["ROMEO", "JULIET", "KING", "QUEEN", "NURSE", "FRIAR", "DUKE", "CLOWN", "PUCK", "YORICK", "VIOLA"]
    # a lexicon spelled with nine letters (a e h l m n o s t): a low-entropy text
    nouns = ["moon", "son", "hat", "hen", "seal", "lemon", "melon", "nest", "stone", "note", "home", "shell"]
    adjs = ["tall", "neat", "lean", "stale", "lone", "mellow", "sane", "salt"]
    verbs = ["eat", "hate", "meet", "sell", "tame", "name", "moan", "toss", "smell", "loathe"]

    def phrase() -> tuple[str, bool]:
        plural = rng.random() < 0.3
        det = rng.choice(["the", "the", "some", "no"] + ([] if plural else ["a", "that"]))
        adj = rng.choice(adjs) + " " if rng.random() < 0.4 else ""
        return f"{det} {adj}{rng.choice(nouns)}{'s' if plural else ''}", plural

    def sentence() -> str:
        subject, plural = phrase()
        verb = rng.choice(verbs)
        verb = verb if plural else verb + ("es" if verb.endswith("s") else "s")
        return f"{subject} {verb} {phrase()[0]}"

    parts, size, scene = [], 0, 0
    while size < n_chars:
        roll = rng.random()
        if roll < 0.04:
            scene += 1
            parts.append(f"SCENE {scene}.\n\n")
        elif roll < 0.12:
            parts.append(f"[{rng.choice(['Enter', 'Exit'])} {rng.choice(names)}.]\n\n")
        lines = []
        for _ in range(rng.randint(1, 3)):
            line = ", and ".join(sentence() for _ in range(rng.randint(1, 2)))
            lines.append(line[0].upper() + line[1:] + rng.choice([".", ".", "!", "?", ";"]))
        parts.append(f"{rng.choice(names)}:\n" + "\n".join(lines) + "\n\n")
        size += len(parts[-1])
    return "".join(parts)


def shakespeare_file() -> Path:
    """Tiny Shakespeare from BENCH_DATA or the cache; downloaded and verified (sha256) when missing."""
    return fetch(SHAKESPEARE)


def text_file(dataset: str) -> Path:
    """The user's file of dataset `text:PATH`."""
    return Path(split_scheme(dataset)[1]).expanduser()


def wikitext_dir(data_dir: str) -> Path:
    """A folder with train.txt, valid.txt, test.txt: --data-dir, BENCH_DATA/wikitext-2, or the datasets hub."""
    root = Path(data_dir).expanduser() if data_dir else fetch(WIKITEXT)
    absent = [f for f in WIKITEXT_FILES.values() if not (root / f).is_file()]
    if absent:
        where = "(--data-dir)" if data_dir else "(found in BENCH_DATA or the cache)"
        raise BenchError(f"wikitext-2 folder '{root}' lacks {', '.join(absent)} {where}")
    return root


def unigram(train: torch.Tensor, test: torch.Tensor, vocab_size: int, level: str) -> dict[str, float]:
    """The baseline: a unigram model of the training ids (add-one smoothed over the vocabulary), scored on
    the test ids as the model is (every token but the first is predicted)."""
    import torch

    counts = torch.bincount(train, minlength=vocab_size).double() + 1  # [V]
    nats = -(counts / counts.sum()).log()[test[1:]].mean().item()
    out = {"test/loss": nats, "test/ppl": math.exp(nats)}
    if level == "char":
        out["test/bpc"] = nats / math.log(2)
    return out
