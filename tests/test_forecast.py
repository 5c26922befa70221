"""Forecast task: windows and splits, the train-only scaler, baselines and MASE by hand, CSV errors, ETT data."""

import dataclasses
import json
import re
from datetime import datetime, timedelta

import numpy as np
import pytest
import torch

from bench import tasks
from bench.base.errors import BenchError
from bench.cli import main
from bench.config import resolve
from bench.tasks import forecast
from bench.tasks import series as ts
from bench.tasks.metrics import MASE
from tests.conftest import usage_error

FC = tasks.get("forecast")


def write_csv(path, header: list[str], rows: list[list]) -> str:
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")
    return f"csv:{path}"


def hour(i: int) -> str:
    return str(datetime(2020, 1, 1) + timedelta(hours=i))


def ramp_csv(tmp_path, n=50, name="ramp.csv", change: dict | None = None) -> str:
    """date, a covariate and OT = row number (so a value names its row); `change` maps row -> OT value."""
    rows = [[hour(i), 2 * i, (change or {}).get(i, i)] for i in range(n)]
    return write_csv(tmp_path / name, ["date", "load", "OT"], rows)


def cfg_for(dataset: str, **options):
    return resolve({"task": "forecast", "dataset": dataset, **options})


# -- windows, splits, scaler -------------------------------------------------------------------------------
def test_windows_on_a_known_series_never_cross_into_a_later_split():
    s = torch.arange(40, dtype=torch.float32)[:, None]  # [T, 1], value = row
    ends, starts, length, horizon = (20, 30, 40), (0, 20, 30), 4, 3
    w = {
        split: ts.window_split(s, s, a, b, length, horizon)
        for split, a, b in zip(("train", "val", "test"), starts, ends, strict=True)
    }
    assert w["train"]["x"][0, :, 0].tolist() == [0, 1, 2, 3] and w["train"]["y"][0, :, 0].tolist() == [
        4,
        5,
        6,
    ]
    assert {k: len(v["y"]) for k, v in w.items()} == {"train": 14, "val": 8, "test": 8}
    assert w["train"]["y"].max() == 19  # the last training target is the last training row
    assert w["val"]["x"][0, :, 0].tolist() == [16, 17, 18, 19]  # inputs reach back L rows ...
    assert w["val"]["y"].min() == 20 and w["val"]["y"].max() == 29  # ... targets stay inside the split
    assert w["test"]["y"].min() == 30 and w["test"]["y"].max() == 39
    for v in w.values():  # every window is contiguous: x then y, and `start` is its first input row
        full = torch.cat([v["x"], v["y"]], dim=1)[:, :, 0]  # [N, L + H]
        assert torch.equal(full, v["start"][:, None] + torch.arange(7))
    assert ts.window_split(s, s, 30, 40, 4, 11) == {}  # 10 rows cannot hold a horizon of 11


def test_csv_split_and_scaler_fit_on_train_only(tmp_path):
    cfg = cfg_for(ramp_csv(tmp_path), input_len=4, horizon=2, period=2)
    splits, info = FC.load(cfg)
    assert info["rows"] == {"train": 30, "val": 10, "test": 10}  # 60 / 20 / 20 in time order
    train = np.arange(30.0)
    assert info["mean"] == [pytest.approx(train.mean())] and info["std"] == [pytest.approx(train.std())]
    raw = {k: v["y"] * info["std"][0] + info["mean"][0] for k, v in splits.items()}  # back to row numbers
    assert (
        raw["train"].max().round() == 29 and raw["val"].min().round() == 30 and raw["val"].max().round() == 39
    )
    # a wild test period changes neither the scaler nor the training windows
    wild = ramp_csv(tmp_path, name="wild.csv", change={i: 1e6 for i in range(40, 50)})
    splits2, info2 = FC.load(cfg_for(wild, input_len=4, horizon=2, period=2))
    assert (info2["mean"], info2["std"]) == (info["mean"], info["std"])
    torch.testing.assert_close(splits2["train"]["x"], splits["train"]["x"])


