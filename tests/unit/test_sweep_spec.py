"""Sweep files: validation, expansion into jobs, override order, targets, grid, quick scale, placeholders."""

import pytest

from alignlab.config import ConfigError
from alignlab.config.sweep import SweepSpec
from alignlab.experiments.spec import expand, load_sweep, substitute, targeted

BASE = {"name": "t", "vars": {"m": "builtin:x"}, "config": "dpo/reviews-tiny",
        "setup": [{"name": "pairs", "verb": "pairs", "config": "pairs/reviews-tiny", "overrides": ["a=1"]}],
        "overrides": ["common=1", "cells:only_cells=1", "pairs:only_pairs=1", "eval:only_eval=1"],
        "cells": [{"name": "ref", "verb": "eval", "model": "${m}"},
                  {"name": "dpo", "overrides": ["loss.name=sigmoid"]},
                  {"name": "ipo", "overrides": ["loss.name=ipo"], "grid": False}],
        "seeds": [0, 1], "eval": ["eval.pairs=${pairs}"],
        "quick": {"seeds": [0], "overrides": ["q=1", "dpo:qd=1"]}}


def spec(**changes) -> SweepSpec:
    return SweepSpec.model_validate(BASE | changes)


def test_expand_orders_overrides_and_targets():
    setup, cells = expand(spec(), ["cli=1", "ipo:cli_ipo=1"], quick=False)
    assert [j.name for j in setup] == ["pairs"]
    # preset < sweep overrides (targeted) < own < quick < command line
    assert setup[0].overrides == ["common=1", "only_pairs=1", "a=1", "cli=1"]
    assert [j.name for j in cells] == ["ref-s0", "dpo-s0", "ipo-s0", "ref-s1", "dpo-s1", "ipo-s1"]
    ipo = cells[2]
    assert ipo.overrides == ["common=1", "only_cells=1", "loss.name=ipo", "cli=1", "cli_ipo=1"]
    assert ipo.eval_overrides == ["eval.pairs=${pairs}", "common=1", "only_eval=1", "cli=1"]
    assert cells[0].verb == "eval" and cells[0].model == "${m}"


def test_quick_scale_seeds_and_overrides():
    _, cells = expand(spec(), [], quick=True)
    assert [j.name for j in cells] == ["ref-s0", "dpo-s0", "ipo-s0"]
    assert cells[1].overrides[-2:] == ["q=1", "qd=1"]
    assert "qd=1" not in cells[2].overrides


def test_grid_crosses_cells_and_names_them():
    s = spec(grid=[{"key": "kl.beta", "label": "beta", "values": [0.1, 0.3]}, {"key": "rl.k", "values": [2]}],
             seeds=[0])
    _, cells = expand(s, [], quick=False)
    names = [j.name for j in cells]
    assert names == ["ref-s0", "dpo-beta=0.1-k=2-s0", "dpo-beta=0.3-k=2-s0", "ipo-s0"]
    assert cells[1].overrides[-2:] == ["kl.beta=0.1", "rl.k=2"]
    assert cells[1].grid == {"kl.beta": 0.1, "rl.k": 2} and cells[1].method == "dpo"
    quick = spec(grid=[{"key": "kl.beta", "values": [0.1, 0.3]}], quick={"grid": {"kl.beta": [0.3]}})
    assert [j.cell for j in expand(quick, [], True)[1]] == ["ref", "dpo-beta=0.3", "ipo"]


def test_unknown_target_is_refused_with_a_suggestion():
    with pytest.raises(ConfigError, match="unknown target 'dpp'.*did you mean 'dpo'"):
        expand(spec(), ["dpp:x=1"], quick=False)
    assert targeted(["a=1", "x:b=2", "y:c=3"], {"x"}, {"x", "y"}) == ["a=1", "b=2"]


