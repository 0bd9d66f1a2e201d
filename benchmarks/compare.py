"""alignlab side by side with TRL on identical fixtures, one process per measurement, repeats interleaved.

    python benchmarks/compare.py --against trl                  # every workload, both model sizes, 3 repeats
    python benchmarks/compare.py --against trl --sizes large --workloads sft,dpo-copy --repeats 2
    python benchmarks/compare.py                                # alignlab only (also when TRL is not installed)

The harness builds its own fixtures in --workdir: a byte-level BPE tokenizer trained on the built-in review corpus,
two random-init GPT-2 models (dropout 0; `small` about 0.7M and `large` about 11.5M parameters), and JSON-lines
data from the built-in task (SFT prompt/response rows, preference pairs, RL prompts), whose lengths vary as real
replies do. Both frameworks train the same model on the same rows with the same loss, 8 sequences per step
(SFT: 8 rows; DPO and RM: 8 pairs; RL: 2 prompts × k=4 replies of 32 new tokens), AdamW at a constant lr 1e-5,
grad-norm clip 1, fp32, no evaluation and no checkpoints while timed.

Parity first: each process also reports, on the first 8 rows of the data file, the token ids it trains on (a
hash of prompt+reply ids and of the loss mask) and its loss on those rows before any step. A workload whose hashes
or step-0 loss differ is marked `PARITY FAILED` and its ratio is not a like-for-like comparison.

Each repeat is a round: every workload (ablations included) and framework of a size runs once, in reverse
order every other round, so a slow spell of the machine falls on all of them, not on one workload's repeats.
Per workload and framework: median seconds per optimizer step over steps 3..N (the first steps pay for warm-up),
tokens/s (real tokens of the data rows per step ÷ s/step; RL: "-"), and the process's peak resident memory
(imports included). The ratio is TRL's s/step ÷ alignlab's. The printed table is markdown; --out writes JSON.
Not part of the test suite: timings belong in a benchmark, never in a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROWS_PER_STEP = 8
LR = 1e-5
MAX_LENGTH = 128
RL_PROMPTS, RL_K, RL_NEW_TOKENS, KL_BETA = 2, 4, 32, 0.05
SIZES = {"small": {"n_embd": 64, "n_layer": 2, "n_head": 2}, "large": {"n_embd": 256, "n_layer": 12, "n_head": 4}}
WORKLOADS = ("sft", "dpo-copy", "dpo-precomputed", "dpo-adapter", "rm", "rloo", "grpo", "ppo")
ABLATIONS = {"sft-unfused": ("sft", ["model.fused_kernels=false"]),
             "sft-onednn": ("sft", ["model.onednn_linear=true"]),
             "dpo-copy-onednn": ("dpo-copy", ["model.onednn_linear=true"]),
             "dpo-precomputed-onednn": ("dpo-precomputed", ["model.onednn_linear=true"]),
             "rm-onednn": ("rm", ["model.onednn_linear=true"]),
             "rloo-onednn": ("rloo", ["model.onednn_linear=true"]),
             "rloo-forward": ("rloo", ["generation.logps_from_generation=false"]),
             "sft-compile": ("sft", ["model.compile=true"]),
             "dpo-copy-compile": ("dpo-copy", ["model.compile=true"]),
             "rloo-compile": ("rloo", ["model.compile=true"])}
"""alignlab alone with one of its speed-ups turned off, or an option turned on (`--workloads sft,sft-onednn`): the
change, side by side. `-compile` variants pay for compilation in their first steps, which the median skips; their
`wall_s` (the whole run, compilation included) shows that cost."""
TRL_HAS = {"sft", "dpo-copy", "dpo-precomputed", "dpo-adapter", "rm", "rloo", "grpo"}
"""TRL 1.x moved PPO to trl.experimental; the harness times alignlab's PPO alone."""
OFFLINE = {"sft", "dpo-copy", "dpo-precomputed", "dpo-adapter", "rm"}
"""Workloads on fixed data, whose tokens and step-0 loss are compared; the RL ones sample their own."""
LORA_R = 8
RM_HEAD = "reward"


# ---------------------------------------------------------------------------------------------- fixtures