@pytest.mark.parametrize(("mode", "x_cols", "y_cols"), [("S", 1, 1), ("MS", 7, 1), ("M", 7, 7)])
@pytest.mark.parametrize("horizon", [24, 48, 96, 168, 336, 720])
def test_modes_and_horizons_on_the_offline_series(mode, x_cols, y_cols, horizon):
    splits, info = FC.load(cfg_for("synthetic", mode=mode, horizon=horizon))
    assert splits["train"]["x"].shape == (8640 - 96 - horizon + 1, 96, x_cols)
    assert splits["test"]["y"].shape == (2880 - horizon + 1, horizon, y_cols)
    assert info["out_columns"][info["target_out"]] == "OT" and info["period"] == 24


def test_offline_series_is_deterministic_and_ett_shaped():
    a, b = ts.synthetic(), ts.synthetic()
    assert np.array_equal(a.values, b.values) and a.values.shape == (14400, 7) and a.columns[-1] == "OT"
    assert ts.infer_period(a.dates) == 24 and np.isfinite(a.values).all()


# -- baselines and MASE by hand ----------------------------------------------------------------------------
def test_baselines_by_hand():
    hist = torch.tensor([1.0, 2.0, 3.0, 4.0])[None, :, None]  # [1, L=4, 1]
    f = ts.naive_forecasts(hist, horizon=3, period=2)
    assert f["persistence"][0, :, 0].tolist() == [4, 4, 4]
    assert f["seasonal_naive"][0, :, 0].tolist() == [3, 4, 3]  # one season back, repeated
    windows = {"x": hist, "y": torch.tensor([[[5.0], [4.0], [2.0]]])}
    info = {"hist_out": [0], "horizon": 3, "period": 2, "mase_scale": torch.tensor([2.0])}
    got = forecast.evaluate_baselines(FC, windows, info)
    # persistence errors 1, 0, -2; seasonal naive errors -2, 0, 1
    assert got["persistence"] == pytest.approx({"mse": 5 / 3, "mae": 1.0, "mase": 0.5})
    assert got["seasonal_naive"] == pytest.approx({"mse": 5 / 3, "mae": 1.0, "mase": 0.5})


def test_mase_by_hand():
    train = torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.0, 4.0], [3.0, 6.0]])  # [T, 2]
    scale = ts.seasonal_scale(train, period=2)  # |0-0|, |3-1| -> 1 ; |4-0|, |6-2| -> 4
    assert scale.tolist() == [1.0, 4.0]
    m = MASE(scale)
    m.update(torch.tensor([[[1.0, 4.0]]]), torch.zeros(1, 1, 2))  # errors 1/1 and 4/4
    m.update(torch.tensor([[[2.0, 0.0]]]), torch.zeros(1, 1, 2))  # errors 2/1 and 0/4
    assert m.compute().item() == pytest.approx((1 + 1 + 2 + 0) / 4)


def test_last_value_norm_makes_the_model_shift_equivariant():
    cfg = cfg_for("synthetic", mode="MS", hidden_size=8)
    from bench.module import SeqModule

    info = {"input_size": 7, "output_size": 1, "horizon": 5, "hist_out": [6], "mase_scale": torch.ones(1)}
    module = SeqModule(cfg, FC, info).eval()
    x = torch.randn(2, 10, 7)
    with torch.no_grad():
        a, b = module(x)[0], module(x + 3.0)[0]
    torch.testing.assert_close(b, a + 3.0)  # [B, H, 1]: a level shift moves the forecast with it


# -- bad input ---------------------------------------------------------------------------------------------
def load_error(tmp_path, header, rows, **options) -> str:
    with pytest.raises(BenchError) as e:
        FC.load(cfg_for(write_csv(tmp_path / "bad.csv", header, rows), **options))
    return str(e.value)


def test_missing_target_lists_columns(tmp_path):
    msg = load_error(tmp_path, ["date", "a", "b"], [["2020-01-01", 1, 2]] * 10)
    assert re.fullmatch(
        r"target column 'OT' not found in .*bad.csv; numeric columns: a, b \(pass --target NAME\)", msg
    )


def test_text_target_is_named(tmp_path):
    msg = load_error(tmp_path, ["a", "OT"], [[i, "high"] for i in range(10)])
    assert re.fullmatch(r"target column 'OT' of .*bad.csv is not numeric \(most cells are text\)", msg)