def test_substitute_placeholders():
    assert substitute("data.dataset=${pairs}/x", {"pairs": "/r/setup/pairs"}) == "data.dataset=/r/setup/pairs/x"
    with pytest.raises(ConfigError, match=r"unknown placeholder \$\{nope\}; known: pairs"):
        substitute("${nope}", {"pairs": "p"})


@pytest.mark.parametrize("change, message", [
    ({"baseline": "dpx"}, "baseline 'dpx' is not a cell.*did you mean 'dpo'"),
    ({"cells": [{"name": "a", "verb": "eval"}]}, "verb eval needs `model`"),
    ({"cells": [{"name": "a"}, {"name": "a"}]}, "repeated: a"),
    ({"cells": [{"name": "cells"}]}, "reserved"),
    ({"cells": [{"name": "bad/name"}]}, "letters, digits"),
    ({"config": None}, "no config"),
])
def test_invalid_specs_name_the_problem(change, message):
    with pytest.raises(ValueError, match=message):
        spec(**change)


def test_yaml_anchor_lists_are_flattened():
    s = spec(cells=[{"name": "a", "overrides": [["x=1", "y=2"], "z=3"]}])
    assert s.cells[0].overrides == ["x=1", "y=2", "z=3"]


def test_load_sweep_presets_and_cli_vars(tmp_path):
    s = load_sweep("studies/dpo-divergences", ["vars.sft_model=builtin:reviews-micro", "seeds=[4]"])
    assert s.vars["sft_model"] == "builtin:reviews-micro" and s.seeds == [4]
    quick = load_sweep("studies/dpo-divergences", ["seeds=[4,5]"], quick=True)
    assert quick.quick.seeds == [4, 5] and [j.seed for j in expand(quick, [], True)[1]][::17] == [4, 5]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncells: [{name: a}]\nverb: nope\nconfig: dpo/reviews-tiny\n")
    with pytest.raises(ConfigError, match="sweep file .*verb"):
        load_sweep(bad)


@pytest.mark.parametrize("name", ["dpo-divergences", "reinforce-rloo-warp", "lora-rank-optimizers",
                                  "composite-reward-dpo", "overfitting-epochs", "aa-dpo", "real-smollm2"])
def test_every_study_preset_resolves_at_both_scales(name):
    from alignlab.config import load_config

    s = load_sweep(f"studies/{name}")
    for quick in (False, True):
        setup, cells = expand(s, [], quick)
        assert cells
        for job in setup + cells:
            if job.config:
                load_config(job.config, [o for o in job.overrides if "${" not in o])


def test_a_sweep_folder_accepts_new_seeds_but_refuses_any_other_change(tmp_path):
    from alignlab.pipelines.sweep import claim_root

    claim_root(tmp_path, spec(seeds=[0]), ["seeds=[0]", "x=1"], quick=False)
    claim_root(tmp_path, spec(seeds=[0, 1]), ["x=1"], quick=False)  # more seeds: the same sweep, continued
    assert "- 1" in (tmp_path / "sweep.yaml").read_text()
    claim_root(tmp_path, spec(seeds=[0, 1], quick={**BASE["quick"], "seeds": [3]}), ["x=1"], quick=False)
    for other, overrides, quick in [(spec(seeds=[0, 1]), ["x=2"], False), (spec(seeds=[0, 1]), ["x=1"], True),
                                    (spec(seeds=[0, 1], name="u"), ["x=1"], False)]:
        with pytest.raises(ConfigError, match="holds a different sweep"):
            claim_root(tmp_path, other, overrides, quick)


