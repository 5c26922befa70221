"""One import namespace and open doors: a user's files never shadow seqbench; models and tasks from the user's
own package (entry points, or package.module:attr) are treated like built-ins; the wheel carries its configs."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import models, tasks
from bench.base.errors import BenchError
from bench.base.registry import Registry
from bench.config import config_hash, resolve
from tests.conftest import ROOT

PLUGIN = ROOT / "examples" / "plugin"


def bench(*args, cwd, pythonpath=(), check=True, checkout=True) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in `cwd`, with `pythonpath` first and then this checkout (so the code under test
    is this one, not whatever an installed seqbench points to), or without the checkout (a wheel's test)."""
    paths = [*pythonpath, ROOT] if checkout else list(pythonpath)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths))}
    res = subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert not check or res.returncode == 0, res.stderr[-2000:]
    return res


def pip_target(source: Path, target: Path) -> None:
    """Install a project into a folder, as pip installs it (its metadata and entry points included), from
    local files only."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*cmd, "--target", str(target), str(source)], check=True, capture_output=True)


def copy_project(files: list[str], source: Path, dest: Path) -> Path:
    """The project's files in a fresh folder: building in place would leave build/ in the checkout."""
    dest.mkdir(parents=True)
    for name in files:
        copy = shutil.copytree if (source / name).is_dir() else shutil.copy2
        copy(source / name, dest / name)
    return dest


def test_files_named_like_seqbench_parts_in_the_working_folder_change_nothing(tmp_path):
    """`python -m` puts the working folder first on sys.path: a user's models.py, tasks/, data.py, ... there."""
    expected = [bench(cmd, cwd=ROOT.parent).stdout for cmd in ("models", "tasks")]
    for name in ("models.py", "data.py", "utils.py", "config.py", "base.py"):
        (tmp_path / name).write_text("raise SystemExit('the user file was imported')\n")
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "__init__.py").write_text("raise SystemExit('the user package was imported')\n")
    got = [bench(cmd, cwd=tmp_path, pythonpath=[tmp_path]).stdout for cmd in ("models", "tasks")]
    assert got == expected and "gru" in got[0] and "speech" in got[1]


def test_the_registry_rejects_duplicates_and_names_unknowns():
    reg = Registry("model")
    reg.register("a", object())
    with pytest.raises(BenchError, match="model 'a' is registered twice"):
        reg.register("a", object())
    with pytest.raises(BenchError, match="unknown model 'b'; valid: a"):
        reg.get("b")
    with pytest.raises(
        BenchError, match="model 'no_such_pkg.mod:x' could not be loaded .ModuleNotFoundError"
    ):
        reg.get("no_such_pkg.mod:x")


def test_a_plugin_that_fails_to_import_is_one_line_and_the_built_ins_still_work(tmp_path):
    """A real distribution's metadata: an entry point whose module raises on import."""
    dist = tmp_path / "broken_cell-0.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-cell\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text("[seqbench.models]\nbroken = broken_cell:SPEC\n")
    (tmp_path / "broken_cell.py").write_text("raise ImportError('needs a compiler we do not have')\n")
    res = bench("models", cwd=tmp_path, pythonpath=[tmp_path])
    (warning,) = res.stderr.strip().splitlines()
    assert warning.startswith(
        "warning: model plugin 'broken' (broken_cell:SPEC, from broken-cell 0.3) did not load"
    )
    assert "needs a compiler we do not have" in warning
    assert [line.split()[0] for line in res.stdout.splitlines()] == models.names()


def test_a_plugin_version_is_part_of_the_run_hash():
    cfg = resolve({"dataset": "dtmf"})
    assert cfg.plugins == {}  # built-ins: every earlier hash is unchanged
    before = config_hash(cfg)
    cfg.plugins = {"model": "seqbench-peephole 0.1.0"}
    first = config_hash(cfg)
    cfg.plugins = {"model": "seqbench-peephole 0.2.0"}
    assert len({before, first, config_hash(cfg)}) == 3


