"""One linear layer's forward + backward on PyTorch's default GEMM and on oneDNN (`model.onednn_linear`), side by
side in one process, after a parity check.

    python benchmarks/linear.py

Shapes: the four linear layers of the large fixture model of compare.py (d = 256, MLP 1024) and its lm_head
(vocabulary 2041), at 376 rows (8 sequences × 47 tokens). Parity first: the largest relative difference of the
output and of the three gradients between the two paths. Then, per shape, the median of 7 rounds of 30 calls
each, the two paths alternating round by round: GFLOP/s (6·M·K·N per forward + backward) and the ratio.
Not part of the test suite (timings belong in benchmarks).
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from alignlab.models.kernels import OneDNNLinear, onednn_available

SHAPES = [(376, 256, 768), (376, 256, 256), (376, 256, 1024), (376, 1024, 256), (376, 256, 2041)]
"""(rows M, in K, out N)."""


def _step(fn, x, w, b, g) -> None:
    x.grad = w.grad = b.grad = None
    fn(x, w, b).backward(g)


def main() -> None:
    if not onednn_available():
        raise SystemExit("this PyTorch build has no oneDNN linear op")
    torch.manual_seed(0)
    print("| M × K → N | max relative difference | default GFLOP/s | oneDNN GFLOP/s | ratio |\n|---|---|---|---|---|")
    for m, k, n in SHAPES:
        x, w, b = (torch.randn(*s, requires_grad=True) for s in ((m, k), (n, k), (n,)))
        g = torch.randn(m, n)
        outs = []
        for fn in (F.linear, OneDNNLinear.apply):
            _step(fn, x, w, b, g)
            outs.append([fn(x, w, b).detach(), x.grad.clone(), w.grad.clone(), b.grad.clone()])
        diff = max(((a - c).abs().max() / c.abs().max()).item() for a, c in zip(*outs, strict=True))
        rounds = {F.linear: [], OneDNNLinear.apply: []}
        for r in range(7):
            for fn in (F.linear, OneDNNLinear.apply) if r % 2 == 0 else (OneDNNLinear.apply, F.linear):
                for _ in range(3):
                    _step(fn, x, w, b, g)
                start = time.perf_counter()
                for _ in range(30):
                    _step(fn, x, w, b, g)
                rounds[fn].append((time.perf_counter() - start) / 30)
        flops = 6 * m * k * n / 1e9
        base, ours = (flops / statistics.median(rounds[f]) for f in (F.linear, OneDNNLinear.apply))
        print(f"| {m} × {k} → {n} | {diff:.1e} | {base:.0f} | {ours:.0f} | {ours / base:.2f}× |")


if __name__ == "__main__":
    main()
