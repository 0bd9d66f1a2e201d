"""Weight merging as pure functions on state dicts (name → tensor): task vectors, linear averages, SLERP of task
vectors, LITI and EMA — the toolkit of WARP (Ramé et al. 2024, "WARP: On the Benefits of Weight Averaged
Rewarded Policies", §3).

Every function returns new tensors (computed in fp32, cast back to the input dtype) and never aliases its inputs:
study B's WARP code let θ_init alias the live parameters, so its "init" moved with training. `snapshot(model)`
takes the detached copy a run must keep. Non-floating tensors (e.g. integer buffers) are copied from the first
input unchanged. LoRA models: merge the adapters into their base first (peft `merge_and_unload`), then merge
full state dicts.
"""

from __future__ import annotations

import math

import torch

StateDict = dict[str, torch.Tensor]


def snapshot(model: torch.nn.Module) -> StateDict:
    """A detached copy of the model's state dict: later training steps do not change it."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _check_keys(*states: StateDict) -> None:
    keys = set(states[0])
    for s in states[1:]:
        if set(s) != keys:
            raise ValueError(f"state dicts differ in their tensors: {sorted(keys ^ set(s))[:3]}")
        shapes = [k for k in keys if s[k].shape != states[0][k].shape]
        if shapes:
            raise ValueError(f"tensor {shapes[0]} has shape {tuple(s[shapes[0]].shape)} in one model and "
                             f"{tuple(states[0][shapes[0]].shape)} in another (not the same architecture)")


def _merge(states: list[StateDict], fn) -> StateDict:
    """Apply fn(fp32 tensors) per floating tensor; other tensors are copied from the first state."""
    _check_keys(*states)
    out = {}
    for k, first in states[0].items():
        if first.is_floating_point():
            out[k] = fn([s[k].float() for s in states]).to(first.dtype)
        else:
            out[k] = first.clone()
    return out


def task_vector(theta: StateDict, init: StateDict) -> StateDict:
    """δ = θ − θ_init per tensor."""
    return _merge([theta, init], lambda t: t[0] - t[1])


def add_task_vector(init: StateDict, delta: StateDict, scale: float = 1.0) -> StateDict:
    """θ_init + scale · δ."""
    return _merge([init, delta], lambda t: t[0] + scale * t[1])


def linear_merge(states: list[StateDict], weights: list[float] | None = None) -> StateDict:
    """Σ_m w_m θ_m, with w = 1/M by default (weights are used as given, not renormalised)."""
    weights = weights or [1.0 / len(states)] * len(states)
    if len(weights) != len(states):
        raise ValueError(f"{len(states)} state dicts but {len(weights)} weights")
    return _merge(states, lambda ts: sum(w * t for w, t in zip(weights, ts, strict=True)))


def slerp_tensor(d1: torch.Tensor, d2: torch.Tensor, lam: float, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation of two task-vector tensors (WARP eq. 4):
    sin((1−λ)Ω)/sin Ω · δ1 + sin(λΩ)/sin Ω · δ2, Ω = arccos(δ1·δ2 / (‖δ1‖‖δ2‖)).
    Falls back to linear interpolation (1−λ)δ1 + λδ2 when either vector is near zero or they are (anti)parallel,
    where sin Ω → 0."""
    n1, n2 = d1.norm(), d2.norm()
    if n1 < eps or n2 < eps:
        return (1 - lam) * d1 + lam * d2
    cos = (torch.dot(d1.reshape(-1), d2.reshape(-1)) / (n1 * n2)).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    if sin < eps:
        return (1 - lam) * d1 + lam * d2
    return torch.sin((1 - lam) * omega) / sin * d1 + torch.sin(lam * omega) / sin * d2


def slerp_task_vectors(deltas: list[StateDict], lam: float = 0.5) -> StateDict:
    """SLERP of task vectors per tensor. M = 2: λ weights the second. M > 2: iterative, the m-th vector (1-based)
    enters with λ = 1/m (the running merge is rotated 1/m of the way towards it; λ is then ignored). This is the
    spherical analogue of a running mean, not an exact equal-weight spherical (Karcher) mean."""
    if len(deltas) < 2:
        raise ValueError("SLERP needs at least 2 task vectors")
    if len(deltas) == 2:
        return _merge(deltas, lambda t: slerp_tensor(t[0], t[1], lam))
    merged = deltas[0]
    for m, delta in enumerate(deltas[1:], start=2):
        merged = _merge([merged, delta], lambda t, share=1.0 / m: slerp_tensor(t[0], t[1], share))
    return merged


