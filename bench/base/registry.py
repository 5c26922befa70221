"""One registry type for models, tasks and optimizers: names registered once, plugins from entry points, and
`pkg.module:attr` names loaded on first use, each entry knowing where it came from.

A user's package adds a model or a task without forking seqbench, through an entry point in its metadata:

    [project.entry-points."seqbench.models"]
    peephole = "seqbench_peephole:spec"

or, for a one-off, by naming it: `--model mypkg.cells:spec`. Entry points are read when a name is first looked
up or listed; a plugin whose import fails is named in one line on stderr and the built-in entries still work.

run: python -c "from bench import models; print(models.REGISTRY.origins())"
"""

import hashlib
import importlib
import importlib.metadata as md
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.base.errors import BenchError, unknown

BUILTIN = "seqbench"


def module_origin(module_name: str) -> str:
    """Where a module's code comes from: 'DIST VERSION' for an installed distribution, else its file and the
    sha256 of its text (so a record, and its hash, change when the code does)."""
    top = module_name.split(".")[0]
    dists = md.packages_distributions().get(top, [])
    if dists:
        return f"{dists[0]} {md.version(dists[0])}"
    module = sys.modules[module_name]
    path = Path(getattr(module, "__file__", "") or "")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "?"
    return f"{path} sha256:{digest}"


def load_attribute(path: str) -> Any:
    """The object `pkg.module:attr` names, its module imported if it is not yet."""
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class Registry:
    """name -> entry. `kind` names it in errors ("model", "task"); `group` is its entry-point group."""

    def __init__(self, kind: str, group: str = "", adapt: Callable[[str, Any], Any] | None = None):
        self.kind, self.group = kind, group
        self.adapt = adapt or (lambda name, obj: obj)  # makes a plugin's object an entry (e.g. names a spec)
        self._entries: dict[str, Any] = {}
        self._origins: dict[str, str] = {}
        self._plugins_read = not group
        self.broken: dict[str, str] = {}  # plugin name -> why it did not load

    def register(self, name: str, entry: Any, origin: str = BUILTIN) -> Any:
        """Add `entry` under `name`; a second entry under a taken name is an error, never a silent overwrite."""
        if name in self._entries and self._entries[name] is not entry:
            raise BenchError(
                f"{self.kind} '{name}' is registered twice (by {self._origins[name]} and by {origin}); "
                "rename one of them"
            )
        self._entries[name], self._origins[name] = entry, origin
        return entry

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        for ep in md.entry_points(group=self.group):
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.value
            try:
                self.register(ep.name, self.adapt(ep.name, ep.load()), origin=dist)
            except Exception as e:  # an import error, a bad object, a duplicate: named, and nothing else lost
                self.broken[ep.name] = f"{type(e).__name__}: {e}"
                print(
                    f"warning: {self.kind} plugin '{ep.name}' ({ep.value}, from {dist}) did not load: "
                    f"{' '.join(str(e).split())[:200]}",
                    file=sys.stderr,
                )

    def _load_named(self, name: str) -> None:
        """`pkg.module:attr`: import it and register it under that name."""
        module_name = name.partition(":")[0]
        try:
            obj = load_attribute(name)
        except Exception as e:
            raise BenchError(
                f"{self.kind} '{name}' could not be loaded ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                f"a {self.kind} outside seqbench is 'package.module:attribute', importable from here"
            ) from None
        self.register(name, self.adapt(name, obj), origin=module_origin(module_name))

    def get(self, name: str) -> Any:
        if name not in self._entries:
            self._read_plugins()
        if name not in self._entries and ":" in name:
            self._load_named(name)
        if name not in self._entries:
            raise unknown(self.kind, name, self._entries)
        return self._entries[name]

    def names(self) -> list[str]:
        self._read_plugins()
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        self.get(name)
        return self._origins[name]

    def origins(self) -> dict[str, str]:
        return {name: self._origins[name] for name in self.names()}

    __getitem__ = get
