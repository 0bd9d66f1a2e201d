"""The sweep file: a typed schema, and its expansion into the runs of one sweep.

A sweep is a list of **setup stages** (an SFT model, a reward model, a pairs dataset), run once and shared, or run
once per seed (`setup_per_seed`), then **cells** (one method each, optionally crossed with a **grid** of
overrides: the sweep's, or the cell's own) × **seeds**, every one evaluated the same way. With `setup_per_seed`,
`${NAME}` in a run of seed s names that seed's stage, so the variance of the data and the reward model enters the
comparison of the cells. Values may name sweep variables and setup stages as `${NAME}`: `${sft}` is the run directory of the
setup stage `sft`, `${base}` the variable `vars.base`, `${sweep}` the sweep folder.

Overrides are applied in this order (later wins): the stage's or cell's preset, the sweep's `overrides`, the
stage's or cell's own `overrides`, the `quick` overrides under `--quick`, then the command line's. Any of these
lists may hold `TARGET:key=value`, which applies to one target only: a setup stage or cell name (a cell name
covers its grid points), `setup`, `cells` or `eval`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from alignlab.config.errors import ConfigError, did_you_mean
from alignlab.config.loader import apply_override, format_validation_error, parse_override, read_yaml
from alignlab.config.presets import resolve_preset
from alignlab.config.sweep import GROUPS, Cell, GridAxis, SweepSpec
from alignlab.methods import evaluates_only

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")


@dataclass
class Job:
    """One run of the sweep, fully resolved except for `${...}` (resolved when it runs)."""

    name: str
    """setup stage name (NAME-sSEED with setup_per_seed), or CELL[-GRID]-sSEED."""
    cell: str
    """The cell (or setup stage) it belongs to, with its grid point: CELL[-GRID]."""
    verb: str
    config: str | None
    overrides: list[str]
    seed: int | None
    eval_overrides: list[str] = field(default_factory=list)
    model: str | None = None
    grid: dict = field(default_factory=dict)
    method: str = ""
    """The spec's cell name (without the grid point)."""
    group: str = "cells"
    """setup or cells: the sweep folder's subfolder."""


def load_sweep(path: str | Path, cli_overrides: list[str] | None = None, quick: bool = False) -> SweepSpec:
    """Read and validate a sweep file; `vars.NAME=value` and sweep-level keys (e.g. seeds=[0]) among the CLI
    overrides change the spec itself. At the quick scale, `seeds=` sets the quick seeds (the ones that run)."""
    tree = read_yaml(resolve_preset(path))
    for item in cli_overrides or []:
        key = item.split("=", 1)[0]
        if ":" not in key and (key.startswith("vars.") or key in ("seeds", "baseline")):
            keys, value = parse_override(item)
            apply_override(tree, ["quick", "seeds"] if quick and keys == ["seeds"] else keys, value)
    try:
        spec = SweepSpec.model_validate(tree)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        text = (err["msg"].removeprefix("Value error, ") if not err["loc"]
                else format_validation_error(exc, SweepSpec).replace("config field", "sweep field"))
        raise ConfigError(f"sweep file {path}: {text}") from None
    return spec


def cli_config_overrides(cli_overrides: list[str]) -> list[str]:
    """The CLI overrides meant for the runs' configs (not the sweep's own vars/seeds/baseline)."""
    return [o for o in cli_overrides if not (":" not in o.split("=", 1)[0]
                                              and (o.startswith("vars.") or o.split("=", 1)[0] in ("seeds", "baseline")))]


def targeted(items: list[str], names: set[str], valid: set[str]) -> list[str]:
    """The overrides of `items` that apply to a run known by `names` (plain ones apply to all)."""
    out = []
    for item in items:
        head, sep, rest = item.partition(":")
        if sep and "=" not in head:
            if head not in valid:
                raise ConfigError(f"override '{item}': unknown target '{head}'{did_you_mean(head, sorted(valid))}; "
                                  f"targets: {', '.join(sorted(valid))}")
            if head in names:
                out.append(rest)
        else:
            out.append(item)
    return out


def _grid_points(spec: SweepSpec, axes: list[GridAxis], quick: bool) -> list[list[tuple[GridAxis, object]]]:
    values = [spec.quick.grid.get(a.key, a.values) if quick else a.values for a in axes]
    return [list(zip(axes, combo, strict=True)) for combo in itertools.product(*values)]


def cell_axes(spec: SweepSpec, cell: Cell) -> list[GridAxis]:
    """The grid a cell is crossed with: its own axes, the sweep's (grid: true), or none."""
    if isinstance(cell.grid, list):
        return cell.grid
    return spec.grid if cell.grid else []


def cell_seeds(spec: SweepSpec, cell: Cell, quick: bool) -> list[int]:
    """A cell's seeds: the quick seeds at the quick scale, else its own or the sweep's."""
    return spec.quick.seeds if quick else (cell.seeds or spec.seeds)


def all_seeds(spec: SweepSpec, quick: bool) -> list[int]:
    """Every seed some cell runs, in order."""
    return list(dict.fromkeys(s for c in spec.cells for s in cell_seeds(spec, c, quick)))


def _grid_label(point: list[tuple[GridAxis, object]]) -> str:
    return "-".join(f"{a.label or a.key.split('.')[-1]}={v}" for a, v in point)


def expand(spec: SweepSpec, cli_overrides: list[str], quick: bool) -> tuple[list[Job], list[Job]]:
    """(setup jobs, cell jobs) with every override list in its final order."""
    names = {s.name for s in spec.setup} | {c.name for c in spec.cells}
    valid = names | set(GROUPS)
    tail = [*(spec.quick.overrides if quick else []), *cli_config_overrides(cli_overrides)]
    common = spec.overrides

    def layers(own: list[str], targets: set[str]) -> list[str]:
        return [*targeted(common, targets, valid), *own, *targeted(tail, targets, valid)]

    seeds = all_seeds(spec, quick)
    setup = [Job(f"{s.name}-s{seed}" if seed is not None else s.name, s.name, s.verb, s.config,
                 layers(s.overrides, {s.name, "setup"}), seed, method=s.name, group="setup")
             for seed in (seeds if spec.setup_per_seed else [None]) for s in spec.setup]
    eval_common = [*targeted([*common, *tail], {"eval"}, valid)]
    cells = []
    for seed in seeds:
        for c in spec.cells:
            if seed not in cell_seeds(spec, c, quick):
                continue
            verb = c.verb or spec.verb
            axes = cell_axes(spec, c)
            points = _grid_points(spec, axes, quick) if (axes and not evaluates_only(verb)) else [[]]
            for point in points:
                label = f"{c.name}-{_grid_label(point)}" if point else c.name
                own = [*c.overrides, *(f"{a.key}={v}" for a, v in point)]
                cells.append(Job(f"{label}-s{seed}", label, verb, c.config or spec.config,
                                 layers(own, {c.name, "cells"}), seed, [*spec.eval, *eval_common],
                                 c.model, {a.key: v for a, v in point}, c.name))
    return setup, cells


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace every `${NAME}`; an unknown name is an error that lists the known ones."""
    def one(m: re.Match) -> str:
        if m.group(1) not in values:
            raise ConfigError(f"'{text}': unknown placeholder ${{{m.group(1)}}}; known: {', '.join(sorted(values))}")
        return str(values[m.group(1)])

    return PLACEHOLDER.sub(one, text)
