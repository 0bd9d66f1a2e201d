"""The sweep file's schema (`alignlab sweep -c SWEEP.yaml`, `configs/studies/`): setup stages, cells, the grid,
seeds, the quick scale and the analysis (baseline, contrasts, tests, correction, matched-KL levels, frontiers).
Expanding a sweep into runs is `experiments/spec.py`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from alignlab.config.common import MAX_SEED, SAFE_NAME, SAFE_NAME_RULE, SafeName, Section
from alignlab.config.errors import allowed_value_error, did_you_mean
from alignlab.methods import DEFAULT_SWEEP_VERB, METHODS, evaluates_only

Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]

GROUPS = ("setup", "cells", "eval")


def _registered(verb: str) -> str:
    if verb not in METHODS:
        raise allowed_value_error(verb, list(METHODS))
    return verb


Verb = Annotated[str, AfterValidator(_registered)]
"""A method's name in `alignlab.methods.METHODS` (sft, dpo, rloo, warp, pairs, eval, ... and plug-ins)."""


def _flatten(v):
    """Lists may nest one level (YAML anchors: `overrides: [*common, key=value]`)."""
    if isinstance(v, list):
        return [x for item in v for x in (item if isinstance(item, list) else [item])]
    return v


class Stage(Section):
    """A setup stage: one run shared by every cell (run once, before the cells)."""

    name: str
    """Its name: the folder `setup/NAME` and the placeholder `${NAME}`."""
    verb: Verb
    """The verb that runs it (sft, rm, pairs, or any training verb)."""
    config: str
    """Its preset or YAML file."""
    overrides: list[str] = Field(default_factory=list)
    """`key=value` overrides of this stage (may use `${...}`)."""

    _flat = field_validator("overrides", mode="before")(_flatten)


class GridAxis(Section):
    """One axis of the grid: the override key and its values."""

    key: str
    """The config key, e.g. kl.beta."""
    values: list
    """The values it takes."""
    label: str | None = None
    """Short name in cell names (default: the last part of the key)."""


class Cell(Section):
    """One method of the comparison, run once per seed (and per grid point)."""

    name: str
    """Its name in tables and plots, and its folder `cells/NAME-sSEED`."""
    verb: Verb | None = None
    """The verb (default: the sweep's `verb`); `eval` only evaluates `model` (e.g. the SFT starting point)."""
    config: str | None = None
    """Its preset (default: the sweep's `config`)."""
    model: str | None = None
    """For `verb: eval`: the model to evaluate (may use `${...}`)."""
    overrides: list[str] = Field(default_factory=list)
    """`key=value` overrides of this cell's training run."""
    grid: bool | list[GridAxis] = True
    """true: cross this cell with the sweep's grid; false: one run per seed (e.g. a baseline); a list of axes: this
    cell's own grid instead of the sweep's (e.g. a beta sweep that makes the cell a curve of reward against KL)."""
    seeds: list[Seed] | None = None
    """This cell's seeds instead of the sweep's (e.g. an A/A check: the same method under two names with other
    seeds). Cells with different seed lists are paired by rank: the i-th seed of one with the i-th of the other."""

    _flat = field_validator("overrides", mode="before")(_flatten)


class Quick(Section):
    """The `--quick` scale: a few minutes on 2 CPU cores, same cells."""

    seeds: list[Seed] = Field(default_factory=lambda: [0])
    """Seeds at the quick scale."""
    overrides: list[str] = Field(default_factory=list)
    """Overrides applied after the cells' own (TARGET:key=value allowed)."""
    grid: dict[str, list] = Field(default_factory=dict)
    """Grid values at the quick scale, by axis key (axes not named keep their values)."""


ANALYSIS_FIELDS = ("baseline", "baseline_point", "contrasts", "tests", "correction", "kl_levels", "frontier")
"""SweepSpec fields that change what is compared, never what runs: they may change on a folder with finished runs,
and the change is recorded (`analysis-changes.jsonl`) so the report marks what was declared after the runs."""


