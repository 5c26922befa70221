"""Published figures beside the measured cells: a suite names each with its source and the protocol it was
measured under, and the table shows it only where that protocol matches the row's.

In a suite file:

    published:
      - row: probes/adding T=600          # a row of this suite
        model: lstm                       # a model of that row
        metric: loss                      # the row's primary metric: the same quantity, the same direction
        value: 0.164
        source: Bai, Kolter & Koltun 2018 (TCN), Table 1
        protocol: T = 600, MSE on 1,000 test sequences, about 70K parameters
      - {row: forecast/etth1, model: lstm, metric: mse, value: 1.0, source: ..., protocol: ...,
         differs: multivariate input and output, where this row forecasts one series}

An entry with `differs` is listed with its reason and without its number: a figure measured another way is not
a point of comparison.

run: python -m bench table literature   (the table 'published figures beside ours')
"""

from bench.base.errors import BenchError

KEYS = {"row", "model", "metric", "value", "source", "protocol", "differs"}
NEEDED = KEYS - {"differs"}


def check_spec(entries, rows: dict[str, tuple[set[str], str]], where: str) -> list[dict]:
    """The suite's published figures, validated against its rows: row -> (its models, its primary metric)."""
    if not isinstance(entries, list):
        raise BenchError(f"{where}: 'published' must be a list of mappings with {', '.join(sorted(NEEDED))}")
    for e in entries:
        if not isinstance(e, dict) or not NEEDED <= set(e) <= KEYS:
            raise BenchError(
                f"{where}: bad published figure {e!r}; each needs {', '.join(sorted(NEEDED))} (and may say "
                "where the protocol differs)"
            )
        if e["row"] not in rows:
            raise BenchError(f"{where}: published figure for row '{e['row']}'; rows: {', '.join(rows)}")
        models, metric = rows[e["row"]]
        if e["model"] not in models:
            raise BenchError(
                f"{where}: published figure for model '{e['model']}', which row '{e['row']}' does not run "
                f"({', '.join(sorted(models))})"
            )
        if e["metric"] != metric:
            raise BenchError(
                f"{where}: published figure in '{e['metric']}' for row '{e['row']}', whose metric is '{metric}'; "
                "a figure in another metric cannot stand beside it"
            )
        if not isinstance(e["value"], int | float) or isinstance(e["value"], bool):
            raise BenchError(f"{where}: published figure value {e['value']!r} must be a number")
        if not all(isinstance(e[k], str) and e[k].strip() for k in ("source", "protocol")):
            raise BenchError(f"{where}: published figure {e!r} needs a source and a protocol in words")
    return entries
