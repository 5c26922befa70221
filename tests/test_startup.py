"""Commands that train nothing import no training stack: `--help`, `tasks`, `models`, `table`, `board --help`
and `doctor` load neither Lightning nor torchmetrics (seconds of start-up each), yet print what they did; the
first four, and `run --help`, not even torch, numpy or scipy (the registries' metadata is torch-free).

run: pytest tests/test_startup.py
"""

import json
import subprocess
import sys

from bench.suites import load_suite
from tests.conftest import ROOT, write_record

# Runs the CLI in one fresh interpreter, command after command, and reports after each which of the training
# stack's packages had been imported by then (the checkout's code: the subprocess starts in ROOT).
PROBE = """
import contextlib, io, json, sys
from bench.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's --help
            code = e.code
    heavy = [m for m in ("pytorch_lightning", "lightning", "torchmetrics", "torch", "numpy", "scipy") if m in sys.modules]
    out.append({"argv": argv, "code": code, "heavy": heavy, "stdout": buf.getvalue()})
print(json.dumps(out))
"""


def test_commands_that_train_nothing_import_neither_lightning_nor_torchmetrics(tmp_path, monkeypatch):
    suite = tmp_path / "one.yaml"
    suite.write_text("models: [gru]\nseeds: [0]\ntasks:\n  probes: {datasets: [adding]}\n")
    out = tmp_path / "records"
    write_record(
        load_suite(str(suite), str(out)).cells[0].cfg, metrics={"test/loss": 0.125, "val/loss": 0.13}
    )
    commands = [  # in this order: the first five must import no torch, numpy or scipy, so they run first
        ["--help"],
        ["run", "--help"],
        ["tasks"],
        ["models"],
        ["table", str(suite), "--out", str(out), "--format", "csv"],
        ["board", "--help"],
        ["doctor"],
    ]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    for i, r in enumerate(results):
        allowed = () if i < 5 else ("torch", "numpy", "scipy")
        heavy = [m for m in r["heavy"] if m not in allowed]
        assert heavy == [], f"`bench {' '.join(r['argv'])}` imported {heavy}"
    by_name = {r["argv"][0]: r for r in results}
    assert by_name["tasks"]["code"] == 0 and "forecast" in by_name["tasks"]["stdout"]
    assert by_name["models"]["code"] == 0 and "minlstm" in by_name["models"]["stdout"]
    table = by_name["table"]
    assert table["code"] == 0 and "probes/adding,gru,none,loss,0.125" in table["stdout"], table["stdout"]
