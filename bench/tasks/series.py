"""Time series for the forecast task: ETT files, any CSV, an offline generated series; splits, scaling, windows.

ETT files are read from BENCH_DATA/ett/<NAME>.csv or downloaded into the cache and verified. Only ETTh1's
sha256 is known to this project (../shared/data/README.md); ETTh2, ETTm1 and ETTm2 are verified by their
exact header and row count instead, which catches truncated or wrong files but not edited values.

run: BENCH_DATA=../shared/data python -c "from bench.tasks import series as s; print(s.read_csv(s.ett_path('etth1')).values.shape)"
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bench.base.errors import BenchError
from bench.base.sources import Source, fetch

if TYPE_CHECKING:
    import numpy as np
    import torch

ETT_URL = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/{stem}.csv"
ETT_COLUMNS = ["date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


def ett(name: str, stem: str, rows: int, per_hour: int, sha256: str | None, description: str) -> Source:
    """One ETT file: verified by its sha256 where known, and always by its header and row count."""
    check = functools.partial(_check_ett_file, name)
    meta = {"stem": stem, "rows": rows, "per_hour": per_hour}
    url = ETT_URL.format(stem=stem)
    return Source(name, f"ett/{stem}.csv", description, url, sha256, check=check, meta=meta)


MISSING = {"", "na", "nan", "null", "none"}


@dataclass
class Series:
    """A table of numeric columns over time, as read from one file."""

    values: np.ndarray  # [T, C] float64; NaN where a cell is missing
    columns: list[str]  # the C numeric column names
    dates: list[str] | None  # T date strings, when the file has a date column
    source: str  # the file (or generator) it came from
    text_columns: tuple[str, ...] = ()  # columns left out because most of their cells are not numbers


def ett_path(name: str) -> Path:
    """The ETT file, from BENCH_DATA or the cache; downloaded and verified when missing."""
    return fetch(ETT[name])


def _check_ett_file(name: str, path: Path) -> None:
    check_ett(read_csv(path), name)


def check_ett(series: Series, name: str) -> None:
    """An ETT file has the standard header and row count (sha256 is checked on download where known)."""
    stem, rows = ETT[name].meta["stem"], ETT[name].meta["rows"]
    if series.columns != ETT_COLUMNS[1:] or series.dates is None or len(series.values) != rows:
        raise BenchError(
            f"{series.source} does not look like {stem}.csv: expected columns {','.join(ETT_COLUMNS)} and "
            f"{rows} rows, got {','.join(['date'] * (series.dates is not None) + series.columns)} and "
            f"{len(series.values)} rows"
        )


# Row counts as published with the files (Informer, Time-Series-Library's dataset table); the hourly files span
# 17,420 hours, the 15-minute ones four times that.
ETT = {
    s.name: s
    for s in (
        ett(
            "etth1",
            "ETTh1",
            17420,
            1,
            "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
            "ETTh1, hourly transformer loads and oil temperature OT, 17,420 rows (BENCH_DATA/ett)",
        ),
        ett("etth2", "ETTh2", 17420, 1, None, "ETTh2, hourly, second station, 17,420 rows"),
        ett("ettm1", "ETTm1", 69680, 4, None, "ETTm1, 15-minute, 69,680 rows"),
        ett("ettm2", "ETTm2", 69680, 4, None, "ETTm2, 15-minute, second station, 69,680 rows"),
    )
}


def _parse_column(cells: list[str], name: str, path) -> np.ndarray | None:
    """Floats of one column (NaN for missing cells); None for a text column (most cells are not numbers)."""
    import numpy as np

    cleaned = ["nan" if c.strip().lower() in MISSING else c for c in cells]
    try:
        return np.asarray(cleaned, dtype=np.float64)
    except ValueError:
        pass
    bad = []
    for i, c in enumerate(cleaned):
        try:
            float(c)
        except ValueError:
            bad.append(i)
    if len(bad) * 2 > len(cells):
        return None
    i = bad[0]
    raise BenchError(
        f"non-numeric value {cells[i]!r} in {path} at row {i + 1} (line {i + 2}), column '{name}'"
        f" ({len(bad)} of {len(cells)} cells in that column are not numbers)"
    )


def read_csv(path, date_column: str = "date") -> Series:
    """Numeric columns of a CSV with a header; text columns other than the date column are ignored."""
    import numpy as np

    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError(f"cannot read csv file {path}: {e}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise BenchError(f"csv file {path} is empty (no header line)")
    header, body = [h.strip() for h in rows[0]], [r for r in rows[1:] if r]
    if not body:
        raise BenchError(f"csv file {path} has a header but no data rows")
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise BenchError(
                f"{path} row {i + 1} (line {i + 2}) has {len(r)} fields; the header has {len(header)}"
            )
    cols = list(zip(*body, strict=True))
    dates, names, values, text = None, [], [], []
    for name, cells in zip(header, cols, strict=True):
        if name == date_column:
            dates = [c.strip() for c in cells]
            continue
        parsed = _parse_column(list(cells), name, path)
        if parsed is None:
            text.append(name)
        else:
            names.append(name)
            values.append(parsed)
    if not names:
        raise BenchError(f"csv file {path} has no numeric column; columns: {', '.join(header)}")
    return Series(np.stack(values, axis=1), names, dates, str(path), tuple(text))


def fill_missing(values: np.ndarray, columns: list[str], how: str, source: str) -> np.ndarray:
    """Refuse NaN/inf cells (say how many and where) unless asked to fill them: ffill or interpolate."""
    import numpy as np

    bad = ~np.isfinite(values)  # [T, C]
    if not bad.any():
        return values
    where = ", ".join(
        f"'{columns[c]}' {int(bad[:, c].sum())} (first at row {int(np.argmax(bad[:, c])) + 1})"
        for c in range(values.shape[1])
        if bad[:, c].any()
    )
    if how == "none":
        raise BenchError(
            f"{source} has {int(bad.sum())} missing or non-finite values: {where}; "
            "pass --fill ffill or --fill interpolate to fill them"
        )
    out = values.copy()
    t = np.arange(len(values))
    for c in range(values.shape[1]):
        ok = ~bad[:, c]
        if not ok.any():
            raise BenchError(f"column '{columns[c]}' of {source} has no finite value to fill from")
        if how == "interpolate":
            out[:, c] = np.interp(t, t[ok], values[ok, c])  # the edges hold the nearest finite value
        else:  # ffill: carry the last finite value forward; leading gaps take the first finite value
            last = np.maximum.accumulate(np.where(ok, t, -1))
            out[:, c] = values[np.where(last >= 0, last, np.argmax(ok)), c]
    return out


@functools.lru_cache(maxsize=2)  # the same series for every run and test of a process; callers copy slices
def synthetic(rows: int = 14400, seed: int = 0) -> Series:
    """Offline stand-in shaped like ETTh1: hourly, six loads and an OT column with daily and weekly cycles,
    slow drift and AR(1) noise; OT follows the loads with a lag of a few hours. Deterministic per seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]  # [T, 1]
    day, week = 2 * np.pi * t / 24, 2 * np.pi * t / 168
    noise = rng.normal(0, 1, (rows, 7))
    for i in range(1, rows):  # AR(1), phi = 0.8
        noise[i] += 0.8 * noise[i - 1]
    drift = np.cumsum(rng.normal(0, 0.02, (rows, 7)), axis=0)
    amp, phase = rng.uniform(1, 3, 7), rng.uniform(0, 2 * np.pi, 7)
    base = 3 * np.sin(day + phase) * amp / 2 + np.sin(week + phase) + drift + 0.3 * noise  # [T, 7]
    loads = base[:, :6] + rng.uniform(2, 8, 6)
    ot = 0.8 * np.roll(loads.mean(1), 3) + 2 * np.sin(2 * np.pi * t[:, 0] / (24 * 365)) + base[:, 6] + 20
    start = datetime(2016, 7, 1)
    dates = [(start + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(rows)]
    names = ["L1", "L2", "L3", "L4", "L5", "L6", "OT"]
    return Series(np.column_stack([loads, ot]), names, dates, f"synthetic(rows={rows}, seed={seed})")


def season(dataset: str, dates: list[str] | None) -> int:
    """The seasonal period: a day of steps for ETT (as declared), else inferred from the dates."""
    return 24 * ETT[dataset].meta["per_hour"] if dataset in ETT else infer_period(dates)


def infer_period(dates: list[str] | None) -> int:
    """Seasonal period from the sampling step: a day's worth of steps below a day, 7 for daily data, 12 for
    monthly; 1 (no season: seasonal naive = persistence) when there are no readable dates."""
    import numpy as np

    if not dates or len(dates) < 3:
        return 1
    try:
        stamps = [datetime.fromisoformat(d) for d in dates[:1000]]
    except ValueError:
        return 1
    step = float(np.median(np.diff([s.timestamp() for s in stamps])))
    if 0 < step < 86400 and 86400 % step == 0:
        return int(86400 // step)
    if step == 86400:
        return 7
    if 28 * 86400 <= step <= 31 * 86400:
        return 12
    return 1


def split_rows(dataset: str, n: int) -> tuple[int, int, int]:
    """End rows of train, val and test. ETT (and the offline series): 12 / 4 / 4 months of 30 days, as in
    Informer; any other series: the same 60 / 20 / 20 proportions of its rows, in time order."""
    per_hour = ETT[dataset].meta["per_hour"] if dataset in ETT else 1 if dataset == "synthetic" else 0
    if per_hour:
        month = 30 * 24 * per_hour
        return 12 * month, 16 * month, min(20 * month, n)
    return int(n * 0.6), int(n * 0.8), n


def scale(values: np.ndarray, train_end: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Standard scaler fit on the training rows only: (scaled [T, C] float32, mean [C], std [C])."""
    import numpy as np
    import torch

    mean = values[:train_end].mean(0)
    std = values[:train_end].std(0)  # population std, as sklearn's StandardScaler
    std = np.where(std > 0, std, 1.0)  # a constant column stays centred instead of dividing by zero
    return torch.from_numpy((values - mean) / std).float(), mean, std


def window_split(
    series_in: torch.Tensor, series_out: torch.Tensor, start: int, end: int, input_len: int, horizon: int
) -> dict[str, torch.Tensor]:
    """Every window whose forecast lies in rows [start, end); its input may reach back `input_len` rows before
    `start` (never before row 0). x and y are strided views of the series: no copy until a batch is indexed.
    """
    import torch

    lo = max(start - input_len, 0)
    seg_in, seg_out = series_in[lo:end], series_out[lo:end]  # [S, F], [S, F_out]
    n = len(seg_in) - input_len - horizon + 1
    if n < 1:
        return {}
    x = seg_in[: len(seg_in) - horizon].unfold(0, input_len, 1).transpose(1, 2)  # [N, L, F]
    y = seg_out[input_len:].unfold(0, horizon, 1).transpose(1, 2)  # [N, H, F_out]
    return {"x": x, "y": y, "start": torch.arange(lo, lo + n)}  # start: the first input row of each window


def seasonal_scale(train_out: torch.Tensor, period: int) -> torch.Tensor:
    """MASE denominator per output column: the in-sample MAE of the one-step seasonal-naive forecast
    (y_t predicted by y_{t-m}) over the training rows, in scaled units (Hyndman & Koehler 2006)."""
    diffs = (train_out[period:] - train_out[:-period]).abs()  # [T_train - m, F_out]
    return diffs.mean(0)


def naive_forecasts(hist: torch.Tensor, horizon: int, period: int) -> dict[str, torch.Tensor]:
    """Baselines from each window's own history hist [N, L, F_out]: last-value persistence, and seasonal naive
    (step h repeats the value one season earlier, y_{T+h-m*ceil(h/m)}, which needs L >= m)."""
    import torch

    length = hist.shape[1]
    steps = torch.arange(horizon)
    return {
        "persistence": hist[:, -1:].expand(-1, horizon, -1),  # [N, H, F_out]
        "seasonal_naive": hist[:, length - period + steps % period],  # [N, H, F_out]
    }


def too_short(split: str, source: str, start: int, end: int, input_len: int, horizon: int) -> BenchError:
    """The error for a split that holds no complete window."""
    back = start - max(start - input_len, 0)
    return BenchError(
        f"series too short: the {split} split of {source} has {end - start} rows"
        + (f" (+ {back} rows of look-back)" if back else "")
        + f", fewer than input_len + horizon = {input_len + horizon}; use a smaller --input-len or --horizon"
    )
