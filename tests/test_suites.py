"""Suites, resume, the results table, the W&B board and reproduce, on hand-made records and a tiny real sweep."""

import json
import re

import pytest

from bench import table, tasks
from bench.base.errors import BenchError
from bench.cli import main
from bench.numbers import Style
from bench.records import record_paths
from bench.suites import load_suite
from bench.sweep import device_slots, pending_cells
from tests.conftest import write_record

SUITE = """
description: fixture
models: [lstm, rnn]
clips: [none, "norm:1.0"]
seeds: [0, 1]
tasks:
  speech:
    datasets: [dtmf]
    hidden_size: 8
    n_mfcc: [13, 20]
"""


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "fixture.yaml"
    path.write_text(SUITE)
    return path


def fake_records(suite, accs: dict):
    """Write a record per cell: accs maps (row, col) -> [acc per seed] or a status string."""
    for cell in suite.cells:
        value = accs.get((cell.row, cell.col))
        if value is None:
            continue
        metrics = {} if isinstance(value, str) else {"test/acc": value[cell.cfg.seed], "val/acc": 0.5}
        write_record(
            cell.cfg,
            value if isinstance(value, str) else "ok",
            metrics=metrics,
            wall_time_s=2.0,
            params=100,
            steps_per_s=10.0,
            baselines={"chance": {"test/acc": 0.1, "test/f1": 0.02}},
        )


def test_suite_expands_grid_with_list_axes(suite_file, tmp_path):
    suite = load_suite(str(suite_file), str(tmp_path / "runs"))
    assert len(suite.cells) == 2 * 2 * 2 * 2  # n_mfcc x models x clips x seeds
    assert suite.rows() == ["speech/dtmf n_mfcc=13", "speech/dtmf n_mfcc=20"]
    assert suite.cols() == ["lstm none", "lstm norm:1.0", "rnn none", "rnn norm:1.0"]
    assert {c.cfg.options.n_mfcc for c in suite.cells} == {13, 20} and all(
        c.cfg.hidden_size == 8 for c in suite.cells
    )


def test_labelled_entries_and_per_dataset_overrides_make_their_own_rows(tmp_path):
    path = tmp_path / "variants.yaml"
    path.write_text(
        "models: [rnn]\n"
        "tasks:\n"
        "  speech:\n"
        "    - {datasets: [dtmf], hidden_size: 8}\n"
        "    - {label: explode, datasets: [dtmf], hidden_size: 8, recurrent_init_scale: 1.5, optimizer: sgd}\n"
        "  probes:\n"
        "    datasets: {adding: {seq_len: 30, lr: 0.01}, copy: {seq_len: 5}}\n"
        "    n_train: 64\n"
    )
    suite = load_suite(str(path), str(tmp_path / "runs"))
    assert suite.rows() == ["speech/dtmf", "speech/dtmf explode", "probes/adding", "probes/copy"]
    cfg = {c.row: c.cfg for c in suite.cells}
    assert (cfg["speech/dtmf"].recurrent_init_scale, cfg["speech/dtmf"].optimizer) == (1.0, "adam")
    assert (cfg["speech/dtmf explode"].recurrent_init_scale, cfg["speech/dtmf explode"].optimizer) == (
        1.5,
        "sgd",
    )
    assert [cfg[r].options.seq_len for r in ("probes/adding", "probes/copy")] == [30, 5]
    assert cfg["probes/adding"].lr == 0.01 and cfg["probes/copy"].lr != 0.01
    assert {cfg[r].options.n_train for r in ("probes/adding", "probes/copy")} == {64}