def build_fixtures(workdir: Path, n_rows: int) -> None:
    """Tokenizer, models and data files in `workdir` (kept: a second call reuses them)."""
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    from alignlab.config.data import DataConfig
    from alignlab.data.sources import load_splits
    from alignlab.data.tokenizer import train_bpe
    from alignlab.pipelines.common import resolve_data

    if (workdir / "done").exists():
        return
    workdir.mkdir(parents=True, exist_ok=True)
    sft = list(load_splits(resolve_data(DataConfig(dataset="builtin:reviews")), 0)[0])[:n_rows]
    prefs = list(load_splits(resolve_data(DataConfig(dataset="builtin:reviews-prefs")), 0)[0])[:n_rows]
    tok = train_bpe([r["prompt"] + r["response"] for r in sft] + [r["prompt"] + r["chosen"] for r in prefs], 4000)
    tok.save_pretrained(workdir / "tokenizer")
    for name, dims in SIZES.items():
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=256, resid_pdrop=0.0, embd_pdrop=0.0,
                                           attn_pdrop=0.0, bos_token_id=tok.bos_token_id or tok.eos_token_id,
                                           eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **dims))
        model.save_pretrained(workdir / f"model-{name}")
        tok.save_pretrained(workdir / f"model-{name}")
        torch.manual_seed(1)  # the reward model: the same backbone with a fixed scalar head, so both load one head
        rm = GPT2ForSequenceClassification(model.config.__class__(**{**model.config.to_dict(), "num_labels": 1}))
        rm.transformer.load_state_dict(model.transformer.state_dict())
        rm.save_pretrained(workdir / f"model-{name}-rm")
        tok.save_pretrained(workdir / f"model-{name}-rm")
    _write(workdir / "sft.jsonl", [{"prompt": r["prompt"], "response": r["response"]} for r in sft])
    _write(workdir / "prefs.jsonl", [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}
                                     for r in prefs])
    # TRL's reward trainer ends every text with EOS and alignlab's scores the text as given: the rows say EOS
    _write(workdir / "prefs-rm.jsonl", [{"prompt": r["prompt"], "chosen": r["chosen"] + tok.eos_token,
                                         "rejected": r["rejected"] + tok.eos_token} for r in prefs])
    _write(workdir / "prompts.jsonl", [{"prompt": r["prompt"], "response": r["response"]} for r in sft])
    (workdir / "done").write_text("ok")


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _read(path: Path, n: int | None = None) -> list[dict]:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return rows[:n] if n else rows


def _digest(rows) -> str:
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:12]


def _peak_rss_mib() -> float:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def _median_step(times: list[float]) -> float:
    """Median interval between consecutive step ends, from the third step on."""
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)][2:]
    return statistics.median(gaps) if gaps else float("nan")


def _real_tokens_per_row(workload: str, rows: list[dict], tok) -> float:
    """Mean real tokens per training sequence in these rows (prompt + reply, truncated at MAX_LENGTH)."""
    if workload == "sft":
        lens = [min(len(tok(r["prompt"] + r["response"])["input_ids"]) + 1, MAX_LENGTH) for r in rows]
    else:
        lens = [min(len(tok(r["prompt"] + r[side])["input_ids"]) + 1, MAX_LENGTH) for r in rows
                for side in ("chosen", "rejected")]
    return sum(lens) / len(lens)


# ---------------------------------------------------------------------------------------------- alignlab


