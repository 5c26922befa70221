"""Language modeling: stream batching, carried state, perplexity and bits, generation (datasets and bad input:
test_lm_data.py)."""

import json
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from bench import generate as gen
from bench import tasks
from bench.base.batching import TensorDataModule
from bench.base.errors import BenchError
from bench.cli import main
from bench.config import resolve
from bench.module import SeqModule
from bench.records import Record
from bench.runner import run
from bench.tasks import lm, lm_streams, lm_text
from tests.conftest import usage_error

LM = tasks.get("lm")
ALPHABET = "abcdefghijklmnopqrstuvw"  # 23 characters


def char_ids(text: str) -> tuple[torch.Tensor, list[str]]:
    vocab = lm_text.vocabulary(list(text), "char")
    return lm_text.encode(list(text), vocab), vocab


def as_text(ids: torch.Tensor, vocab: list[str]) -> list[str]:
    return ["".join(vocab[i] for i in row) for row in ids.tolist()]


# -- batching ---------------------------------------------------------------------------------------------
def test_stream_batches_on_a_known_string():
    ids, vocab = char_ids(ALPHABET)
    batches = lm_streams.StreamBatches(ids, batch_size=2, bptt=4)
    # 22 inputs (the last character is only a target) in 2 streams of 11: "abcdefghijk" and "lmnopqrstuv"
    got = [(as_text(b["x"], vocab), as_text(b["y"], vocab)) for b in batches]
    assert len(batches) == 3
    assert got == [
        (["abcd", "lmno"], ["bcde", "mnop"]),
        (["efgh", "pqrs"], ["fghi", "qrst"]),
        (["ijk", "tuv"], ["jkl", "uvw"]),  # the last batch is partial: 11 = 4 + 4 + 3
    ]
    assert all(b["x"].shape == b["y"].shape and b["x"].dtype == torch.long for b in batches)


def test_dataloader_serves_every_stream_in_order():
    ids, _ = char_ids(ALPHABET * 5)  # 115 tokens
    cfg = resolve({"task": "lm", "dataset": "synthetic", "batch_size": 3, "bptt": 5})
    for train in (True, False):  # training batches are never shuffled: the carried state needs order
        xs = [b["x"] for b in LM.dataloader({"ids": ids}, cfg, train, world=1, rank=0)]
        rows = torch.cat(xs, dim=1)  # [3, 38] the streams re-assembled
        assert rows.shape == (3, 38) and torch.equal(rows.reshape(-1), ids[:114])


def test_ranks_get_disjoint_streams_that_cover_the_data():
    ids = torch.arange(41)
    cfg = resolve({"task": "lm", "dataset": "synthetic", "batch_size": 4, "bptt": 3})  # global: 2 per rank
    per_rank = [list(LM.dataloader({"ids": ids}, cfg, True, world=2, rank=r)) for r in (0, 1)]
    assert len(per_rank[0]) == len(per_rank[1]) == 4  # 4 streams of 10: batches of 3, 3, 3, 1 steps
    xs = [torch.cat([b["x"] for b in batches], dim=1) for batches in per_rank]  # [2, 10] per rank
    ys = [torch.cat([b["y"] for b in batches], dim=1) for batches in per_rank]
    assert xs[0].tolist() == [list(range(0, 10)), list(range(10, 20))]
    assert xs[1].tolist() == [list(range(20, 30)), list(range(30, 40))]
    assert torch.equal(torch.cat(xs).reshape(-1), ids[:40]) and torch.equal(
        torch.cat(ys).reshape(-1), ids[1:41]
    )


def test_bptt_not_smaller_than_the_stream_is_an_error():
    with pytest.raises(
        BenchError, match=r"bptt 11 is not smaller than the stream length 11 \(23 tokens in 2 "
    ):
        lm_streams.StreamBatches(torch.arange(23), batch_size=2, bptt=11)
    with pytest.raises(BenchError, match=r"bptt 512 is not smaller than the stream length .* of split 'val'"):
        LM.load(resolve({"task": "lm", "dataset": "synthetic", "batch_size": 64, "bptt": 512}))


# -- carried state ----------------------------------------------------------------------------------------
def small_module(model: str = "lstm", **over):
    cfg = resolve(
        {"task": "lm", "dataset": "synthetic", "model": model, "hidden_size": 8, "batch_size": 4, **over}
    )
    dm = TensorDataModule(LM, cfg)
    dm.prepare_data()
    dm.setup()
    torch.manual_seed(0)
    return SeqModule(cfg, LM, dm.info), dm


