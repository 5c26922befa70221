"""Input checks that run before any work: the seed range, an output folder, and
the line of a YAML key for one-line errors that name file and line.

run: python -c "from bench.checks import yaml_line; print(yaml_line('a: 1\\nb: {c: 2}\\n', ['b', 'c']))"
"""

import os
from pathlib import Path

import yaml

from bench.base.errors import BenchError

SEED_MAX = 2**32 - 1  # numpy's and Lightning's seed range is [0, 2**32 - 1]
MAX_YAML_BYTES = 1 << 20  # a config or suite is a page of flat keys: a larger file is a mistake or an attack


MAX_YAML_VALUES = 100_000  # values after aliases expand: our largest suite has a few hundred


class _BoundedLoader(yaml.SafeLoader):
    """safe_load that counts every value as its aliases (*name) expand: a few hundred bytes of nested aliases
    expand to gigabytes (a 'billion laughs'), and an alias inside its own anchor never ends."""

    def compose_document(self):
        self._sizes = {}  # id(node) -> values it expands to, once composed
        return super().compose_document()

    def compose_node(self, parent, index):
        event = self.peek_event()
        node = super().compose_node(parent, index)
        if isinstance(event, yaml.AliasEvent):
            if id(node) not in self._sizes:
                raise yaml.composer.ComposerError(
                    None, None, f"alias *{event.anchor} refers to itself", event.start_mark
                )
            size = self._sizes[id(node)]
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(v)] for v in node.value)
        else:
            size = 1
        if size > MAX_YAML_VALUES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"aliases expand to over {MAX_YAML_VALUES:,} values (write them out)",
                event.start_mark,
            )
        self._sizes[id(node)] = size
        return node


def check_out(out: str) -> None:
    """The output folder exists or can be made, and is a folder: checked before a run trains for an hour."""
    if "\x00" in out:
        raise BenchError(f"'out' {out!r} holds a NUL character, which no file name may; pass another folder")
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise BenchError(f"'out' {out} is a file, not a folder; pass a folder for records and checkpoints")
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise BenchError(f"cannot write to the output folder '{out}' (permission denied); pass another --out")


def make_out(out: str) -> None:
    check_out(out)
    try:
        Path(out).expanduser().mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(
            f"cannot create the output folder '{out}' ({e.strerror}); pass another --out"
        ) from None


def check_accelerator(accelerator: str) -> None:
    """A GPU asked for where none is visible fails now, not after data preparation."""
    import torch

    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise BenchError(f"--accelerator {accelerator}, but no CUDA device is visible; use cpu or auto")
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise BenchError("--accelerator mps, but MPS is not available here; use cpu or auto")


def read_mapping(path: Path, what: str = "config file") -> tuple[dict, str]:
    """(the YAML mapping, its text); one-line errors with the file and line for syntax and type problems."""
    try:
        if (size := path.stat().st_size) > MAX_YAML_BYTES:
            raise BenchError(f"{what} '{path}' is {size} bytes; a {what} is at most {MAX_YAML_BYTES} bytes")
        text = path.read_text()
        data = yaml.load(text, Loader=_BoundedLoader)
    except RecursionError:
        raise BenchError(
            f"{what} '{path}' nests too deeply to read; a {what} is a page of flat keys"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise BenchError(f"{what} '{path}'{where}: {problem}; fix the YAML syntax") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError(f"cannot read {what} '{path}' ({type(e).__name__}: {e})") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise BenchError(f"{what} '{path}' must hold a mapping of key: value, got {type(data).__name__}")
    bad = next((k for k in data if not isinstance(k, str)), None)
    if bad is not None:
        raise BenchError(f"{what} '{path}' line {yaml_line(text, [bad])}: key {bad!r} must be a name")
    return data, text


def yaml_line(text: str, keys: list) -> int | None:
    """1-based line of the value at `keys` (a path of mapping keys) in YAML `text`, or None when absent."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return line
        match = next(((k, v) for k, v in node.value if k.value == str(key)), None)
        if match is None:
            return line
        line, node = match[0].start_mark.line + 1, match[1]
    return line
