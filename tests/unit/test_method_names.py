"""A method's name is spelled (as a string in code) only in its own files and its registry entry.

Its own files: the modules of its runner, check and online plug-in, and any module named after it or after its
runner (`algorithms/reward_model.py` for rm). Docstrings and comments may name any method. The advantage
estimators (`advantage.estimator`: reinforce, rloo, grpo, gae) are another concept that shares three names; they
are spelled where the estimators live and in the config field that offers them. Presets live in configs/ (YAML).
"""

from __future__ import annotations

import ast
from pathlib import Path

from alignlab.methods import METHODS, names

SRC = Path(__file__).resolve().parents[2] / "src" / "alignlab"
ESTIMATOR_FILES = {"algorithms/advantages.py", "config/online.py"}
ESTIMATOR_NAMES = {"reinforce", "rloo", "grpo"}


def own_files(name: str) -> set[str]:
    method = METHODS[name]
    modules = [t.partition(":")[0] for t in (method.runner, method.check, method.algorithm) if t]
    files = {m.removeprefix("alignlab.").replace(".", "/") + ".py" for m in modules}
    stems = {name, *(Path(f).stem for f in files if f.startswith("pipelines/"))}
    return files | {str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if p.stem in stems} | {"methods.py"}


def spelled(src: Path, targets: set[str]) -> list[tuple[str, int, str]]:
    """(file relative to src, line, name) of every string constant equal to a target name, docstrings left out."""
    found = []
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        # attribute docstrings (a string statement after a field) are documentation too
        docstrings |= {id(node.value) for node in ast.walk(tree)
                       if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
        found += [(str(path.relative_to(src)), node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in targets
                  and id(node) not in docstrings]
    return found


def strays(src: Path = SRC) -> list[str]:
    targets = set(names("offline", "online", "composite"))
    out = []
    for file, line, name in spelled(src, targets):
        if file in own_files(name) or (file in ESTIMATOR_FILES and name in ESTIMATOR_NAMES):
            continue
        out.append(f"{file}:{line} spells '{name}'")
    return out


def test_no_method_name_outside_its_own_files():
    assert strays() == []


def test_the_check_catches_a_stray_name(tmp_path):
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "loop.py").write_text('"""Docs may say ppo."""\nif algo == "ppo":\n    pass\n')
    assert strays(tmp_path) == ["training/loop.py:2 spells 'ppo'"]