def test_non_numeric_value_names_row_and_column(tmp_path):
    rows = [[i, i] for i in range(10)]
    rows[6][1] = '"12,5"'  # quoted: one field with a decimal comma
    msg = load_error(tmp_path, ["a", "OT"], rows)
    assert re.fullmatch(
        r"non-numeric value '12,5' in .*bad.csv at row 7 \(line 8\), column 'OT' \(1 of 10 cells in that column are not numbers\)",
        msg,
    )


def test_nans_are_counted_and_located_and_filled_only_when_asked(tmp_path):
    rows = [[i, i] for i in range(100)]
    rows[4][1] = rows[9][1] = ""
    rows[20][1] = "NaN"
    msg = load_error(tmp_path, ["a", "OT"], rows, input_len=4, horizon=2, period=1)
    assert re.fullmatch(
        r".*bad.csv has 3 missing or non-finite values: 'OT' 3 \(first at row 5\); "
        r"pass --fill ffill or --fill interpolate to fill them",
        msg,
    )
    values = np.array([[np.nan], [1.0], [np.nan], [np.nan], [4.0], [np.nan]])
    assert ts.fill_missing(values, ["OT"], "ffill", "x")[:, 0].tolist() == [1, 1, 1, 1, 4, 4]
    assert ts.fill_missing(values, ["OT"], "interpolate", "x")[:, 0].tolist() == [1, 1, 2, 3, 4, 4]
    splits, _ = FC.load(
        cfg_for(f"csv:{tmp_path / 'bad.csv'}", input_len=4, horizon=2, period=1, fill="ffill")
    )
    assert all(torch.isfinite(s["x"]).all() for s in splits.values())


def test_constant_target_is_refused(tmp_path):
    msg = load_error(tmp_path, ["OT"], [[7] for i in range(50)], input_len=4, horizon=2, period=1)
    assert re.fullmatch(r"column 'OT' of .*bad.csv does not change over the training split", msg)


def test_series_too_short_for_a_split(tmp_path):
    msg = load_error(tmp_path, ["OT"], [[i] for i in range(50)], input_len=4, horizon=12, period=1)
    assert msg.startswith("series too short: the val split of ") and msg.endswith(
        "has 10 rows (+ 4 rows of look-back), fewer than input_len + horizon = 16; "
        "use a smaller --input-len or --horizon"
    )


def test_period_longer_than_input(tmp_path):
    msg = load_error(tmp_path, ["date", "OT"], [[hour(i), i] for i in range(50)], input_len=8)
    assert "seasonal period of" in msg and "is 24 steps, longer than input_len 8" in msg


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--horizon", "0"], "error: 'horizon' must be positive, got 0"),
        (["--input-len", "-5"], "error: 'input_len' must be positive, got -5"),
        (["--mode", "X"], "error: unknown mode 'X'; valid: S, M, MS"),
        (["--fill", "zero"], "error: unknown fill 'zero'; valid: none, ffill, interpolate"),
        (["--period", "200"], "error: 'period' 200 is longer than input_len 96"),
        (["--dataset", "csv:"], "error: dataset 'csv:' needs a file path"),
        (
            ["--dataset", "csv:/no/such.csv"],
            "error: csv file '/no/such.csv' not found (dataset 'csv:/no/such.csv')",
        ),
        (["--dataset", "ettx"], "error: unknown dataset for task 'forecast' 'ettx'; valid: csv:PATH, etth1"),
    ],
)
def test_bad_arguments_are_one_line(args, message, capsys):
    assert usage_error(["run", "--task", "forecast", *args], capsys).startswith(message)


def test_bad_csv_is_bad_input_one_line_and_no_record(tmp_path, capsys):
    ds = write_csv(tmp_path / "x.csv", ["a", "OT"], [[1, "oops"], [2, 3], [3, 4]])
    assert main(["run", "--task", "forecast", "--dataset", ds, "--out", str(tmp_path / "runs")]) == 2
    assert not list((tmp_path / "runs").glob("*.json"))
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith("error: non-numeric value 'oops' in ") and "row 1 (line 2), column 'OT'" in err[-1]
    )