def test_models_and_tasks_are_asked_not_named():
    """Every registered model declares its spec; tests and harness read the registry."""
    for name in models.names():
        spec = models.spec(name)
        assert spec.description and set(spec.options) <= set(models.ENCODER_OPTIONS)
        encoder = models.build(name, 3, 4)
        assert isinstance(encoder, models.Encoder) and encoder.output_size == 4
    assert all(tasks.get(name).name == name for name in tasks.names())


@pytest.mark.slow
def test_the_example_plugin_trains_through_run_sweep_and_table(tmp_path):
    """examples/plugin installed as pip installs it: its model and task everywhere a built-in goes."""
    site = tmp_path / "site"
    pip_target(copy_project(["pyproject.toml", "seqbench_peephole.py"], PLUGIN, tmp_path / "src"), site)
    listed = bench("models", cwd=tmp_path, pythonpath=[site]).stdout
    assert (
        re.search(r"^peephole +LSTM with peephole connections", listed, re.M)
        and "from seqbench-peephole 0.1.0" in listed
    )
    assert "from seqbench-peephole 0.1.0" in bench("tasks", cwd=tmp_path, pythonpath=[site]).stdout

    args = ["--task", "majority", "--model", "peephole", "--hidden-size", "8", "--max-epochs", "2"]
    res = bench("run", *args, "--precision", "bf16-mixed", "--out", "runs", cwd=tmp_path, pythonpath=[site])
    record = json.loads((tmp_path / res.stdout.splitlines()[-1].removeprefix("record: ")).read_text())
    assert record["status"] == "ok" and record["env"]["precision"] == "bf16-mixed"
    assert record["config"]["plugins"] == {
        "task": "seqbench-peephole 0.1.0",
        "model": "seqbench-peephole 0.1.0",
    }
    grads = record["grad_summary"]
    assert grads["grad/ih_norm_median"] > 0 and grads["grad/hh_norm_median"] > 0 and "grad/reach" in grads

    suite = tmp_path / "plugin.yaml"
    suite.write_text(
        "models: [peephole, gru, 'seqbench_peephole:PEEPHOLE']\nclips: [none]\nseeds: [0]\n"
        "common: {threads: 1, max_epochs: 2, hidden_size: 8}\ntasks:\n  majority: {datasets: [bits]}\n"
    )
    bench("sweep", str(suite), "--out", "sweep", "--jobs", "2", cwd=tmp_path, pythonpath=[site])
    table = bench("table", str(suite), "--out", "sweep", "--format", "csv", cwd=tmp_path, pythonpath=[site])
    rows = {tuple(line.split(",")[:4]) for line in table.stdout.splitlines()[1:]}
    for model in ("peephole", "gru", "seqbench_peephole:PEEPHOLE"):
        assert ("majority/bits", model, "none", "acc") in rows


@pytest.mark.slow
def test_a_built_wheel_carries_its_configs_and_suites(tmp_path):
    """Installed from its wheel, away from the checkout: task defaults and suites are found in the package."""
    src = copy_project(["pyproject.toml", "README.md", "bench"], ROOT, tmp_path / "src")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("seqbench-*.whl")
    pip_target(wheel, tmp_path / "site")
    site = tmp_path / "site"
    probe = (
        "import bench.config as c; cfg = c.resolve({'task': 'forecast', 'dataset': 'synthetic'}); "
        "print(c.__file__, (c.CONFIG_DIR / 'suites' / 'ci.yaml').is_file(), cfg.lr, cfg.patience)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    # the code is the wheel's, and bench/configs/forecast.yaml (lr 0.001, patience 6) was read from it
    assert found.stdout.split() == [str(site / "bench" / "config.py"), "True", "0.001", "6"], found.stderr
    assert "speech" in bench("tasks", cwd=tmp_path, pythonpath=[site], checkout=False).stdout
    args = ["--dataset", "dtmf", "--hidden-size", "8", "--max-epochs", "1", "--out", "runs"]
    res = bench("run", *args, cwd=tmp_path, pythonpath=[site], checkout=False)
    record = json.loads((tmp_path / res.stdout.splitlines()[-1].removeprefix("record: ")).read_text())
    assert record["status"] == "ok" and record["config"]["patience"] == 8  # speech.yaml's