class SweepSpec(Section):
    """A sweep file (see `configs/studies/`)."""

    name: SafeName
    """The sweep's name: its default folder is OUTPUT_DIR/sweep-NAME (sweep-NAME-quick at the quick scale)."""
    description: str = ""
    """The question the sweep answers (shown in the report)."""
    vars: dict[str, str] = Field(default_factory=dict)
    """Sweep variables, used as `${NAME}`; set from the command line with vars.NAME=value."""
    setup: list[Stage] = Field(default_factory=list)
    """Stages run in order before the cells: once, or once per seed (`setup_per_seed`)."""
    setup_per_seed: bool = False
    """Run every setup stage once per seed (folder setup/NAME-sSEED, with `seed` set), and give the cells of seed s
    that seed's stages: the pairs' sampling and the reward model's training then vary with the seed too."""
    verb: Verb = DEFAULT_SWEEP_VERB
    """Default verb of the cells."""
    config: str | None = None
    """Default preset of the cells."""
    overrides: list[str] = Field(default_factory=list)
    """Overrides of every stage, cell and evaluation (TARGET:key=value allowed)."""
    cells: list[Cell]
    """The methods compared."""
    grid: list[GridAxis] = Field(default_factory=list)
    """Axes crossed with every cell that has `grid: true`."""
    seeds: list[Seed] = Field(default_factory=lambda: [0, 1, 2])
    """Seeds: every cell runs once per seed (config `seed`; the evaluation samples with the same seed)."""
    eval_config: str = "studies/eval"
    """The preset of the evaluation run on every cell (same prompts and sampling for all)."""
    eval: list[str] = Field(default_factory=list)
    """Overrides of the evaluation (may use `${...}`; `${start}` is the cell's starting model)."""
    baseline: str | None = None
    """Cell compared with every other cell, seed against seed (with a grid: at the same grid point, else at
    `baseline_point`)."""
    baseline_point: dict[str, float | int | str] = Field(default_factory=dict)
    """The baseline's grid point that a cell is compared with when the baseline has no run at the cell's own grid
    point (cells without a grid, or at a value the baseline lacks), e.g. {beta.value: 0.1}."""
    contrasts: list[tuple[str, str]] = Field(default_factory=list)
    """Extra comparisons, each [cell, reference cell] with full cell names (grid point included), e.g.
    [dpo-3ep, dpo-1ep]; compared seed against seed like the baseline comparisons, in the same family."""
    tests: list[Literal["gold", "proxy", "kl", "entropy", "entropy_prefix", "length", "heldout_loss",
                        "pair_accuracy", "win_rate", "perplexity", "on_target", "cut_off"]] = Field(
        default_factory=lambda: ["gold", "proxy", "kl", "entropy"])
    """The metrics that get a p-value: declared before the sweep runs, they form the family adjusted together
    (with the matched-KL comparisons of the same metrics). Other metrics are shown with their difference and CI
    only (descriptive). Fewer tests keep more power after the adjustment. Sample metrics: gold, proxy, kl,
    entropy, entropy_prefix, length; run metrics (one value per seed): heldout_loss, pair_accuracy, win_rate,
    perplexity, on_target, cut_off."""
    frontier: list[Literal["kl", "entropy"]] = Field(default_factory=lambda: ["kl", "entropy"])
    """Frontier plots: gold reward against KL and/or against diversity."""
    kl_levels: list[float] | None = None
    """KL levels of the matched-KL table (each method's reward and diversity read off its curve at each level);
    null: three levels inside the KL range that every curve covers."""
    correction: Literal["holm", "bh"] = "holm"
    """Multiple-comparison adjustment over every p-value of one report: holm (family-wise error) or bh
    (Benjamini–Hochberg, false discovery rate)."""
    quick: Quick = Field(default_factory=Quick)
    """The `--quick` scale."""

    @model_validator(mode="after")
    def _names(self):
        names = [s.name for s in self.setup] + [c.name for c in self.cells]
        for n in names:
            if not SAFE_NAME.match(n):
                raise ValueError(f"name '{n}': {SAFE_NAME_RULE}")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"names must be unique across setup and cells; repeated: {', '.join(dup)}")
        clash = sorted(set(names) & {*GROUPS, "sweep", "start", *self.vars})
        if clash:
            raise ValueError(f"names {', '.join(clash)} are reserved (targets, placeholders or vars)")
        if self.baseline is not None and self.baseline not in {c.name for c in self.cells}:
            raise ValueError(f"baseline '{self.baseline}' is not a cell{did_you_mean(self.baseline, [c.name for c in self.cells])}")
        for c in self.cells:
            verb = c.verb or self.verb
            if evaluates_only(verb) and not c.model:
                raise ValueError(f"cell '{c.name}': verb {verb} needs `model` (it evaluates a model, trains none)")
            if not evaluates_only(verb) and not (c.config or self.config):
                raise ValueError(f"cell '{c.name}': no config (set the cell's or the sweep's `config`)")
        return self