def spy_on_encoder(module) -> list[tuple]:
    """Record (state in, state out) of every encoder call; the state out keeps its graph."""
    calls, forward = [], module.encoder.forward

    def spy(x, lengths=None, state=None):
        out, new = forward(x, lengths, state)
        calls.append((state, new))
        return out, new

    module.encoder.forward = spy
    return calls


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
def test_state_enters_the_next_batch_detached(model):
    module, dm = small_module(model)
    calls = spy_on_encoder(module)
    batches = iter(dm.train_dataloader())
    module.on_train_epoch_start()
    module.training_step(next(batches), 0)
    loss = module.training_step(next(batches), 1)
    (first_in, first_out), (second_in, _) = calls
    assert first_in is None  # an epoch starts from a zero state
    for leaving, entering in zip(as_tuple(first_out), as_tuple(second_in), strict=True):
        assert torch.equal(leaving, entering)  # the state leaving batch k enters batch k + 1 ...
        assert leaving.requires_grad and not entering.requires_grad and entering.grad_fn is None
    # ... and no gradient of batch k + 1's loss flows back into batch k's graph
    grads = torch.autograd.grad(loss, list(as_tuple(first_out)), allow_unused=True)
    assert all(g is None for g in grads)
    module.on_train_epoch_start()
    module.training_step(next(batches), 2)
    assert calls[-1][0] is None  # reset at the start of every epoch


def test_state_resets_for_every_pass_and_stages_stay_apart_in_a_real_fit():
    module, dm = small_module("gru", bptt=16)
    calls = spy_on_encoder(module)
    stages = []
    orig_step = module._step

    def step(batch, stage):
        stages.append(stage)
        return orig_step(batch, stage)

    module._step = step
    trainer = pl.Trainer(
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=dm)
    assert stages == ["train"] * 3 + ["val"] * 2 + ["train"] * 3 + ["val"] * 2
    fresh = [state is None for state, _ in calls]
    assert fresh == [True, False, False, True, False] * 2  # zero state at every train epoch and val pass
    for k in (1, 2, 4, 6, 7, 9):  # otherwise the previous batch's state of the same stage goes on
        torch.testing.assert_close(calls[k][0], calls[k - 1][1].detach())


# -- metrics ----------------------------------------------------------------------------------------------
def test_perplexity_and_bits_per_character_by_hand():
    metrics = LM.metrics({"level": "char"})
    # batch 1: one token, uniform over 2 classes -> nll ln 2
    metrics.update(torch.zeros(1, 1, 2), torch.tensor([[0]]))
    # batch 2: three tokens with p(target) = 3/4 each -> nll ln(4/3)
    logits = torch.tensor([[[math.log(3), 0.0], [0.0, math.log(3)], [math.log(3), 0.0]]])
    metrics.update(logits, torch.tensor([[0, 1, 0]]))
    mean = (math.log(2) + 3 * math.log(4 / 3)) / 4  # per token, not per batch
    out = metrics.compute()
    assert out["ppl"].item() == pytest.approx(math.exp(mean), rel=1e-6)
    assert out["bpc"].item() == pytest.approx(mean / math.log(2), rel=1e-6)
    assert set(LM.metrics({"level": "word"}).keys()) == {"ppl"}  # bits per character: character level only


def test_logged_loss_is_the_token_mean_that_perplexity_exponentiates():
    module, dm = small_module(bptt=16)
    batches = list(dm.val_dataloader())
    assert batches[-1]["x"].shape[1] < 16  # a partial last batch weighs less than a full one
    module.eval()
    module.on_validation_epoch_start()
    with torch.no_grad():
        for i, b in enumerate(batches):
            module.validation_step(b, i)
    loss = module.losses["val_"].compute()
    ppl = module.metrics["val_"].compute()["ppl"]
    torch.testing.assert_close(loss.exp(), ppl, rtol=1e-5, atol=0)


# -- model ------------------------------------------------------------------------------------------------
def test_weights_tie_only_when_sizes_match():
    module, _ = small_module()
    assert module.head.fc.weight is module.input_layer.embed.weight
    untied, _ = small_module(emb_size=6)
    assert untied.head.fc.weight is not untied.input_layer.embed.weight
    assert untied.input_layer.embed.weight.shape[1] == 6 and untied.encoder.rnn.input_size == 6
    off, _ = small_module(tie_weights=False)
    assert off.head.fc.weight is not off.input_layer.embed.weight


# -- generation -------------------------------------------------------------------------------------------
@pytest.fixture
def finished_run(tmp_path):
    text = tmp_path / "play.txt"
    text.write_text(lm_text.synthetic_play(20_000, seed=3))
    cfg = resolve(
        {
            "task": "lm",
            "dataset": f"text:{text}",
            "hidden_size": 16,
            "batch_size": 32,
            "bptt": 16,
            "max_epochs": 1,
            "out": str(tmp_path / "runs"),
        }
    )
    record, path = run(cfg)
    assert record.status == "ok", record.reason
    return record, path


