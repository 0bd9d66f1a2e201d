"""Presets shipped inside the package (`src/alignlab/configs`, also reachable as `./configs` in a checkout)."""

from __future__ import annotations

from pathlib import Path

PRESET_DIR = Path(__file__).resolve().parents[1] / "configs"


def resolve_preset(ref: str | Path) -> Path:
    """A config path as given, or a packaged preset name such as `sft/reviews-tiny`."""
    p = Path(ref)
    if p.exists():
        return p
    for candidate in (PRESET_DIR / p, PRESET_DIR / f"{p}.yaml"):
        if candidate.is_file():
            return candidate
    return p  # load_config reports the missing file


ACCELERATE_DIR = PRESET_DIR / "accelerate"
"""accelerate launcher configs (`accelerate launch --config_file configs/accelerate/NAME.yaml`), not alignlab
configs: left out of `list_presets`."""


def list_presets() -> list[str]:
    return sorted(str(p.relative_to(PRESET_DIR).with_suffix("")) for p in PRESET_DIR.rglob("*.yaml")
                  if ACCELERATE_DIR not in p.parents)