# -- ETT files ---------------------------------------------------------------------------------------------
def test_etth1_from_shared_data_standard_split(shared_data):
    # the data roots are resolved: a shared folder reached through a link is found where it really is
    assert ts.ett_path("etth1") == (shared_data / "ett" / "ETTh1.csv").resolve()
    splits, info = FC.load(cfg_for("etth1"))
    assert info["rows"] == {"train": 8640, "val": 2880, "test": 2880}  # 12 / 4 / 4 months of 30 days
    assert info["sizes"] == {"train": 8521, "val": 2857, "test": 2857}  # windows at L=96, H=24
    assert splits["val"]["start"][0] == 8640 - 96 and splits["test"]["start"][-1] + 96 + 24 == 14400
    assert splits["train"]["start"][-1] + 96 + 24 == 8640  # the last training target is row 8639
    assert info["period"] == 24 and info["in_columns"] == ["OT"]
    ot = ts.read_csv(shared_data / "ett" / "ETTh1.csv").values[:, -1]
    assert info["mean"] == [pytest.approx(ot[:8640].mean())] and info["std"] == [
        pytest.approx(ot[:8640].std())
    ]
    torch.testing.assert_close(
        splits["test"]["y"][0, 0, 0].double(), torch.tensor((ot[11520] - ot[:8640].mean()) / ot[:8640].std())
    )


def test_ett_download_is_verified(tmp_path, monkeypatch, offline_cache):
    src = tmp_path / "src"
    src.mkdir()
    monkeypatch.setenv("BENCH_OFFLINE", "0")
    for name, source in ts.ETT.items():  # the declared sources, served from a local folder
        url = f"{src.as_uri()}/{source.meta['stem']}.csv"
        monkeypatch.setitem(ts.ETT, name, dataclasses.replace(source, url=url))
    rows = [[hour(i), *([1.5] * 7)] for i in range(17420)]
    write_csv(src / "ETTh2.csv", ts.ETT_COLUMNS, rows)
    assert ts.ett_path("etth2") == offline_cache / "ett" / "ETTh2.csv"
    write_csv(src / "ETTm2.csv", ts.ETT_COLUMNS, rows)  # an hourly file in place of the 15-minute one
    with pytest.raises(
        BenchError, match=r"the download of ettm2 is not the expected file .*expected .* 69680 rows"
    ):
        ts.ett_path("ettm2")
    write_csv(src / "ETTh1.csv", ts.ETT_COLUMNS, rows)  # right shape, wrong bytes
    with pytest.raises(BenchError, match=r"checksum mismatch for .*ETTh1.csv \(dataset 'etth1'\)"):
        ts.ett_path("etth1")


def test_ett_missing_offline_names_the_file(tmp_path):
    with pytest.raises(
        BenchError, match=r"dataset 'etth1' not found: looked for 'ett/ETTh1.csv' in .*BENCH_OFFLINE=1"
    ):
        FC.load(cfg_for("etth1"))


# -- a whole run -------------------------------------------------------------------------------------------
def test_run_records_baselines_and_plot(tmp_path, capsys):
    rows = [[hour(i), np.sin(i / 3.8) + 0.01 * i] for i in range(400)]
    ds = write_csv(tmp_path / "s.csv", ["date", "OT"], rows)
    args = ["--dataset", ds, "--input-len", "24", "--horizon", "6", "--max-epochs", "2", "--hidden-size", "8"]
    assert main(["run", "--task", "forecast", *args, "--out", str(tmp_path / "runs")]) == 0
    rec = json.loads(open(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("record: ")).read())
    assert rec["status"] == "ok" and rec["primary_metric"] == "mse" and rec["higher_is_better"] is False
    assert {"test/mse", "test/mae", "test/mase", "val/mse"} <= set(rec["metrics"])
    for name in ("persistence", "seasonal_naive"):
        assert {"test/mse", "test/mae", "test/mase", "val/mse"} <= set(rec["baselines"][name])
    assert rec["extras"]["forecast"]["period"] == 24 and rec["data"] == {"train": 211, "val": 75, "test": 75}
    with open(rec["extras"]["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
