"""Time-series forecasting on the ETT benchmark protocol (Informer): L input steps -> all H future steps at once.

run: BENCH_DATA=../shared/data python -m bench run --task forecast --model lstm --input-len 96 --horizon 24 --mode S
"""

from dataclasses import dataclass
from pathlib import Path

from bench.base.errors import BenchError
from bench.base.options import option
from bench.base.sources import fetch, split_scheme
from bench.tasks import Layers, Task, register
from bench.tasks import series as ts

MODES = {"S": "target only in and out", "M": "all columns in and out", "MS": "all columns in, target out"}
FILLS = ("none", "ffill", "interpolate")
NORMS = ("last", "none")


@register
class ForecastTask(Task):
    name = "forecast"
    description = (
        "multi-horizon time-series forecasting (ETT protocol: 12/4/4-month split, train-only scaler)"
    )
    datasets = {
        **ts.ETT,
        "synthetic": "offline: generated hourly series shaped like ETTh1 (6 loads + OT), 14,400 rows",
        "csv:PATH": "any CSV with a header, a numeric --target column and an optional --date-column",
    }
    default_dataset = "etth1"
    offline_dataset = "synthetic"
    primary_metric = "mse"
    higher_is_better = False

    @dataclass
    class Options:
        input_len: int = option(96, "L: steps the encoder reads", positive=True)
        horizon: int = option(24, "H: steps forecast at once", positive=True)
        mode: str = option("S", "S: target -> target | M: all -> all | MS: all -> target", choices=MODES)
        target: str = option("OT", "the column forecast in S and MS (and plotted)")
        date_column: str = option("date", "a CSV column holding dates (optional; for the period and plots)")
        period: int = option(
            0, "season of seasonal naive and MASE; 0: from the data (24 hourly, 96 at 15 min)", least=0
        )
        fill: str = option("none", "missing values: none refuses them", choices=FILLS)
        norm: str = option(
            "last", "last: the model sees and predicts changes from the window's last value", choices=NORMS
        )

    def check_dataset(self, dataset: str) -> None:
        scheme, path = split_scheme(dataset)
        if scheme != "csv":
            return super().check_dataset(dataset)
        if not path:
            raise BenchError("dataset 'csv:' needs a file path, for example csv:data/my_series.csv")
        if not Path(path).is_file():
            raise BenchError(f"csv file '{path}' not found (dataset '{dataset}')")

    def check_options(self, cfg) -> None:
        o = cfg.options
        if o.period > o.input_len:
            raise BenchError(
                f"'period' {o.period} is longer than input_len {o.input_len}: seasonal naive needs one "
                "full season of history"
            )

    # -- data -------------------------------------------------------------------------------------------
    def read(self, cfg) -> ts.Series:
        """The raw series of cfg.dataset: verified ETT file, generated series, another declared CSV or the user's."""
        if cfg.dataset == "synthetic":
            return ts.synthetic()
        if cfg.dataset in ts.ETT:
            series = ts.read_csv(ts.ett_path(cfg.dataset))
            ts.check_ett(series, cfg.dataset)
            return series
        source = self.source(cfg.dataset)  # a declared CSV, or the user's csv:PATH
        return ts.read_csv(fetch(source) if source else split_scheme(cfg.dataset)[1], cfg.options.date_column)

    def load(self, cfg):
        o = cfg.options
        series = self.read(cfg)
        if o.target in series.text_columns:
            raise BenchError(
                f"target column '{o.target}' of {series.source} is not numeric (most cells are text)"
            )
        if o.target not in series.columns:
            raise BenchError(
                f"target column '{o.target}' not found in {series.source}; numeric columns: "
                f"{', '.join(series.columns)} (pass --target NAME)"
            )
        target = series.columns.index(o.target)
        in_cols = [target] if o.mode == "S" else list(range(len(series.columns)))
        out_cols = [target] if o.mode in ("S", "MS") else in_cols
        used = sorted(set(in_cols) | set(out_cols))
        names = [series.columns[c] for c in used]
        values = ts.fill_missing(series.values[:, used], names, o.fill, series.source)  # [T, C_used]
        ends = ts.split_rows(cfg.dataset, len(values))
        scaled, mean, std = ts.scale(values, ends[0])  # [T, C_used] float32 tensor
        pos = {c: i for i, c in enumerate(used)}
        x_all, y_all = scaled[:, [pos[c] for c in in_cols]], scaled[:, [pos[c] for c in out_cols]]
        period = o.period or ts.season(cfg.dataset, series.dates)
        if period > o.input_len:
            raise BenchError(
                f"the seasonal period of {series.source} is {period} steps, longer than input_len "
                f"{o.input_len}: seasonal naive needs one full season; raise --input-len or set --period"
            )
        splits, starts = {}, dict(zip(("train", "val", "test"), (0, *ends[:2]), strict=True))
        for (split, start), end in zip(starts.items(), ends, strict=True):
            splits[split] = ts.window_split(x_all, y_all, start, end, o.input_len, o.horizon)
            if not splits[split]:
                raise ts.too_short(split, series.source, start, end, o.input_len, o.horizon)
        out_names = [series.columns[c] for c in out_cols]
        mase_scale = ts.seasonal_scale(y_all[: ends[0]], period)  # [F_out]
        if (mase_scale == 0).any():
            flat = out_names[int((mase_scale == 0).nonzero()[0])]
            raise BenchError(f"column '{flat}' of {series.source} does not change over the training split")
        info = {
            "input_size": len(in_cols),
            "output_size": len(out_cols),
            "horizon": o.horizon,
            "period": period,
            "mase_scale": mase_scale,
            "in_columns": [series.columns[c] for c in in_cols],
            "out_columns": out_names,
            "hist_out": [in_cols.index(c) for c in out_cols],  # where each output column sits in x
            "target_out": out_names.index(o.target),
            "mean": [float(mean[pos[c]]) for c in out_cols],
            "std": [float(std[pos[c]]) for c in out_cols],
            "dates": series.dates,
            "source": series.source,
            "rows": {s: e - b for (s, b), e in zip(starts.items(), ends, strict=True)},
            "sizes": {s: len(d["y"]) for s, d in splits.items()},
        }
        return splits, info

    # -- model ------------------------------------------------------------------------------------------
    def build(self, cfg, info, make_encoder) -> Layers:
        from torch import nn

        from bench.tasks.heads import ForecastHead, LastValueNorm

        norm = LastValueNorm(info["hist_out"]) if cfg.options.norm == "last" else None
        encoder = make_encoder(self.input_size(cfg, info))
        size, horizon, out = encoder.output_size, info["horizon"], info["output_size"]
        head = ForecastHead(size, horizon, out, encoder.bidirectional, cfg.dropout)
        return Layers(norm or nn.Identity(), encoder, head, output=norm.restore if norm else None)

    def loss(self, pred, y):
        from torch.nn import functional as F

        return F.mse_loss(pred, y)

    def metrics(self, info):
        import torchmetrics

        from bench.tasks.metrics import MASE

        return torchmetrics.MetricCollection(
            {
                "mse": torchmetrics.MeanSquaredError(),
                "mae": torchmetrics.MeanAbsoluteError(),
                "mase": MASE(info["mase_scale"]),
            }
        )

    def baselines(self, datamodule, cfg) -> dict[str, dict[str, float]]:
        """Both naive forecasts on the very windows the model was scored on; validation too, so that settings
        can be compared with them without the test set."""
        baselines = {name: {} for name in ("persistence", "seasonal_naive")}
        for split in ("val", "test"):
            for name, values in evaluate_baselines(self, datamodule.splits[split], datamodule.info).items():
                baselines[name].update({f"{split}/{k}": v for k, v in values.items()})
        return baselines

    def extras(self, module, datamodule, cfg, run_dir) -> dict:
        """The forecast set-up, and a plot of a few test windows beside the seasonal naive forecast."""
        info, test = datamodule.info, datamodule.splits["test"]
        out = {
            "forecast": {
                "period": info["period"],
                "rows": info["rows"],
                "in_columns": info["in_columns"],
                "out_columns": info["out_columns"],
                "mase_denominator": info["mase_scale"].tolist(),
            },
        }
        out["plot"] = str(plot_windows(module, test, info, Path(run_dir) / "forecast.png"))
        return out