def test_generation_is_seeded_and_has_the_requested_length(finished_run, capsys):
    record, path = finished_run
    assert len(record.extras["sample"]["text"]) == lm.SAMPLE_LENGTH and record.extras["level"] == "char"
    assert {"val/ppl", "val/bpc", "test/ppl", "test/bpc", "test/loss"} <= set(record.metrics)
    a = gen.generate(str(path), "ROMEO:", length=50, temperature=0.8, seed=7)
    b = gen.generate(record.checkpoint, "ROMEO:", length=50, temperature=0.8, seed=7)
    assert a == b and len(a) == 50
    assert gen.generate(str(path), "ROMEO:", length=50, seed=8) != a
    greedy = [gen.generate(str(path), "ROMEO:", length=20, temperature=0, seed=s) for s in (1, 2)]
    assert greedy[0] == greedy[1] and len(greedy[0]) == 20  # temperature 0 takes the argmax: no randomness
    # a temperature so small that logits / temperature overflows is its limit, greedy (not a RuntimeError)
    assert gen.generate(str(path), "ROMEO:", length=20, temperature=1e-300, seed=3) == greedy[0]
    assert main(["generate", str(path), "--prompt", "ROMEO:", "--length", "50", "--seed", "7"]) == 0
    assert capsys.readouterr().out == "ROMEO:" + a + "\n"


def test_generation_bad_input_is_one_line(finished_run, tmp_path, capsys):
    _, path = finished_run
    cases = [
        (
            ["--prompt", "ROMEO: Zebra€"],
            "error: prompt characters outside the vocabulary: 'Z', 'b', '€' (the run's",
        ),
        (["--length", "0"], "error: 'length' must be in [1, 100,000] tokens, got 0"),
        (["--length", "99999999999"], "error: 'length' must be in [1, 100,000] tokens, got 99999999999"),
        (["--prompt", "a" * 100_001], "error: the prompt is 100,001 characters; at most 100,000"),
        (["--temperature", "-1"], "error: 'temperature' must be a finite number >= 0, got -1.0"),
        (["--temperature", "nan"], "error: 'temperature' must be a finite number >= 0, got nan"),
        (["--seed", "-5"], "error: 'seed' must be in [0, 2**63), got -5"),
    ]
    for args, message in cases:
        error = usage_error(["generate", str(path), *args], capsys)
        assert error.startswith(message), error
    assert main(["generate", str(tmp_path / "none.json")]) == 2
    assert "not found; pass a record (.json) or a checkpoint (.ckpt)" in capsys.readouterr().err
    failed = tmp_path / "failed.json"
    record = Record.start(resolve({"task": "lm"}), tasks.get("lm"))
    record.reason = "boom"
    failed.write_text(json.dumps(record.to_json()))
    assert main(["generate", str(failed)]) == 2
    assert "names no checkpoint (status failed: boom)" in capsys.readouterr().err
    foreign = tmp_path / "foreign.ckpt"  # a checkpoint bench did not write
    torch.save({"state_dict": {}, "epoch": 3}, foreign)
    assert usage_error(["generate", str(foreign)], capsys).endswith("was it written by bench run?")
    ckpt = Path(json.loads(path.read_text())["checkpoint"])
    whole = ckpt.read_bytes()
    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0x01  # one bit of one weight: it used to sample other text with exit 0
    ckpt.write_bytes(bytes(flipped))
    assert usage_error(["generate", str(path)], capsys).startswith(
        f"error: checkpoint '{ckpt}' does not match the sha256 its record holds"
    )
    ckpt.write_bytes(
        whole[:1000]
    )  # cut short, passed by itself: no digest to compare, and torch's advice is not passed on
    error = usage_error(["generate", str(ckpt)], capsys)
    assert error.startswith(f"error: cannot read checkpoint '{ckpt}' (") and "weights_only=False" not in error
    ckpt.write_bytes(whole)
    other = json.loads(path.read_text()) | {"hash": "0123456789ab"}  # a record whose checkpoint was replaced
    (tmp_path / "other.json").write_text(json.dumps(other))
    error = usage_error(["generate", str(tmp_path / "other.json")], capsys)
    assert "not to the record's 0123456789ab" in error, error


def test_word_level_encode_decode():
    info = {"level": "word", "vocab": ["<unk>", "<eos>", "the", "king"]}
    assert LM.encode("the king", info) == [2, 3] and LM.encode("", info) == [1]
    assert LM.decode([2, 3, 1, 3], info) == " the king\n king"
    with pytest.raises(BenchError, match=r"prompt words outside the vocabulary: 'queen' \(the run's"):
        LM.encode("the queen", info)