def _ours_config(workload: str, workdir: Path, size: str, steps: int, run_dir: Path, extra: tuple = ()):
    from alignlab.config import load_config

    if workload in ABLATIONS:
        base, off = ABLATIONS[workload]
        return _ours_config(base, workdir, size, steps, run_dir, tuple(off))

    model = workdir / f"model-{size}{'-rm' if workload == 'rm' else ''}"
    common = [f"model.name_or_path={model}", f"run_dir={run_dir}", "seed=0", f"optimizer.lr={LR}",
              "optimizer.weight_decay=0.0", "scheduler.name=constant", "scheduler.warmup_steps=0",
              "train.max_grad_norm=1.0", "train.grad_accum=1", "train.log_every=1", "train.eval_every=null",
              "train.save_every=null", "eval.in_training_prompts=0", "logging.report_to=[]",
              "logging.progress=false", "model.device=cpu", "data.eval_split=null", "data.eval_fraction=0.0",
              f"data.max_length={MAX_LENGTH}", *extra]
    offline = [*common, "train.eval_train_samples=0", "train.eval_each_epoch=false",
               f"train.batch_size={ROWS_PER_STEP}", f"train.max_steps={steps}"]
    if workload == "sft":
        return "sft", load_config("sft/reviews-tiny", [*offline, f"data.dataset={workdir / 'sft.jsonl'}"])
    if workload.startswith("dpo"):
        mode = {"dpo-copy": "copy", "dpo-precomputed": "precomputed", "dpo-adapter": "adapter"}[workload]
        extra = [f"lora.r={LORA_R}", f"lora.alpha={2 * LORA_R}", "lora.dropout=0.0"] if mode == "adapter" else []
        return "dpo", load_config("dpo/reviews-tiny", [*offline, f"data.dataset={workdir / 'prefs.jsonl'}",
                                                       f"ref.mode={mode}", f"ref.cache_dir={run_dir}-cache",
                                                       "data.max_train_samples=null", *extra])
    if workload == "rm":
        return "rm", load_config("rm/reviews-tiny", [*offline, f"data.dataset={workdir / 'prefs-rm.jsonl'}"])
    online = [*common, f"data.dataset={workdir / 'prompts.jsonl'}", "reward.scorer=length",
              f"rl.iterations={steps}", f"rl.prompts_per_iteration={RL_PROMPTS}", f"rl.k={RL_K}",
              f"train.batch_size={RL_PROMPTS * RL_K}", f"generation.max_new_tokens={RL_NEW_TOKENS}",
              f"generation.batch_size={RL_PROMPTS}", f"kl.beta={KL_BETA}", "train.eval_every=null"]
    return workload, load_config(f"{workload}/reviews-tiny", online)


def run_ours(workload: str, workdir: Path, size: str, steps: int) -> dict:
    import tempfile

    from alignlab.runs.metrics import read_metrics

    verb, _ = _ours_config(workload, workdir, size, steps, Path("/nonexistent"))
    parity = _ours_parity(workload, workdir, size) if workload in OFFLINE else {}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        _, cfg = _ours_config(workload, workdir, size, steps, run_dir)
        runner = _ours_runner(verb)
        start = time.time()
        runner(cfg, command=f"benchmark {workload}")
        wall = time.time() - start
        rows = read_metrics(run_dir, "train")
        times = [r["time"] for r in rows]
    return {"s_per_step": _median_step(times), "steps": len(times), "wall_s": round(wall, 1), **parity}


def _ours_runner(verb: str):
    if verb == "sft":
        from alignlab.pipelines.sft import run_sft
        return run_sft
    if verb == "dpo":
        from alignlab.pipelines.dpo import run_dpo
        return run_dpo
    if verb == "rm":
        from alignlab.pipelines.reward_model import run_rm
        return run_rm
    from alignlab.pipelines.online import run_online
    return lambda cfg, command: run_online(cfg, verb, command=command)


def _ours_parity(workload: str, workdir: Path, size: str) -> dict:
    """Token ids, loss masks and the step-0 loss of the first ROWS_PER_STEP data rows, as alignlab trains them."""
    import torch

    from alignlab.pipelines.common import load_policy

    verb, cfg = _ours_config(workload, workdir, size, 1, Path("/nonexistent"))
    model, tok = load_policy(cfg, verbose=False, head=RM_HEAD if verb == "rm" else "causal_lm")
    torch.manual_seed(0)
    if verb == "sft":
        from datasets import Dataset

        from alignlab.algorithms.sft import SFT
        from alignlab.data.batching import pad_collate
        from alignlab.data.sft import tokenize_rows

        examples = tokenize_rows(Dataset.from_list(_read(workdir / "sft.jsonl", ROWS_PER_STEP)), tok, cfg.data)[0]
        seqs = [e["input_ids"] for e in examples]
        masks = [[int(x != -100) for x in e["labels"]] for e in examples]
        algo = SFT()
        batch = pad_collate(tok.pad_token_id)(examples)
        with torch.no_grad():
            loss = algo.loss(model.eval(), batch)[0] / algo.weight(batch)
    elif verb == "dpo":
        from alignlab.data.batching import preference_collate
        from alignlab.data.preference import policy_examples, read_pairs

        examples = policy_examples(read_pairs(_read(workdir / "prefs.jsonl", ROWS_PER_STEP), cfg.data), tok,
                                   cfg.data)[0]
        seqs = [e[f"{s}_ids"] for e in examples for s in ("chosen", "rejected")]
        masks = [e[f"{s}_mask"] for e in examples for s in ("chosen", "rejected")]
        from alignlab.algorithms.logprobs import batch_sequence_logps

        with torch.no_grad():
            logps = batch_sequence_logps(model.eval(), preference_collate(tok.pad_token_id)(examples))[0]
        loss = -logps[:len(examples)].mean()  # the step-0 DPO loss is log 2 by construction: compare log-probs
    else:
        from alignlab.algorithms.reward_model import RewardModelTraining
        from alignlab.data.preference import read_pairs, reward_examples

        model.config.pad_token_id = tok.pad_token_id
        examples = reward_examples(read_pairs(_read(workdir / "prefs-rm.jsonl", ROWS_PER_STEP), cfg.data), tok,
                                   cfg.data)[0]
        seqs = [x for e in examples for x in (e["chosen_ids"], e["rejected_ids"])]
        masks = [[1] * len(s) for s in seqs]
        algo = RewardModelTraining()
        batch = algo.collate(tok.pad_token_id)(examples)
        with torch.no_grad():
            loss = algo.loss(model.eval(), batch)[0] / algo.weight(batch)
    return {"ids": _digest(seqs), "mask": _digest(masks), "loss0": round(float(loss), 5),
            "tokens_per_row": _real_tokens_per_row(workload, _read(workdir / ("sft.jsonl" if verb == "sft"
                                                                              else "prefs.jsonl")), tok)}