def evaluate_baselines(task: ForecastTask, windows: dict, info: dict, chunk: int = 2048) -> dict[str, dict]:
    """Metrics of persistence and seasonal naive on a split's windows, in the scaled space the model is scored in."""
    metrics = {name: task.metrics(info) for name in ("persistence", "seasonal_naive")}
    for i in range(0, len(windows["y"]), chunk):
        hist = windows["x"][i : i + chunk][..., info["hist_out"]]  # [n, L, F_out]
        for name, pred in ts.naive_forecasts(hist, info["horizon"], info["period"]).items():
            # torchmetrics flattens with .view: the window views and the expanded persistence need a copy
            metrics[name].update(pred.contiguous(), windows["y"][i : i + chunk].contiguous())  # [n, H, F_out]
    return {name: {k: v.item() for k, v in m.compute().items()} for name, m in metrics.items()}


def plot_windows(module, test: dict, info: dict, path: Path, n: int = 4) -> Path:
    """A PNG of n evenly spaced test windows of the target: history, truth, forecast, seasonal naive (original units)."""
    import torch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    idx = torch.linspace(0, len(test["y"]) - 1, n).long()
    was_training = module.training
    module.eval()
    with torch.no_grad():
        pred, _ = module(test["x"][idx].to(next(module.parameters()).device))  # [n, H, F_out]
    module.train(was_training)
    k = info["target_out"]
    j, mean, std = info["hist_out"][k], info["mean"][k], info["std"][k]
    length, horizon = test["x"].shape[1], info["horizon"]
    naive = ts.naive_forecasts(test["x"][idx][..., info["hist_out"]], horizon, info["period"])[
        "seasonal_naive"
    ]
    past, future = torch.arange(1 - length, 1), torch.arange(1, horizon + 1)
    fig = Figure(figsize=(10, 2.2 * n))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for row, (ax, i) in enumerate(zip(axes, idx.tolist(), strict=True)):
        ax.plot(past, test["x"][i, :, j] * std + mean, color="0.5", label="history")
        ax.plot(future, test["y"][i, :, k] * std + mean, color="k", label="truth")
        ax.plot(future, pred[row, :, k].float().cpu() * std + mean, color="C1", label=module.cfg.model)
        ax.plot(future, naive[row, :, k] * std + mean, color="C0", ls=":", label="seasonal naive")
        origin = int(test["start"][i]) + length  # the first forecast row
        when = info["dates"][origin] if info["dates"] else f"row {origin}"
        ax.set_title(f"test window {i}: {info['out_columns'][k]} from {when}", fontsize=9)
    axes[0].legend(loc="upper left", fontsize=8, ncol=4)
    axes[-1].set_xlabel("steps from the forecast origin")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path
