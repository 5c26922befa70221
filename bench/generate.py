"""Sample text from a finished language-model run, given its record (.json) or its checkpoint (.ckpt).

run: python -m bench generate runs/lm-tiny-shakespeare-lstm-<hash>.json --prompt "ROMEO:" --length 300
"""

import dataclasses
import json
from pathlib import Path

import torch

from bench.config import RunConfig
from bench.errors import BenchError


def checkpoint_path(run: str) -> Path:
    """The checkpoint of `run`: the path itself, or the "checkpoint" key of a record."""
    path = Path(run).expanduser()
    if not path.is_file():
        raise BenchError(f"run '{run}' not found; pass a record (.json) or a checkpoint (.ckpt)")
    if path.suffix != ".json":
        return path
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BenchError(f"record '{path}' is not valid JSON ({e})") from None
    if not record.get("checkpoint"):
        why = (
            f" (status {record.get('status')}: {record.get('reason')})"
            if record.get("status") != "ok"
            else ""
        )
        raise BenchError(f"record '{path}' names no checkpoint{why}")
    ckpt = Path(record["checkpoint"])
    if not ckpt.is_file():  # a relative path from another working directory: look beside the record
        ckpt = path.with_suffix("") / ckpt.name
    if not ckpt.is_file():
        raise BenchError(f"checkpoint '{record['checkpoint']}' of record '{path}' not found")
    return ckpt


def load_run(run: str):
    """(module in eval mode on the CPU, task, info) rebuilt from a run's checkpoint."""
    import tasks
    from bench.module import SeqModule

    path = checkpoint_path(run)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle and zip errors come in many types
        raise BenchError(f"cannot read checkpoint '{path}': {type(e).__name__}: {e}") from None
    saved = ckpt.get("bench") if isinstance(ckpt, dict) else None
    if saved is None:
        raise BenchError(
            f"checkpoint '{path}' holds no run config and vocabulary; was it written by bench run?"
        )
    known = {f.name for f in dataclasses.fields(RunConfig)}
    cfg = RunConfig(**{k: v for k, v in saved["config"].items() if k in known})
    task = tasks.get(cfg.task)
    if not hasattr(task, "encode"):
        raise BenchError(f"'{path}' is a '{cfg.task}' run; generate needs a language-model run (task lm)")
    module = SeqModule(cfg, task, saved["info"])
    module.load_state_dict(ckpt["state_dict"])  # the encoder regroups its fused weights itself
    return module.eval(), task, saved["info"]


@torch.no_grad()
def sample(
    module, ids: list[int], length: int, temperature: float = 0.8, seed: int | None = None
) -> list[int]:
    """`length` token ids continuing `ids`, one at a time from softmax(logits / temperature); 0 is greedy.

    The prompt runs through the model once; after that each step feeds one token and the carried state.
    A private generator keeps the global random state untouched; a seed makes the result reproducible.
    """
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    was_training = module.training
    module.eval()
    device = next(module.parameters()).device
    logits, state = module(torch.tensor([ids], device=device))  # [1, T, V]
    out = []
    for _ in range(length):
        last = logits[0, -1].float().cpu()  # [V]
        if temperature == 0:
            token = int(last.argmax())
        else:
            token = int(torch.multinomial(torch.softmax(last / temperature, dim=-1), 1, generator=gen))
        out.append(token)
        logits, state = module(torch.tensor([[token]], device=device), None, state)  # [1, 1, V]
    module.train(was_training)
    return out


def generate(
    run: str, prompt: str = "", length: int = 300, temperature: float = 0.8, seed: int | None = None
) -> str:
    """The continuation (without the prompt) of `prompt` by the run's model."""
    if length < 1:
        raise BenchError(f"'length' must be positive, got {length}")
    if not temperature >= 0:
        raise BenchError(f"'temperature' must not be negative, got {temperature} (0 samples greedily)")
    module, task, info = load_run(run)
    ids = task.encode(prompt, info)
    return task.decode(sample(module, ids, length, temperature, seed), info)


def cmd_generate(args, extras) -> int:
    print(args.prompt + generate(args.run, args.prompt, args.length, args.temperature, args.seed))
    return 0