# ---------------------------------------------------------------------------------------------- TRL


class _StepClock:
    def __init__(self):
        self.times: list[float] = []

    def callback(self):
        from transformers import TrainerCallback

        clock = self

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                clock.times.append(time.perf_counter())
        return Clock()


def _trl_args(cls, out: Path, steps: int, **extra):
    return cls(output_dir=str(out), max_steps=steps, per_device_train_batch_size=ROWS_PER_STEP, learning_rate=LR,
               lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0,
               gradient_accumulation_steps=1, logging_steps=1, save_strategy="no", eval_strategy="no",
               report_to="none", use_cpu=True, bf16=False, fp16=False, seed=0, data_seed=0, disable_tqdm=True,
               dataloader_num_workers=0, **extra)


def run_trl(workload: str, workdir: Path, size: str, steps: int) -> dict:
    import tempfile

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    model_dir = workdir / f"model-{size}"
    tok = AutoTokenizer.from_pretrained(model_dir)
    clock = _StepClock()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if workload == "sft":
            from trl import SFTConfig, SFTTrainer

            rows = [{"prompt": r["prompt"], "completion": r["response"]} for r in _read(workdir / "sft.jsonl")]
            trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), processing_class=tok,
                                 train_dataset=Dataset.from_list(rows),
                                 args=_trl_args(SFTConfig, out, steps, max_length=MAX_LENGTH,
                                                completion_only_loss=True, packing=False))
        elif workload.startswith("dpo"):
            from trl import DPOConfig, DPOTrainer

            rows = _read(workdir / "prefs.jsonl")
            model = AutoModelForCausalLM.from_pretrained(model_dir)
            peft_config = None
            if workload == "dpo-adapter":
                from peft import LoraConfig

                peft_config = LoraConfig(r=LORA_R, lora_alpha=2 * LORA_R, lora_dropout=0.0,
                                         target_modules=["c_attn", "c_proj", "c_fc"], task_type="CAUSAL_LM")
            ref = AutoModelForCausalLM.from_pretrained(model_dir) if workload == "dpo-copy" else None
            trainer = DPOTrainer(model=model, ref_model=ref, processing_class=tok, train_dataset=Dataset.from_list(rows),
                                 peft_config=peft_config,
                                 args=_trl_args(DPOConfig, out, steps, max_length=MAX_LENGTH, beta=0.1,
                                                precompute_ref_log_probs=workload == "dpo-precomputed"))
        elif workload == "rm":
            from trl import RewardConfig, RewardTrainer

            rows = _read(workdir / "prefs-rm.jsonl")
            model = AutoModelForSequenceClassification.from_pretrained(workdir / f"model-{size}-rm", num_labels=1)
            model.config.pad_token_id = tok.pad_token_id
            trainer = RewardTrainer(model=model, processing_class=tok, train_dataset=Dataset.from_list(rows),
                                    args=_trl_args(RewardConfig, out, steps, max_length=MAX_LENGTH,
                                                   center_rewards_coefficient=None))
        else:
            trainer = _trl_online(workload, workdir, model_dir, tok, out, steps)
        trainer.add_callback(clock.callback())
        parity = _trl_parity(workload, trainer, tok) if workload in OFFLINE else {}
        torch.manual_seed(0)
        trainer.train()
    return {"s_per_step": _median_step(clock.times), "steps": len(clock.times), **parity}