def test_an_entry_runs_its_own_models_and_clips_and_the_reference_column_is_marked(tmp_path):
    path = tmp_path / "own.yaml"
    path.write_text(
        "models: [rnn]\n"
        "clips: [none]\n"
        "tasks:\n"
        "  speech:\n"
        "    - {datasets: [dtmf], hidden_size: 8, models: [rnn, transformer], clips: [none, 'norm:1.0']}\n"
        "    - {label: plain, datasets: [dtmf], hidden_size: 8}\n"
    )
    suite = load_suite(str(path), str(tmp_path / "runs"))
    cols = {row: [c.col for c in suite.cells if c.row == row] for row in suite.rows()}
    assert cols == {
        "speech/dtmf": ["rnn none", "rnn norm:1.0", "transformer none", "transformer norm:1.0"],
        "speech/dtmf plain": ["rnn none"],
    }
    fake_records(suite, {(c.row, c.col): [0.5] for c in suite.cells})
    md = table.to_markdown(suite, table.collect(suite))
    head = next(line for line in md.splitlines() if line.startswith("| task / dataset"))
    assert "| transformer none (reference) | transformer norm:1.0 (reference) |" in head
    assert "(reference): not a recurrent network" in md
    assert "| speech/dtmf plain | **0.5000 (n=1)** | – | – | – |" in md  # cells the entry does not run


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tasks: {speech: {}}\nmodel: [lstm]\n",
            r"suite .*bad.yaml line 2: unknown key 'model'; valid: description, models, clips",
        ),
        ("tasks:\n  speech: [dtmf, fsdd]\n", r"bad.yaml line 2: task 'speech' must map to its datasets"),
        ("tasks: {speech: {}}\ncommon: [1, 2]\n", r"bad.yaml line 2: 'common' must be a mapping"),
        ("tasks: {speech: {}\nseeds: [0\n", r"bad.yaml' line \d+: .*; fix the YAML syntax"),
        ("- speech\n- lstm\n", r"bad.yaml' must hold a mapping of key: value, got list"),
        ("tasks: {speech: {hidden_size: true}}\n", r"bad value for 'hidden_size': True \(expected int\)"),
        (
            "tasks: {speech: {hiden_size: 3}}\n",
            "task speech: unknown config key 'hiden_size' for task 'speech'",
        ),
        ("models: [lstm]\n", "needs a 'tasks' mapping"),
        ("tasks: {speech: {}}\nclips: [norm:-2]\n", "bad clip setting 'norm:-2'"),
        (
            "tasks:\n  speech: [{datasets: [dtmf]}, {datasets: [dtmf], lr: 0.1}]\n",
            r"bad.yaml line 2: two entries give the row 'speech/dtmf'; give each a different 'label'",
        ),
        (
            "tasks: {probes: {datasets: {adding: 3}}}\n",
            "task probes: dataset 'adding' must map to its overrides",
        ),
        ("tasks: {speech: {datasets: [dtmf], hidden_size: []}}\n", "'hidden_size' is an empty list"),
        ("tasks: {speech: {datasets: {}}}\n", "'datasets' in suite .*bad.yaml, task speech is empty"),
    ],
)
def test_bad_suite_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(BenchError, match=message):
        load_suite(str(path))


def test_unknown_suite_lists_valid():
    with pytest.raises(BenchError, match="unknown suite 'nope'; valid: .*ci.*full"):
        load_suite("nope")


def test_aggregate_mean_std_n_and_ties_both_directions(suite_file, tmp_path, monkeypatch):
    suite = load_suite(str(suite_file), str(tmp_path / "runs"))
    row = "speech/dtmf n_mfcc=13"
    fake_records(
        suite,
        {
            (row, "lstm none"): [0.8, 0.9],
            (row, "lstm norm:1.0"): [0.6, 0.7],
            (row, "rnn none"): "diverged",
            (row, "rnn norm:1.0"): [0.95, 0.95],
        },
    )
    groups = {(g.row, g.col): g for g in table.collect(suite)}
    mean, std, n = groups[(row, "lstm none")].stat("acc")
    assert (round(mean, 6), round(std, 6), n) == (0.85, 0.070711, 2)
    # two seeds a cell: Welch's test cannot tell 0.95 from 0.85 or 0.65 (p = 0.30, 0.11), so no bold, all tied
    assert not any(g.best for g in groups.values())
    assert {c for (r, c), g in groups.items() if g.tied} == {"rnn norm:1.0", "lstm none", "lstm norm:1.0"}
    assert (
        groups[(row, "rnn none")].status == {"diverged": 2} and groups[(row, "rnn none")].stat("acc")[2] == 0
    )
    monkeypatch.setattr(tasks.REGISTRY["speech"], "higher_is_better", False)
    groups = {(g.row, g.col): g for g in table.collect(suite)}
    assert groups[(row, "lstm norm:1.0")].tied and not any(g.best for g in groups.values())


