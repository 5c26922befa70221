"""The committed suites (bench/configs/suites/): what each one trains, checked without training."""

from pathlib import Path

import pytest

from bench.suites import load_suite

ROOT = Path(__file__).resolve().parents[1]

# The task families the published suites cover; a task added later is not forced into them.
PUBLISHED_TASKS = {"forecast", "lm", "probes", "speech", "video"}


def test_standard_suite_is_every_task_at_real_size_with_epoch_budgets():
    """The published table's suite: every task, three cells x three clips x three seeds, and budgets in epochs
    only (a time budget would make the table depend on the machine's speed)."""
    suite = load_suite("standard")
    assert {c.cfg.task for c in suite.cells} == PUBLISHED_TASKS
    assert suite.cols() == [
        f"{m} {c}" for m in ("rnn", "lstm", "gru") for c in ("none", "norm:1.0", "value:0.5")
    ]
    assert all(c.cfg.max_minutes == 0 and c.cfg.max_epochs > 0 for c in suite.cells)
    assert {c.cfg.seed for c in suite.cells} == {0, 1, 2} and len(suite.cells) == len(suite.rows()) * 27
    assert "video/moving-shapes shuffle_frames=True" in suite.rows()
    lm = {c.cfg.model: c.cfg.lr for c in suite.cells if c.cfg.task == "lm"}
    assert lm["gru"] < lm["lstm"]  # the GRU's own learning rate: it comes apart at the LSTM's
    train = {c.cfg.dataset: c.cfg.options for c in suite.cells if c.cfg.task in ("speech", "lm")}
    assert train["fsdd"].train_limit == 0 and train["tiny-shakespeare"].train_tokens == 0  # all the data


def test_full_suite_is_the_whole_clipping_grid_with_the_longer_settings_in_epochs():
    """The grid that needs GPUs: every clipping setting, the speaker split, H = 168, probes at T = 200 and
    1,000; budgets in epochs, like the standard suite, so a GPU run and a CPU run train the same cells."""
    suite = load_suite("full")
    assert {c.cfg.task for c in suite.cells} == PUBLISHED_TASKS
    assert {c.cfg.clip for c in suite.cells} == {"none", "norm:0.25", "norm:1.0", "norm:5.0", "value:0.5"}
    assert all(c.cfg.max_minutes == 0 and c.cfg.max_epochs > 0 for c in suite.cells)
    assert len(suite.cells) == len(suite.rows()) * 45
    assert {"speech/fsdd split=speaker", "forecast/etth1 horizon=168", "probes/copy seq_len=1000"} <= set(
        suite.rows()
    )
    probes = {(c.cfg.dataset, c.cfg.options.seq_len) for c in suite.cells if c.cfg.task == "probes"}
    assert probes == {(d, t) for d in ("adding", "copy") for t in (200, 1000)}


def test_modern_suite_compares_every_family_at_equal_size_tuned_on_validation():
    """Families at the LSTM encoder's parameter count (within 2 %), not at its width; each cell's learning rate
    from the same three trials at a seed the table does not report."""
    import torch

    from bench import models

    # the features each task feeds its encoder: value and marker, 20 MFCCs, ETTh1's one series, the embedding
    features = {"probes": 2, "speech": 20, "forecast": 1, "lm": 128}
    suite = load_suite("modern")
    assert {c.cfg.model for c in suite.trials} == set(models.names()) - {"peephole"}
    assert {c.cfg.seed for c in suite.trials} == {100} and {c.cfg.lr for c in suite.trials} == {
        1e-3,
        3e-3,
        1e-2,
    }
    first = {}  # one trial per (row, model): its config, whose size the test rebuilds on the meta device
    for c in suite.trials:
        first.setdefault((c.row, c.cfg.model), c.cfg)
    for row in {r for r, _ in first}:
        sizes = {}
        for (r, model), cfg in first.items():
            if r == row:
                with torch.device("meta"):
                    encoder = models.build_for(cfg, features[cfg.task])
                sizes[model] = sum(p.numel() for p in encoder.parameters())
        assert max(sizes.values()) / min(sizes.values()) < 1.02, (row, sizes)
    assert all(c.cfg.max_minutes == 0 and c.cfg.num_layers == 2 for c in suite.trials)
    assert {c.cfg.options.emb_size for c in suite.trials if c.cfg.task == "lm"} == {128}


@pytest.mark.parametrize("name, count, significant", [("standard", 120, 42), ("modern", 90, 67)])
def test_every_readme_sentence_about_a_published_table_holds_on_its_committed_records(
    name, count, significant
):
    """The README's sentences about the standard table ("What the table shows") and the modern one ("What the
    modern table shows") are those suites' findings; they hold on results/standard and results/modern."""
    from bench import findings, table

    suite = load_suite(name, str(ROOT / "results" / name))
    held = findings.check(suite.findings, table.collect(suite))
    assert len(held) == count and [t for t, h in held if not h] == []
    assert sum("significant over seeds" in t for t, _ in held) == significant


def test_literature_suite_meets_the_references_settings_and_budgets():
    """TCN Table 1's lengths and parameter budgets (about 70K for adding T = 600, 16K for copy T = 1,000, counted
    over encoder and head), every model tuned the same way, and early stopping that can fire in every cell."""
    import torch

    from bench import models, tasks

    suite = load_suite("literature")
    assert {c.cfg.model for c in suite.trials} == {"rnn", "lstm", "gru", "mingru", "minlstm", "lru"}
    assert all(c.cfg.max_minutes == 0 and c.cfg.patience < c.cfg.max_epochs for c in suite.trials)
    probes = tasks.get("probes")
    for c in [t for t in suite.trials if t.cfg.task == "probes" and t.cfg.lr == 1e-3]:
        budget, length = {"adding": (70_000, 600), "copy": (16_000, 1000)}[c.cfg.dataset]
        inputs = {"adding": 2, "copy": 10}[c.cfg.dataset]
        with torch.device("meta"):
            encoder = models.build_for(c.cfg, inputs)
            head = probes.build_head(c.cfg, {"input_size": inputs}, encoder)
        mine = {id(p) for p in encoder.parameters()}
        size = sum(p.numel() for p in encoder.parameters()) + sum(
            p.numel() for p in head.parameters() if id(p) not in mine
        )
        assert abs(size / budget - 1) < 0.02 and c.cfg.options.seq_len == length, (c.row, c.cfg.model, size)
        assert c.cfg.options.n_eval == 1000
    assert {(p["row"], p["model"]) for p in suite.published} == {
        (f"probes/{d}", m) for d in ("adding T=600", "copy T=1000") for m in ("lstm", "gru")
    }
    horizons = {c.cfg.options.horizon for c in suite.trials if c.cfg.task == "forecast"}
    assert horizons == {24, 168}
