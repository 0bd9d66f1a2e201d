"""Faster kernels for the same maths, swapped into a loaded model (`model.fused_kernels`, `model.onednn_linear`).

- `fuse_activations`: transformers' python tanh-GELU (`gelu_new`, five elementwise ops, each kept for backward)
  → PyTorch's fused `F.gelu(approximate="tanh")`, the same formula.
- `route_linear_to_onednn`: every plain `nn.Linear` and GPT-2 `Conv1D` computes, on CPU in float32, its forward
  and both backward products with oneDNN's fp32 GEMM instead of the BLAS PyTorch links (MKL). Both are IEEE fp32
  with fp32 accumulation; they block the sums differently, so results agree up to float rounding. Why: MKL's
  sgemm runs its AVX2 code on AMD CPUs even where AVX-512 is present, oneDNN picks its kernels by instruction set;
  on this project's AMD EPYC it made SFT, DPO (precomputed reference) and reward-model steps about 20 % faster,
  RL steps not, and raised peak memory by 89-221 MiB over 100 steps (docs/performance.md), so it is opt-in.
  Anything else (CUDA, bf16/fp16, autocast, `torch.compile` tracing, a single small row) takes `F.linear`.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F


def fuse_activations(model: torch.nn.Module) -> int:
    """Replace transformers' python tanh-GELU with the fused kernel of the same formula; returns how many were
    replaced."""
    from transformers.activations import GELUTanh, NewGELUActivation

    swapped = 0
    for module in list(model.modules()):
        for name, child in module.named_children():
            if type(child) is NewGELUActivation:
                setattr(module, name, GELUTanh())
                swapped += 1
    return swapped


MIN_ONEDNN_OUTPUTS = 4096
"""A product with fewer output elements (rows × out features) than this takes F.linear: for one row of a small
layer (a token of batch-1 generation) oneDNN's call overhead exceeds its gain (in an ad-hoc check here, not kept
as a benchmark: 21 µs against 13 µs for 1 × 256 → 768, while 8 rows were already faster through oneDNN: 32 µs
against 39 µs)."""


def onednn_available() -> bool:
    """Whether this PyTorch build has oneDNN's fp32 linear op (the one `torch.compile` uses on CPU)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


ROW_BUCKET = 64
"""oneDNN builds (JIT-compiles) and caches a primitive per problem shape, about 1-2 MiB each here: with the row
count of every batch different, 200 row counts of one layer cost 2.7× the time of 200 products of one shape and
435 MiB (an ad-hoc check here, not kept as a benchmark). Rows are therefore padded with zeros (zero rows add
nothing to any product) to a bucket: a multiple of ROW_BUCKET up to ROW_BUCKET · BUCKETS_PER_OCTAVE rows, then
BUCKETS_PER_OCTAVE evenly spaced sizes per doubling (see `row_bucket`). Splitting rows into fixed tiles instead
bounds the shapes further but halved the speed (`benchmarks/linear.py`, tried 2026-12-07)."""

BUCKETS_PER_OCTAVE = 8
"""Row buckets per doubling of the row count above ROW_BUCKET · BUCKETS_PER_OCTAVE rows: padding adds at most
1/BUCKETS_PER_OCTAVE (12.5 %) of the rows, and a layer sees at most BUCKETS_PER_OCTAVE shapes per doubling of
batch tokens (about 70 up to 32k rows), so the primitive cache stays bounded in a long run whose batch sizes
vary, where plain multiples of 64 would give one shape per 64 rows (512 up to 32k)."""


def row_bucket(m: int) -> int:
    """The padded row count of an m-row product: m itself below ROW_BUCKET (a few rows of a generation step),
    the next multiple of ROW_BUCKET up to ROW_BUCKET · BUCKETS_PER_OCTAVE, then the next multiple of
    2^(⌊log2 m⌋ − log2 BUCKETS_PER_OCTAVE)."""
    if m < ROW_BUCKET:
        return m
    step = max(ROW_BUCKET, (1 << (m.bit_length() - 1)) // BUCKETS_PER_OCTAVE)
    return -(-m // step) * step


def _gemm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """x [M, K] · w[N, K]ᵀ (+ b [N]) → [M, N] through oneDNN (strided views of x and w are accepted)."""
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")


def _pad_rows(t: torch.Tensor) -> torch.Tensor:
    """[M, C] → [row_bucket(M), C], the new rows zero."""
    extra = row_bucket(t.shape[0]) - t.shape[0]
    return F.pad(t, (0, 0, 0, extra)) if extra else t


class OneDNNLinear(torch.autograd.Function):
    """y = x Wᵀ + b with the three products of forward and backward on oneDNN: ∂x = g W, ∂W = gᵀ x, ∂b = Σ g."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        x2 = x.reshape(-1, x.shape[-1]).contiguous()  # [M, K]
        # the unpadded input is saved (it shares storage with x, which the layer before keeps anyway); saving the
        # padded copy instead held a second copy of every linear layer's input until backward (+120 MiB at 11.5M)
        ctx.save_for_backward(x2, w)
        ctx.lead, ctx.has_bias = x.shape[:-1], b is not None
        xp = _pad_rows(x2)  # [M', K]: zero rows after the M real ones
        return _gemm(xp, w, b)[: x2.shape[0]].view(*x.shape[:-1], w.shape[0])  # [..., N]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x2, w = ctx.saved_tensors
        g = grad.reshape(-1, w.shape[0])  # [M, N]
        gp = _pad_rows(g.contiguous())  # [M', N] (an expanded gradient is materialised); zero rows meet zero rows
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _gemm(gp, w.t(), None)[: g.shape[0]].view(*ctx.lead, w.shape[1])  # [..., K]
        if ctx.needs_input_grad[1]:
            gw = _gemm(gp.t(), _pad_rows(x2).t(), None)  # [N, K]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g.sum(0)  # [N]
        return gx, gw, gb


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """F.linear(x, w, b), through oneDNN where that is the faster fp32 path (see the module docstring)."""
    if (x.device.type == "cpu" and x.dtype == w.dtype == torch.float32 and (b is None or b.dtype == torch.float32)
            and x.numel() // max(x.shape[-1], 1) * w.shape[0] >= MIN_ONEDNN_OUTPUTS
            and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()):
        return OneDNNLinear.apply(x, w, b)
    return F.linear(x, w, b)


def _linear_forward(self, x: torch.Tensor) -> torch.Tensor:
    return linear(x, self.weight, self.bias)


def _conv1d_forward(self, x: torch.Tensor) -> torch.Tensor:
    return linear(x, self.weight.t(), self.bias)  # GPT-2's Conv1D keeps its weight as [in, out]


def route_linear_to_onednn(model: torch.nn.Module) -> int:
    """Point every plain nn.Linear and GPT-2 Conv1D of `model` at `linear`; returns how many were routed (0 when
    this PyTorch has no oneDNN). Subclasses (quantized layers) and peft's wrappers keep their own forward; the
    plain layers inside a peft wrapper (base layer, lora_A, lora_B) are routed. Idempotent; deep copies keep it."""
    if not onednn_available():
        return 0
    from transformers.pytorch_utils import Conv1D

    routed = 0
    for module in model.modules():
        kind = type(module)
        forward = _linear_forward if kind is torch.nn.Linear else _conv1d_forward if kind is Conv1D else None
        if forward is None or getattr(module.forward, "__func__", None) is forward:
            continue
        module.forward = types.MethodType(forward, module)
        routed += 1
    return routed