def test_markdown_and_csv_outputs(suite_file, tmp_path):
    suite = load_suite(str(suite_file), str(tmp_path / "runs"))
    row = "speech/dtmf n_mfcc=13"
    fake_records(suite, {(row, "lstm none"): [0.8, 0.9], (row, "rnn none"): "diverged"})
    groups = table.collect(suite)
    md = table.to_markdown(suite, groups)
    assert "| task / dataset | lstm none | lstm norm:1.0 | rnn none | rnn norm:1.0 | baselines |" in md
    assert "| speech/dtmf n_mfcc=13 | **0.850 ± 0.071 (n=2)** | – | – [2 diverged] | – | chance 0.1 |" in md
    assert "| speech/dtmf n_mfcc=13 | 0 / 0 | 0 / 0 | 2 / 0 | 0 / 0 |" in md
    lines = table.to_csv(suite, groups).splitlines()
    assert lines[0] == "row,model,clip,metric,mean,std,n,best,diverged,failed,tied"
    assert "speech/dtmf n_mfcc=13,lstm,none,acc,0.85,0.0707107,2,1,0,0,0" in lines
    assert "speech/dtmf n_mfcc=13,rnn,none,wall_time_s,2,0,2,0,2,0,0" in lines
    assert lines[-1] == "speech/dtmf n_mfcc=13,baseline,chance,acc,0.1,0,1,0,0,0,0"  # a row's baseline
    from bench.report import to_html

    page = to_html(suite, groups)  # the same table, after a figure with the baseline drawn as a line
    assert (
        "<th>baselines</th>" in page
        and "<td>chance 0.1</td>" in page
        and page.index("<figure><img") < page.index("<table")
    )


def test_unreadable_record_is_skipped_with_warning(suite_file, tmp_path, capsys):
    suite = load_suite(str(suite_file), str(tmp_path / "runs"))
    row = "speech/dtmf n_mfcc=13"
    fake_records(suite, {(row, "lstm none"): [0.8, 0.9]})
    broken = record_paths(suite.cells[0].cfg)[0]
    for text in ('{"status": "ok", "metr', '{"status": "ok"}', '{"status": 3, "metrics": {}}', "[1]"):
        broken.write_text(text)  # truncated, an ok record without metrics, a bad status, not an object
        groups = {(g.row, g.col): g for g in table.collect(suite)}
        assert groups[(row, "lstm none")].stat("acc")[2] == 1
        assert f"warning: skipping unreadable record {broken}" in capsys.readouterr().err


def test_table_without_runs_says_how_to_make_them(suite_file, tmp_path, capsys):
    assert main(["table", str(suite_file), "--out", str(tmp_path / "empty")]) == 2
    assert "has no runs in" in capsys.readouterr().err


def test_resume_skips_finished_and_reruns_failed_only_when_asked(suite_file, tmp_path):
    suite = load_suite(str(suite_file), str(tmp_path / "runs"))
    row = "speech/dtmf n_mfcc=13"
    fake_records(
        suite,
        {(row, "lstm none"): [0.8, 0.9], (row, "rnn none"): "diverged", (row, "lstm norm:1.0"): "failed"},
    )
    assert len(pending_cells(suite)) == 16 - 6
    assert len(pending_cells(suite, retry_failed=True)) == 16 - 4


def test_gpu_slots_round_robin():
    assert device_slots(4, 2) == ["0", "1", "0", "1"]
    assert device_slots(3, 8) == ["0", "1", "2"]
    assert device_slots(2, 0) == [None, None]