def test_analysis_fields_may_change_on_a_finished_sweep_and_the_change_is_recorded(tmp_path):
    from alignlab.pipelines.sweep import analysis_changes, claim_root
    from alignlab.report.sweep_report import post_hoc_note

    claim_root(tmp_path, spec(seeds=[0]), [], quick=False)
    claim_root(tmp_path, spec(seeds=[0], description="reworded"), [], quick=False)  # not an analysis change
    assert analysis_changes(tmp_path) == []
    claim_root(tmp_path, spec(seeds=[0], tests=["gold"], correction="bh"), [], quick=False)
    (change,) = analysis_changes(tmp_path)
    assert change["fields"] == ["tests", "correction"] and change["before"]["correction"] == "holm"
    assert change["after"]["tests"] == ["gold"]
    note = post_hoc_note(analysis_changes(tmp_path))
    assert note.startswith("Post hoc") and 'correction "holm" → "bh"' in note
    claim_root(tmp_path, spec(seeds=[0], tests=["gold"], correction="bh"), [], quick=False)  # the same again
    assert len(analysis_changes(tmp_path)) == 1
    with pytest.raises(ConfigError, match="holds a different sweep"):  # a run setting still refuses
        claim_root(tmp_path, spec(seeds=[0], tests=["gold"], correction="bh", verb="sft"), [], quick=False)


def test_a_cells_own_grid_and_seeds():
    cells = [{"name": "ref", "verb": "eval", "model": "${m}"},
             {"name": "dpo", "grid": [{"key": "beta.value", "label": "beta", "values": [0.1, 1.0]}]},
             {"name": "dpo-again", "seeds": [5]}]
    s = spec(cells=cells, grid=[{"key": "rl.k", "values": [2]}], seeds=[0])
    _, jobs = expand(s, [], quick=False)
    # dpo: its own axis instead of the sweep's; dpo-again: the sweep's grid and its own seed; ref: no grid
    assert [j.name for j in jobs] == ["ref-s0", "dpo-beta=0.1-s0", "dpo-beta=1.0-s0", "dpo-again-k=2-s5"]
    assert jobs[1].method == "dpo" and jobs[1].grid == {"beta.value": 0.1}
    # the quick scale runs the quick seeds for every cell, and its grid values reach a cell's own axes too
    s = spec(cells=cells, seeds=[0], quick={"seeds": [0], "grid": {"beta.value": [1.0]}})
    assert [j.name for j in expand(s, [], quick=True)[1]] == ["ref-s0", "dpo-beta=1.0-s0", "dpo-again-s0"]


def test_setup_per_seed_expands_stages_and_placeholders():
    from pathlib import Path

    from alignlab.pipelines.sweep import placeholder_values

    s = spec(setup_per_seed=True, cells=[*BASE["cells"], {"name": "late", "seeds": [7]}])
    setup, cells = expand(s, [], quick=False)
    assert [(j.name, j.seed, j.group) for j in setup] == [("pairs-s0", 0, "setup"), ("pairs-s1", 1, "setup"),
                                                           ("pairs-s7", 7, "setup")]
    assert all(j.group == "cells" for j in cells)
    root = Path("/sw")
    assert placeholder_values(s, root, 7)["pairs"] == "/sw/setup/pairs-s7"
    assert placeholder_values(spec(), root, 7)["pairs"] == "/sw/setup/pairs"  # shared stages without it


def test_tests_and_baseline_point_are_validated():
    with pytest.raises(ConfigError, match="tests"):
        load_sweep_from(spec_dict={**BASE, "tests": ["gold", "bleu"]})
    assert spec(baseline="dpo", baseline_point={"beta.value": 0.1}).baseline_point == {"beta.value": 0.1}


def load_sweep_from(spec_dict: dict):
    import tempfile

    import yaml

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(spec_dict, f)
    return load_sweep(f.name)


def test_an_unknown_sweep_field_lists_the_sweep_fields(tmp_path):
    from alignlab.config import ConfigError
    from alignlab.experiments.spec import load_sweep

    f = tmp_path / "s.yaml"
    f.write_text("name: x\nverb: dpo\ncellz: []\ncells: [{name: a}]\n")
    with pytest.raises(ConfigError, match=r"unknown sweep field 'cellz' \(did you mean 'cells'\?\); known here: name,"):
        load_sweep(f)