def _trl_online(workload: str, workdir: Path, model_dir: Path, tok, out: Path, steps: int):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from alignlab.config.common import LengthShape
    from alignlab.rewards.rules import length

    shape = LengthShape()
    score = length(shape.min_words, shape.max_words)

    def reward(completions, **kwargs):  # the same `length` scorer alignlab's runs use
        return score([], completions)

    rows = [{"prompt": r["prompt"]} for r in _read(workdir / "prompts.jsonl")]
    common = {"num_generations": RL_K, "max_completion_length": RL_NEW_TOKENS, "temperature": 1.0, "top_k": 0,
              "beta": KL_BETA, "num_iterations": 1}
    if workload == "rloo":
        from trl import RLOOConfig as Config
        from trl import RLOOTrainer as Trainer
    else:
        from trl import GRPOConfig as Config
        from trl import GRPOTrainer as Trainer
    args = _trl_args(Config, out, steps, **common)
    return Trainer(model=AutoModelForCausalLM.from_pretrained(model_dir), reward_funcs=reward, args=args,
                   processing_class=tok, train_dataset=Dataset.from_list(rows))


def _trl_parity(workload: str, trainer, tok) -> dict:
    """The same record as `_ours_parity`, read from TRL's own tokenised dataset and its own loss."""
    import torch

    rows = [trainer.train_dataset[i] for i in range(ROWS_PER_STEP)]
    model = trainer.model.eval()
    if workload == "sft":
        seqs = [list(r["input_ids"]) for r in rows]
        masks = [[int(x != -100) for x in r["labels"]] for r in rows]
        batch = trainer.data_collator(rows)
        with torch.no_grad():
            loss = trainer.compute_loss(model, batch)
    elif workload.startswith("dpo"):
        seqs, masks = [], []
        for r in rows:
            for side in ("chosen", "rejected"):
                seqs.append(list(r["prompt_ids"]) + list(r[f"{side}_ids"]))
                masks.append([0] * len(r["prompt_ids"]) + [1] * len(r[f"{side}_ids"]))
        from alignlab.algorithms.logprobs import sequence_logps
        from alignlab.data.batching import pad_side

        chosen = seqs[0::2]
        ids = pad_side(chosen, tok.pad_token_id)
        with torch.no_grad():
            logps = sequence_logps(model, ids, pad_side([[1] * len(s) for s in chosen], 0), pad_side(masks[0::2], 0))[0]
        loss = -logps.mean()
    else:
        seqs = [list(x) for r in rows for x in (r["chosen_ids"], r["rejected_ids"])]
        masks = [[1] * len(s) for s in seqs]
        batch = trainer.data_collator(rows)
        with torch.no_grad():
            loss = trainer.compute_loss(model, batch)
    model.train()
    return {"ids": _digest(seqs), "mask": _digest(masks), "loss0": round(float(loss), 5)}


# ---------------------------------------------------------------------------------------------- driver


def child(args) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    run = run_ours if args.framework == "alignlab" else run_trl
    result = run(args.workload, args.workdir, args.size, args.steps)
    result["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    print("RESULT " + json.dumps(result))


def _measure(framework: str, workload: str, size: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", framework, "--workload", workload, "--size", size,
           "--steps", str(args.steps), "--workdir", str(args.workdir)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"PYTHONWARNINGS": "ignore"})
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail)[-300:]}
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", choices=["trl", "none"], default="none")
    ap.add_argument("--sizes", default="small,large")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--steps", type=int, default=12, help="optimizer steps per measurement (RL: iterations)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", type=int, default=800, help="data rows in the fixtures")
    ap.add_argument("--workdir", type=Path, default=Path(".bench-fixtures"))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", choices=["alignlab", "trl"], dest="framework")
    ap.add_argument("--workload", choices=[*WORKLOADS, *ABLATIONS])
    ap.add_argument("--size", choices=sorted(SIZES))
    args = ap.parse_args()
    if args.framework:
        child(args)
        return
    against = args.against == "trl"
    if against:
        try:
            import trl  # noqa: F401
        except ImportError:
            print("TRL is not installed (pip install trl): measuring alignlab alone")
            against = False
    build_fixtures(args.workdir, args.rows)
    results = []
    for size in args.sizes.split(","):
        # every (workload, framework) of a size once per round, the order reversed in odd rounds: a slow spell of
        # the machine falls on all of them, not on one workload's repeats
        cells = [(w, f) for w in args.workloads.split(",")
                 for f in ["alignlab"] + (["trl"] if against and w in TRL_HAS else [])]
        runs: dict[str, dict[str, list]] = {}
        for r in range(args.repeats):
            for workload, f in cells if r % 2 == 0 else cells[::-1]:
                runs.setdefault(workload, {}).setdefault(f, []).append(_measure(f, workload, size, args))
                print(f"  {size} {workload} {f} #{r + 1}: {json.dumps(runs[workload][f][-1])}", flush=True)
        for workload, by_framework in runs.items():
            results.append(_summarise(size, workload, {f: by_framework[f] for f in sorted(by_framework)}))
    print(_table(results, args))
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                       indent=2))