def test_board_writes_offline_wandb_table(suite_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    suite = load_suite(str(suite_file), str(tmp_path / "runs"))
    row = "speech/dtmf n_mfcc=20"
    fake_records(suite, {(row, "lstm none"): [0.85, 0.86], (row, "rnn none"): [0.3, 0.31]})
    assert main(["board", str(suite_file), "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "upload with: wandb sync " in out
    tables = list(
        (tmp_path / "runs" / "wandb").glob("offline-run-*/files/media/table/leaderboard_*.table.json")
    )
    assert len(tables) == 1
    data = json.loads(tables[0].read_text())
    assert data["columns"][:4] == ["row", "model", "clip", "metric"]
    media = tables[0].parents[1]  # the report's figures beside the tables: one per task (no reach recorded)
    assert [p.name.split("_")[0] for p in (media / "images" / "figures").glob("*.png")] == ["speech"]
    assert sorted((r[1], round(r[4], 3), r[7]) for r in data["data"]) == [
        ("lstm", 0.855, True),
        ("rnn", 0.305, False),
    ]


def test_reproduce_reruns_and_fails_on_a_changed_reference(tmp_path, capsys):
    path = tmp_path / "one.yaml"
    path.write_text(
        "models: [gru]\ncommon: {threads: 1}\n"
        "tasks: {speech: {datasets: [dtmf], max_epochs: 1, train_limit: 64, hidden_size: 8}}\n"
    )
    assert main(["sweep", str(path), "--out", str(tmp_path / "a")]) == 0
    ref = tmp_path / "ref.csv"
    assert (
        main(["table", str(path), "--out", str(tmp_path / "a"), "--format", "csv", "--output", str(ref)]) == 0
    )
    assert main(["reproduce", str(path), "--reference", str(ref), "--out", str(tmp_path / "b")]) == 0
    assert "match" in capsys.readouterr().out
    lines = ref.read_text().splitlines()
    acc = next(i for i, line in enumerate(lines) if ",acc," in line)
    parts = lines[acc].split(",")
    parts[4] = str(float(parts[4]) + 0.1)
    lines[acc] = ",".join(parts)
    ref.write_text("\n".join(lines) + "\n")
    assert main(["reproduce", str(path), "--reference", str(ref), "--out", str(tmp_path / "b")]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_stat_keeps_infinite_reach_and_drops_nan():
    g = table.Group(
        "r", "rnn none", "loss", False, values={"grad/reach": [-13.0, float("-inf"), float("nan")]}
    )
    mean, std, n = g.stat("grad/reach")
    assert mean == float("-inf") and std != std and n == 2
    # words, never "-inf ± nan": the underflowed reach, and the saturated run shown beside it, not hidden
    assert str(table.show(g, "grad/reach", Style())) == "underflow (n=2) [1 undefined]"
    g.values["grad/reach"] = [float("nan")] * 2
    assert str(table.show(g, "grad/reach", Style())) == "undefined (n=2)"
    assert str(table.show(g, "loss", Style())) == "–"


def test_per_model_overrides_tune_each_cell(tmp_path):
    path = tmp_path / "tuned.yaml"
    path.write_text(SUITE + "overrides:\n  speech:\n    rnn: {lr: 0.01, hidden_size: 16}\n")
    suite = load_suite(str(path), str(tmp_path / "runs"))
    lrs = {(c.cfg.model, c.cfg.lr, c.cfg.hidden_size) for c in suite.cells}
    assert lrs == {("lstm", 2e-3, 8), ("rnn", 0.01, 16)}  # the rnn cells only; the table's columns unchanged
    assert suite.cols() == ["lstm none", "lstm norm:1.0", "rnn none", "rnn norm:1.0"]
    for bad, message in (
        ("overrides:\n  lm: {gru: {lr: 0.1}}\n", "overrides for task 'lm', which the suite does not run"),
        ("overrides:\n  speech: {gru: {lr: 0.1}}\n", "must map each of its models (lstm, rnn)"),
        ("overrides:\n  speech: {rnn: 3}\n", "got 'rnn': 3"),
    ):
        path.write_text(SUITE + bad)
        with pytest.raises(BenchError, match=re.escape(message)):
            load_suite(str(path))


def test_an_entry_sets_its_own_per_model_overrides_for_its_rows(tmp_path):
    """Two rows of one task at different parameter budgets: each entry gives each model its own hidden size,
    on top of the task's per-model overrides."""
    path = tmp_path / "budgets.yaml"
    path.write_text(
        "models: [lstm, gru]\n"
        "tasks:\n"
        "  probes:\n"
        "    - {label: big, datasets: [adding], overrides: {lstm: {hidden_size: 75}, gru: {hidden_size: 87}}}\n"
        "    - {label: small, datasets: [copy], overrides: {lstm: {hidden_size: 34}}}\n"
        "overrides: {probes: {gru: {lr: 0.002, hidden_size: 9}}}\n"
    )
    got = {
        (c.row, c.cfg.model): (c.cfg.hidden_size, c.cfg.lr)
        for c in load_suite(str(path), str(tmp_path)).cells
    }
    assert got[("probes/adding big", "lstm")][0] == 75 and got[("probes/adding big", "gru")] == (87, 0.002)
    assert got[("probes/copy small", "lstm")][0] == 34 and got[("probes/copy small", "gru")] == (9, 0.002)
    path.write_text(
        "models: [lstm]\ntasks:\n  probes: {datasets: [adding], overrides: {gru: {hidden_size: 8}}}\n"
    )
    with pytest.raises(BenchError, match=r"an entry's 'overrides' must map its models \(lstm\)"):
        load_suite(str(path), str(tmp_path))
