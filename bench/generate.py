"""Sample text from a finished language-model run, given its record (.json) or its checkpoint (.ckpt).

run: python -m bench generate runs/lm-tiny-shakespeare-lstm-<hash>.json --prompt "ROMEO:" --length 300
"""

import hashlib
import io
import json
import math
from pathlib import Path

import torch

from bench import tasks
from bench.base.errors import BenchError
from bench.config import config_hash, from_saved
from bench.module import SeqModule
from bench.records import Record, Status
from bench.tasks.lm_sample import sample


def checkpoint_path(run: str) -> tuple[Path, str | None, str | None]:
    """The checkpoint of `run`, the config hash it must have and its sha256: the path itself (nothing to check),
    or the "checkpoint", "hash" and "checkpoint_sha256" keys of a record (a record older than the digest has
    none)."""
    path = Path(run).expanduser()
    if not path.is_file():
        raise BenchError(f"run '{run}' not found; pass a record (.json) or a checkpoint (.ckpt)")
    if path.suffix != ".json":
        return path, None, None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BenchError(f"record '{path}' is not valid JSON ({e})") from None
    try:
        record = Record.from_json(data)
    except (ValueError, TypeError):
        raise BenchError(f"'{path}' is not a run record (a JSON object written by bench run)") from None
    if not record.checkpoint:
        why = f" (status {record.status}: {record.reason})" if record.status != Status.OK else ""
        raise BenchError(f"record '{path}' names no checkpoint{why}")
    ckpt = Path(record.checkpoint)
    if not ckpt.is_file():  # a relative path from another working directory: look beside the record
        ckpt = path.with_suffix("") / ckpt.name
    if not ckpt.is_file():
        raise BenchError(f"checkpoint '{record.checkpoint}' of record '{path}' not found")
    return ckpt, record.hash, record.checkpoint_sha256


def load_run(run: str):
    """(module in eval mode on the CPU, task, info) rebuilt from a run's checkpoint."""
    path, expected, digest = checkpoint_path(run)
    data = path.read_bytes()
    if digest and hashlib.sha256(data).hexdigest() != digest:
        raise BenchError(
            f"checkpoint '{path}' does not match the sha256 its record holds: it was changed or damaged after "
            "the run; rerun the record's config"
        )
    try:
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle and zip errors come in many types
        # torch's message advises weights_only=False, which a user must not follow: it is not passed on
        raise BenchError(
            f"cannot read checkpoint '{path}' ({type(e).__name__}): it is damaged or not a checkpoint; "
            "seqbench loads weights only, never arbitrary pickled objects"
        ) from None
    saved = ckpt.get("bench") if isinstance(ckpt, dict) else None
    if not (isinstance(saved, dict) and isinstance(saved.get("config"), dict) and "state_dict" in ckpt):
        raise BenchError(
            f"checkpoint '{path}' holds no run config and vocabulary; was it written by bench run?"
        )
    try:
        cfg = from_saved(saved["config"])
        found = config_hash(saved["config"])
    except (TypeError, ValueError, BenchError) as e:
        raise BenchError(f"checkpoint '{path}' holds a config this version cannot read ({e})") from None
    if expected is not None and found != expected:
        raise BenchError(
            f"checkpoint '{path}' belongs to config {found}, not to the record's {expected}; "
            "it was replaced by another run: rerun the record's config"
        )
    task = tasks.get(cfg.task)
    if not hasattr(task, "encode"):
        raise BenchError(f"'{path}' is a '{cfg.task}' run; generate needs a language-model run (task lm)")
    try:
        module = SeqModule(cfg, task, saved.get("info"))
        module.load_state_dict(ckpt["state_dict"])  # the encoder regroups its fused weights itself
    except Exception as e:  # a checkpoint of another model or version: shapes and keys do not match
        raise BenchError(
            f"checkpoint '{path}' does not fit its own config ({type(e).__name__}: {e})"
        ) from None
    return module.eval(), task, saved["info"]


MAX_LENGTH = 100_000  # tokens sampled (one step each: about a minute on a CPU) or characters of prompt


def generate(
    run: str, prompt: str = "", length: int = 300, temperature: float = 0.8, seed: int | None = None
) -> str:
    """The continuation (without the prompt) of `prompt` by the run's model."""
    if not 1 <= length <= MAX_LENGTH:
        raise BenchError(f"'length' must be in [1, {MAX_LENGTH:,}] tokens, got {length}")
    if len(prompt) > MAX_LENGTH:
        raise BenchError(f"the prompt is {len(prompt):,} characters; at most {MAX_LENGTH:,}")
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise BenchError(
            f"'temperature' must be a finite number >= 0, got {temperature} (0 samples greedily)"
        )
    if seed is not None and not 0 <= seed < 2**63:
        raise BenchError(f"'seed' must be in [0, 2**63), got {seed}")
    module, task, info = load_run(run)
    ids = task.encode(prompt, info)
    return task.decode(sample(module, ids, length, temperature, seed), info)


def cmd_generate(args, extras) -> int:
    print(args.prompt + generate(args.run, args.prompt, args.length, args.temperature, args.seed))
    return 0