def _summarise(size: str, workload: str, runs: dict) -> dict:
    row = {"size": size, "workload": workload}
    for f, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            row[f] = {"error": rs[0]["error"]}
            continue
        s = statistics.median(r["s_per_step"] for r in ok)
        tokens = next((r.get("tokens_per_row") for f2 in runs for r in runs[f2] if r.get("tokens_per_row")), None)
        row[f] = {"s_per_step": round(s, 4), "peak_rss_mib": max(r["peak_rss_mib"] for r in ok),
                  "tokens_per_s": round(tokens * ROWS_PER_STEP * (1 if ABLATIONS.get(workload, (workload,))[0] == "sft" else 2) / s, 1)
                  if tokens else None, "repeats": len(ok), "parity": {k: ok[0].get(k) for k in ("ids", "mask", "loss0")},
                  "wall_s": statistics.median(r["wall_s"] for r in ok) if all("wall_s" in r for r in ok) else None}
    if "trl" in row and "s_per_step" in row.get("trl", {}) and "s_per_step" in row.get("alignlab", {}):
        a, t = row["alignlab"], row["trl"]
        row["ratio"] = round(t["s_per_step"] / a["s_per_step"], 2)
        if workload not in OFFLINE:
            row["parity"] = "n/a (sampled replies; same settings)"
            return row
        same = a["parity"]["ids"] == t["parity"]["ids"] and a["parity"]["mask"] == t["parity"]["mask"]
        close = (a["parity"]["loss0"] is not None and t["parity"]["loss0"] is not None
                 and abs(a["parity"]["loss0"] - t["parity"]["loss0"]) <= 1e-3 * max(1.0, abs(a["parity"]["loss0"])))
        row["parity"] = "ok" if same and close else (
            f"PARITY FAILED (ids {'=' if same else '≠'}, loss0 {a['parity']['loss0']} vs {t['parity']['loss0']})")
    return row


def _row(r: dict) -> str:
    def cell(f):
        x = r.get(f)
        if x is None:
            return "-", "-", "-"
        if "error" in x:
            return "error", "-", "-"
        return f"{x['s_per_step']:.4f}", f"{x['tokens_per_s']:,.0f}" if x["tokens_per_s"] else "-", f"{x['peak_rss_mib']:.0f}"
    a, t = cell("alignlab"), cell("trl")
    return (f"| {r['size']} | {r['workload']} | {a[0]} | {t[0]} | {r.get('ratio', '-')}"
            f"{'×' if 'ratio' in r else ''} | {a[1]} | {t[1]} | {a[2]} | {t[2]} | {r.get('parity', '-')} |")


def _table(results: list[dict], args) -> str:
    import platform

    import torch

    head = (f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{args.repeats} interleaved repeats × {args.steps} steps, {ROWS_PER_STEP} sequences per step\n\n"
            "| size | workload | alignlab s/step | TRL s/step | speed-up | alignlab tok/s | TRL tok/s | "
            "alignlab peak MiB | TRL peak MiB | parity |\n|---|---|---|---|---|---|---|---|---|---|")
    errors = [f"{r['size']} {r['workload']} {f}: {r[f]['error']}" for r in results for f in ("alignlab", "trl")
              if isinstance(r.get(f), dict) and "error" in r[f]]
    return "\n".join([head, *map(_row, results), *(["\nerrors:"] + errors if errors else [])])


if __name__ == "__main__":
    main()
