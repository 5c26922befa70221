"""Language modeling: character or word level, contiguous streams, truncated BPTT with the state carried over.

run: BENCH_DATA=../shared/data python -m bench run --task lm --model lstm
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bench.base import datasets
from bench.base.errors import BenchError
from bench.base.options import option
from bench.base.sources import fetch, split_scheme
from bench.tasks import Layers, Task, register
from bench.tasks.lm_text import (
    EOS,
    SHAKESPEARE,
    UNK,
    WIKITEXT,
    WIKITEXT_FILES,
    encode,
    read_text,
    split_by_position,
    synthetic_play,
    text_file,
    tokenize,
    unigram,
    vocabulary,
    wikitext_dir,
)

SAMPLE_LENGTH = 200  # tokens of the sample stored in every record


@register
class LanguageModelTask(Task):
    name = "lm"
    description = "next-token prediction on text, character or word level, truncated BPTT with carried state"
    datasets = {
        "tiny-shakespeare": SHAKESPEARE,
        "wikitext-2": WIKITEXT,
        "text:PATH": "any UTF-8 text file, character level (--level word for words), split 90/5/5",
        "synthetic": "offline: a play from a small seeded grammar, 264k characters, no download",
    }
    default_dataset = "tiny-shakespeare"
    offline_dataset = "synthetic"
    primary_metric = "ppl"
    higher_is_better = False
    stateful = True

    @dataclass
    class Options:
        bptt: int = option(
            128, "truncated-BPTT length: time steps per batch; the state carries across batches", least=1
        )
        level: str = option(
            "auto", "auto: word for wikitext-2, char otherwise", choices=("auto", "char", "word")
        )
        emb_size: int = option(0, "token embedding size; 0 = hidden_size", least=0)
        tie_weights: bool = option(True, "share embedding and output weights (when emb_size == hidden_size)")
        min_count: int = option(1, "word level: training words seen fewer times map to <unk>", least=1)
        data_dir: str = option("", "wikitext-2: folder holding train.txt, valid.txt, test.txt")
        train_tokens: int = option(
            0, "train on this many tokens from the start of the training split (0 = all)", least=0
        )

    def check_dataset(self, dataset: str) -> None:
        if split_scheme(dataset)[0] != "text":
            return super().check_dataset(dataset)
        if not (path := text_file(dataset)).is_file():
            raise BenchError(f"text file '{path}' not found (dataset '{dataset}')")

    def check_options(self, cfg) -> None:
        if cfg.bidirectional:
            raise BenchError("a bidirectional encoder sees the next token; language modeling needs it off")
        if cfg.options.data_dir and cfg.dataset != "wikitext-2":
            raise BenchError(f"data_dir applies to dataset wikitext-2 only, not '{cfg.dataset}'")

    def level(self, cfg) -> str:
        if cfg.options.level != "auto":
            return cfg.options.level
        return "word" if cfg.dataset == "wikitext-2" else "char"

    # -- data -------------------------------------------------------------------------------------------
    def _texts(self, cfg) -> tuple[dict[str, Path] | Path | None, str]:
        """Where the text comes from: split files (wikitext-2), one file, or None (synthetic); and a key."""
        if cfg.dataset == "synthetic":
            return None, "synthetic-play-v1"
        if cfg.dataset == "wikitext-2":
            files = {s: wikitext_dir(cfg.options.data_dir) / f for s, f in WIKITEXT_FILES.items()}
            return files, "|".join(datasets.file_digest(p) for p in files.values())
        source = self.source(cfg.dataset)  # a declared text file (Tiny Shakespeare), or the user's text:PATH
        path = fetch(source) if source else text_file(cfg.dataset)
        return path, datasets.file_digest(path) if path.is_file() else str(path)

    def _tokens(self, cfg) -> dict:
        """Token ids per split and the vocabulary, computed once and cached by source, level and min_count."""
        level, min_count = self.level(cfg), cfg.options.min_count
        source, key = self._texts(cfg)

        def build() -> dict:
            if isinstance(source, dict):
                splits = {s: tokenize(read_text(p), level) for s, p in source.items()}
            else:
                text = synthetic_play() if source is None else read_text(source)
                splits = split_by_position(tokenize(text, level))
            vocab = vocabulary(splits["train"], level, min_count)
            return {**{s: encode(t, vocab) for s, t in splits.items()}, "vocab": vocab}

        params = {"source": key, "level": level, "min_count": min_count if level == "word" else 1}
        name = "lm-" + hashlib.sha256(cfg.dataset.encode()).hexdigest()[:8]
        return datasets.cached_tensors(name, params, build)

    def prepare(self, cfg) -> None:
        self._tokens(cfg)

    def load(self, cfg):
        from bench.tasks.lm_streams import check_streams

        data = self._tokens(cfg)
        if cfg.options.train_tokens:  # a prefix of the training text, for quick suites
            data = {**data, "train": data["train"][: cfg.options.train_tokens]}
        sizes = {s: len(data[s]) for s in ("train", "val", "test")}
        world = cfg.world_size
        for split, n in sizes.items():  # fail before training rather than at the first validation
            check_streams(n, cfg.batch_size // world, cfg.options.bptt, world, split)
        info = {
            "level": self.level(cfg),
            "vocab": data["vocab"],
            "vocab_size": len(data["vocab"]),
            "sizes": sizes,
        }
        return {s: {"ids": data[s]} for s in sizes}, info

    def dataloader(self, data: dict, cfg, train: bool, world: int, rank: int):
        """This rank's contiguous streams, in order (never shuffled: the carried state needs the next chunk)."""
        from torch.utils.data import DataLoader

        from bench.tasks.lm_streams import StreamBatches

        # cfg.batch_size is the global batch: batch_size streams in all, batch_size // world on each rank
        batches = StreamBatches(data["ids"], cfg.batch_size // world, cfg.options.bptt, world, rank)
        return DataLoader(batches, batch_size=None, shuffle=False)

    # -- model ------------------------------------------------------------------------------------------
    def input_size(self, cfg, info: dict) -> int:
        return cfg.options.emb_size or cfg.hidden_size

    def build(self, cfg, info: dict, make_encoder) -> Layers:
        from bench.tasks.heads import Embed, LMHead

        embed = Embed(info["vocab_size"], self.input_size(cfg, info), cfg.dropout)
        encoder = make_encoder(self.input_size(cfg, info))
        tie = cfg.options.tie_weights and embed.embed.embedding_dim == encoder.output_size
        head = LMHead(encoder.output_size, info["vocab_size"], cfg.dropout, embed.embed if tie else None)
        return Layers(embed, encoder, head)

    def loss(self, pred, y):
        # pred: [B, T, V]; y: [B, T]; mean cross-entropy in nats over every token
        from torch.nn import functional as F

        return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), y.reshape(-1))

    def final_loss(self, pred, y):
        from torch.nn import functional as F

        return F.cross_entropy(pred[:, -1], y[:, -1])  # the last step's prediction, for the gradient profile

    def metrics(self, info: dict):
        import torchmetrics

        from bench.tasks.metrics import TokenNLL

        units = ("ppl", "bpc") if info["level"] == "char" else ("ppl",)
        return torchmetrics.MetricCollection({u: TokenNLL(u) for u in units})

    # -- text -------------------------------------------------------------------------------------------
    def encode(self, text: str, info: dict) -> list[int]:
        """Prompt -> ids; an error naming every token outside the vocabulary. Empty: the line-start token."""
        vocab, level = info["vocab"], info["level"]
        stoi = {t: i for i, t in enumerate(vocab)}
        tokens = tokenize(text, "char") if level == "char" else text.split()
        if not tokens:
            start = "\n" if level == "char" else EOS
            return [stoi.get(start, 0)]
        unknown = list(dict.fromkeys(t for t in tokens if t not in stoi))
        if unknown:
            kind = "characters" if level == "char" else "words"
            raise BenchError(
                f"prompt {kind} outside the vocabulary: {', '.join(map(repr, unknown))} "
                f"(the run's vocabulary has {len(vocab) - 1} {kind})"
            )
        return [stoi[t] for t in tokens]

    def decode(self, ids: list[int], info: dict) -> str:
        tokens = [info["vocab"][i] for i in ids]
        if info["level"] == "char":  # <unk> as one replacement character: a character per token
            return "".join("\ufffd" if t == UNK else t for t in tokens)
        return "".join("\n" if t == EOS else " " + t for t in tokens)

    def baselines(self, datamodule, cfg) -> dict[str, dict[str, float]]:
        splits, info = datamodule.splits, datamodule.info
        return {
            "unigram": unigram(
                splits["train"]["ids"], splits["test"]["ids"], info["vocab_size"], info["level"]
            )
        }

    def extras(self, module, datamodule, cfg, run_dir) -> dict:
        from bench.tasks.lm_sample import sample

        info = datamodule.info
        ids = sample(module, self.encode("", info), SAMPLE_LENGTH, temperature=0.8, seed=cfg.seed)
        tied = module.head.fc.weight is module.input_layer.embed.weight
        return {
            "sample": {"prompt": "", "temperature": 0.8, "seed": cfg.seed, "text": self.decode(ids, info)},
            "vocab_size": info["vocab_size"],
            "level": info["level"],
            "tied_weights": tied,
        }