def slerp_merge(init: StateDict, thetas: list[StateDict], lam: float = 0.5) -> StateDict:
    """θ_slerp = θ_init + SLERP(θ_1 − θ_init, …, θ_M − θ_init): SLERP on task vectors, never on full weights
    (computing Ω on full weights was a bug of study B's code)."""
    return add_task_vector(init, slerp_task_vectors([task_vector(t, init) for t in thetas], lam))


def liti(init: StateDict, merged: StateDict, eta: float) -> StateDict:
    """Linear interpolation towards initialisation, read as moving the init: (1−η)·θ_init + η·θ_merged."""
    return _merge([init, merged], lambda t: (1 - eta) * t[0] + eta * t[1])


@torch.no_grad()
def ema_update_(ema: StateDict, theta: StateDict, mu: float) -> None:
    """In place: ema ← (1−μ)·ema + μ·θ for every floating tensor (WARP's anchor, μ = 0.01)."""
    _check_keys(ema, theta)
    for k, e in ema.items():
        if e.is_floating_point():
            e.copy_(((1 - mu) * e.float() + mu * theta[k].detach().float()).to(e.dtype))


def angle(d1: torch.Tensor, d2: torch.Tensor) -> float:
    """Ω in radians between two tensors seen as vectors (for reports)."""
    cos = torch.dot(d1.reshape(-1).float(), d2.reshape(-1).float()) / (d1.float().norm() * d2.float().norm())
    return math.acos(float(cos.clamp(-1.0, 1.0)))


def task_arithmetic(init: StateDict, thetas: list[StateDict], weights: list[float] | None = None) -> StateDict:
    """θ_init + Σ_m w_m (θ_m − θ_init) (Ilharco et al. 2023, "Editing Models with Task Arithmetic", eq. 1);
    w = 1/M by default, which equals the linear average."""
    weights = weights or [1.0 / len(thetas)] * len(thetas)
    if len(weights) != len(thetas):
        raise ValueError(f"{len(thetas)} models but {len(weights)} weights")
    deltas = [task_vector(t, init) for t in thetas]
    return add_task_vector(init, _merge(deltas, lambda ts: sum(w * t for w, t in zip(weights, ts, strict=True))))


def _needs(base: StateDict | None, n: int | None, method: str, count: int) -> None:
    if base is None:
        raise ValueError(f"merge method {method} works on task vectors: give the init model (--base)")
    if n is not None and count != n:
        raise ValueError(f"merge method {method} takes exactly {n} model(s) besides --base; got {count}")


def _linear(base, thetas, weights, lam, eta):
    return linear_merge(thetas, weights)


def _task_arithmetic(base, thetas, weights, lam, eta):
    _needs(base, None, "task_arithmetic", len(thetas))
    return task_arithmetic(base, thetas, weights)


def _slerp(base, thetas, weights, lam, eta):
    _needs(base, None, "slerp", len(thetas))
    return slerp_merge(base, thetas, lam)


def _liti(base, thetas, weights, lam, eta):
    _needs(base, 1, "liti", len(thetas))
    return liti(base, thetas[0], eta)


MERGE_METHODS = {"linear": _linear, "task_arithmetic": _task_arithmetic, "slerp": _slerp, "liti": _liti}
"""name → fn(base | None, thetas, weights, lam, eta) → merged state dict (`alignlab merge --method`)."""


def mean_task_vector_angle(init: StateDict, thetas: list[StateDict]) -> float:
    """Mean over tensor pairs (m < n) and floating tensors of Ω(δ_m, δ_n) in radians, skipping zero vectors:
    near π/2 the runs moved in independent directions (WARP's case for SLERP), near 0 they agree."""
    deltas = [task_vector(t, init) for t in thetas]
    angles = []
    for k, t in deltas[0].items():
        if not t.is_floating_point():
            continue
        for i in range(len(deltas)):
            for j in range(i + 1, len(deltas)):
                a, b = deltas[i][k], deltas[j][k]
                if a.float().norm() > 0 and b.float().norm() > 0:
                    angles.append(angle(a, b))
    return sum(angles) / len(angles) if angles else 0.0
