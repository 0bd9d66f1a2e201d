"""The import graph of src/alignlab: no cycle, and no import against the order docs/architecture.md documents.

Every `import` is counted, inside functions too: an import hidden in a function is still a dependency."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "alignlab"


def documented_layers() -> list[list[str]]:
    """The `Import order:` line of docs/architecture.md: layers separated by →, folders of a layer by commas."""
    line = next(ln for ln in (ROOT / "docs" / "architecture.md").read_text().splitlines()
                if ln.startswith("**Import order:**"))
    return [re.findall(r"`([a-z_]+)`", part) for part in line.split("**", 2)[2].split("→")]


def module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    modules = {module_name(p, src): p for p in src.rglob("*.py")}

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import sub` depends on the submodule; `from pkg.mod import name` on pkg.mod
                names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                         for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            targets |= {t for n in names if n.startswith("alignlab") and (t := known(n)) and t != mod}
        graph[mod] = targets
    return graph


def folder(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_folder_has_a_documented_layer():
    layers = {f for layer in documented_layers() for f in layer}
    folders = {folder(m) for m in import_graph()} - {"", "__main__"}
    assert folders - layers == set(), "folders missing from docs/architecture.md's import order"
    assert layers - folders == set(), "the documented order names folders that do not exist"


def against_order(graph: dict[str, set[str]], layers: list[list[str]]) -> list[str]:
    rank = {f: i for i, layer in enumerate(layers) for f in layer}
    rank[""], rank["__main__"] = -1, len(rank)  # alignlab/__init__ (the version) below all, __main__ above all
    return [f"{m} imports {t}" for m, ts in graph.items() for t in sorted(ts) if rank[folder(t)] > rank[folder(m)]]


def cycles(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, str] = {}
    found: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(" → ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    return found


def test_no_import_against_the_documented_order():
    assert against_order(import_graph(), documented_layers()) == []


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_checks_catch_a_hidden_reverse_import_and_a_cycle(tmp_path):
    pkg = tmp_path / "alignlab"
    files = {"__init__.py": "", "data/__init__.py": "", "training/__init__.py": "",
             "data/a.py": "def f():\n    from alignlab.training import b\n",  # hidden in a function
             "training/b.py": "from alignlab.data import a\n"}
    for name, body in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(body)
    graph = import_graph(pkg)
    assert graph["alignlab.data.a"] == {"alignlab.training.b"}
    assert against_order(graph, [["data"], ["training"]]) == ["alignlab.data.a imports alignlab.training.b"]
    assert cycles(graph) == ["alignlab.data.a → alignlab.training.b → alignlab.data.a"]


def test_the_plugins_satisfy_their_declared_interfaces():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from alignlab.algorithms.dpo import PreferenceOptimisation
    from alignlab.algorithms.reference import (
        AdapterOff,
        EMAAnchor,
        FrozenCopy,
        NamedAdapter,
        PolicyAtStart,
        ReferenceStrategy,
    )
    from alignlab.algorithms.reward_model import RewardModelTraining
    from alignlab.algorithms.sft import SFT
    from alignlab.config import load_config
    from alignlab.methods import METHODS, names
    from alignlab.rewards import build_scorer
    from alignlab.rewards.base import Scorer
    from alignlab.rollout import HFRolloutEngine, RolloutEngine
    from alignlab.training.offline import OfflineAlgorithm
    from alignlab.training.online import OnlineAlgorithm

    cfg = load_config(None, [])
    for algo in (SFT(), RewardModelTraining(), PreferenceOptimisation(cfg.loss, cfg.beta)):
        assert isinstance(algo, OfflineAlgorithm), type(algo).__name__
    for name in names("online"):
        assert isinstance(METHODS[name].algorithm_class()(cfg.rl), OnlineAlgorithm), name
    model = GPT2LMHeadModel(GPT2Config(vocab_size=16, n_positions=8, n_embd=8, n_layer=1, n_head=1))
    for ref in (FrozenCopy(model), AdapterOff(), NamedAdapter(), PolicyAtStart(), EMAAnchor(model, 0.1)):
        assert isinstance(ref, ReferenceStrategy), type(ref).__name__
    assert isinstance(build_scorer("length", cfg.reward, progress=False), Scorer)
    assert isinstance(HFRolloutEngine(model, None, cfg.generation.untempered()), RolloutEngine)
    assert not isinstance(object(), OfflineAlgorithm) and not isinstance(torch.nn.Linear(1, 1), Scorer)
