"""`alignlab train dpo`: preference pairs → policy (+ reference) → the DPO-family loss on the offline loop → final/.

The reference strategy (`ref.mode`, resolved by `Config.offline_reference_mode`: auto is precomputed for full
fine-tuning, adapter with LoRA):
- copy: a second frozen model loaded from the policy's source;
- adapter: the LoRA policy with adapters off, or a frozen second adapter (`ref.adapter`, or the adapter the
  policy starts from, as in study D);
- adapter_off: the LoRA policy with every adapter off (the base model), also when it starts from an adapter;
- precomputed: the same reference, run once over every pair before training; values are cached on disk
  (training.reference_cache) and no reference model takes part in training;
- none: reference-free losses (simpo, orpo).
"""

from __future__ import annotations

import copy
from functools import partial
from pathlib import Path

from alignlab.algorithms.dpo import PreferenceOptimisation
from alignlab.algorithms.logprobs import unwrap
from alignlab.algorithms.reference import AdapterOff, FrozenCopy, NamedAdapter
from alignlab.config import Config, ConfigError
from alignlab.data.batching import preference_collate
from alignlab.data.preference import policy_examples, read_pairs
from alignlab.data.sft import chat_template_for
from alignlab.data.sources import DataError, load_splits
from alignlab.methods import names
from alignlab.models.builtin import alignlab_home
from alignlab.models.loading import disable_dropout
from alignlab.models.lora import parameter_counts
from alignlab.pipelines.common import reference_strategy, resolve_data
from alignlab.pipelines.offline import OfflineMethod, run_offline, samples_in_training
from alignlab.runs.progress import console
from alignlab.training.reference_cache import (
    ReferenceCache,
    attach,
    cache_key,
    cached_reference,
    compute_reference,
    reference_identity,
)


def prepare_dpo_data(cfg: Config, tokenizer):
    splits = load_splits(resolve_data(cfg.data), cfg.seed)
    train_rows, eval_rows = splits
    train, train_stats = policy_examples(read_pairs(train_rows, cfg.data), tokenizer, cfg.data)
    held, held_stats = (policy_examples(read_pairs(eval_rows, cfg.data), tokenizer, cfg.data)
                        if eval_rows is not None else (None, None))
    if not train:
        raise DataError(f"no training pair left ({train_stats.as_dict()}); check the data and data.max_length")
    return train, held or None, {"train": train_stats.as_dict(), "eval": held_stats.as_dict() if held_stats else None,
                                 "duplicates": splits.duplicates}


def _describe(s: dict) -> str:
    return (f"data: {s['kept']} training pairs ({s['prompt_truncated']} prompts and {s['response_truncated']} "
            f"replies truncated; {s['dropped_no_response']} dropped with no reply left, {s['dropped_identical']} "
            "as identical)")


class DPOSetup:
    """Builds the reference once the policy is loaded and, for precomputed, fills every pair's values."""

    def __init__(self, cfg: Config, algorithm: PreferenceOptimisation):
        self.cfg, self.algorithm, self.info = cfg, algorithm, {}
        self.sampling_reference = None
        """With precomputed values: the reference the in-training sampled evaluation measures KL to (its replies
        are new, so their reference log-probs cannot be cached)."""

    def live_reference(self):
        """The reference of sampled replies during training: the training reference, else the sampling one."""
        return self.algorithm.reference or self.sampling_reference

    def __call__(self, model, tokenizer, train, held, acc, log) -> None:
        mode = self.cfg.offline_reference_mode
        if mode == "none":
            return
        strategy, extra = reference_strategy(self.cfg, model, mode), 0
        if isinstance(strategy, FrozenCopy):
            extra = parameter_counts(strategy.model)[1]
            strategy.model.to(acc.device)
        self.info = {"mode": mode, "strategy": type(strategy).__name__, "extra_model_params": extra}
        if mode == "precomputed":
            self._precompute(strategy, model, tokenizer, {"train": train, "eval": held or []}, acc)
            if isinstance(strategy, NamedAdapter):
                model.delete_adapter(strategy.adapter)  # not needed any more: training reads the cached values
            elif samples_in_training(self.cfg):  # the KL of sampled replies still needs a live reference
                self.sampling_reference = (strategy if isinstance(strategy, AdapterOff)
                                           else FrozenCopy(copy.deepcopy(unwrap(model))))
                if isinstance(self.sampling_reference, FrozenCopy):
                    self.info |= {"sampling_reference": "copy (KL of in-training samples; eval.in_training_prompts=0 "
                                                        "drops it)",
                                  "extra_model_params": parameter_counts(self.sampling_reference.model)[1]}
        else:
            self.algorithm.reference = strategy
        if acc.is_main_process:
            log.log_once(0, "reference", self.info)  # a resumed run keeps its first record
            console.print("reference: " + ", ".join(f"{k}={v}" for k, v in self.info.items()))

    def _precompute(self, strategy, model, tokenizer, splits: dict, acc) -> None:
        cfg = self.cfg
        model.to(acc.device)
        cache = ReferenceCache(cfg.ref.cache_dir or alignlab_home() / "ref-cache")
        settings = {"max_length": cfg.data.max_length, "max_prompt_length": cfg.data.max_prompt_length,
                    "template": chat_template_for(cfg.data, tokenizer),
                    "dtype": str(next(model.parameters()).dtype), "mixed_precision": cfg.train.mixed_precision}
        identity = reference_identity(strategy, model, tokenizer, settings)
        collate = preference_collate(tokenizer.pad_token_id)
        for split, examples in splits.items():
            if not examples:
                continue
            key = cache_key(identity, examples)
            compute = partial(compute_reference, strategy, model, examples, collate,
                              cfg.ref.batch_size or 2 * cfg.train.batch_size, acc, cfg.model.chunk_tokens,
                              f"reference log-probs · {split}", cfg.logging.progress)
            chosen, rejected, info = cached_reference(cache, key, compute, len(examples), acc,
                                                      {"dataset": cfg.data.dataset, "split": split})
            attach(examples, chosen, rejected)
            self.info |= {f"{split}_cache": "hit" if info["hit"] else "miss",
                          f"{split}_seconds": round(info["seconds"], 3), f"{split}_cache_file": info["path"]}


def check_dpo_config(cfg: Config) -> None:
    if cfg.ref.mode == "ema":
        raise ConfigError(f"ref.mode=ema: the moving anchor is for the online methods (train "
                          f"{'|'.join(names('online', 'composite'))}); train dpo allows auto, copy, adapter, "
                          "precomputed, none")


def run_dpo(cfg: Config, command: str = "", resume: Path | None = None) -> dict:
    check_dpo_config(cfg)
    algorithm = PreferenceOptimisation(cfg.loss, cfg.beta, chunk_tokens=cfg.model.chunk_tokens)
    setup = DPOSetup(cfg, algorithm)
    method = OfflineMethod(algorithm, prepare_dpo_data, _describe, before_training=setup,
                           reference=setup.live_reference,
                           prepare_model=lambda model, tok: disable_dropout(model) if cfg.model.disable_dropout else model)
    result = run_offline(cfg, method, command, resume)
    return result | {"reference": setup.info, "reference_passes": algorithm.reference_passes}
