"""`alignlab bon`: best-of-n sampling against a proxy, gold and proxy reward against √KL (Gao et al. 2022).

The model samples `bon.replies` replies to each of the first `eval.prompts` prompts of `eval.split` with the
evaluation seed, from its own distribution (T = 1, no truncation: best-of-n's analytic KL is relative to the
distribution sampled). The proxy (eval.proxy, else reward.scorer) and the gold (eval.gold) score every reply; for
each n of `bon.n` the unbiased estimator gives the expected proxy and gold of best-of-n
(`evaluation/overoptimisation.py`), at KL = log n − (n − 1)/n.

Run directory: samples.jsonl (every reply with its proxy and gold score), best_of_n.json (the curve, its settings
and the fit d(α − βd) of gold against √KL), metrics.jsonl (split `best_of_n`, one row per n with sqrt_kl,
reward_mean = proxy and gold_reward_mean: the run report plots it like an RL run's evaluations).
"""

from __future__ import annotations

import time
from pathlib import Path

from alignlab.config import Config, ConfigError
from alignlab.data.sft import sampling_chat
from alignlab.evaluation.overoptimisation import best_of_n_curve, fit
from alignlab.generation.sample import generate
from alignlab.pipelines.evaluate import eval_prompts
from alignlab.pipelines.generate import load_for_sampling, write_jsonl
from alignlab.rewards import build_scorer
from alignlab.runs.atomic import atomic_write_json
from alignlab.runs.metrics import MetricsLog
from alignlab.runs.progress import console
from alignlab.runs.rundir import create_run, new_run_name

RESULT_FILE = "best_of_n.json"
SPLIT = "best_of_n"
"""The metrics.jsonl split of the curve's rows."""


def check_bon_config(cfg: Config) -> None:
    if not cfg.generation.samples_policy:
        raise ConfigError("generation: best-of-n's KL log n − (n − 1)/n is to the distribution sampled, so sample "
                          "the model's own (generation.temperature=1.0 top_k=0 top_p=1.0, no repetition penalty)")
    if cfg.eval.gold is None:
        raise ConfigError("eval.gold is null: best-of-n measures gold against the proxy; name a gold scorer, e.g. "
                          "eval.gold=review_judge")


def run_best_of_n(cfg: Config, command: str = "", resume: Path | None = None) -> dict:
    """Sample, score with proxy and gold, estimate best-of-n for every n; its checks ran at the door. A resumed
    run samples again from the start (sampling is seeded, so it writes the same curve)."""
    t0 = time.time()
    prompts = eval_prompts(cfg)  # bad input fails before the run directory exists
    proxy_spec = cfg.eval.proxy or cfg.reward.scorer
    proxy = build_scorer(proxy_spec, cfg.reward, progress=False)
    gold = build_scorer(cfg.eval.gold, cfg.reward, progress=False)
    model, tokenizer = load_for_sampling(cfg.model)
    run = create_run(Path(resume or cfg.run_dir or new_run_name(cfg)), cfg, command)
    try:
        n_replies, seed = cfg.bon.replies, cfg.seed if cfg.eval.seed is None else cfg.eval.seed
        console.print(f"bon · {len(prompts)} prompts × {n_replies} replies, proxy {proxy_spec}, gold {cfg.eval.gold}")
        texts = generate(model, tokenizer, prompts, cfg.generation, seed=seed, chat=sampling_chat(cfg.data),
                         progress=cfg.logging.progress, k=n_replies)  # [P][N]
        flat_prompts = [p for p, cs in zip(prompts, texts, strict=True) for _ in cs]
        flat = [c for cs in texts for c in cs]
        p_scores, g_scores = proxy.score(flat_prompts, flat).tolist(), gold.score(flat_prompts, flat).tolist()
        by_prompt = [slice(i * n_replies, (i + 1) * n_replies) for i in range(len(prompts))]
        curve = best_of_n_curve([p_scores[s] for s in by_prompt], [g_scores[s] for s in by_prompt], cfg.bon.n)
        log = MetricsLog(run.metrics_file)
        for row in curve:
            log.log(row["n"], SPLIT, {"n": row["n"], "kl_k1": row["kl"], "sqrt_kl": row["sqrt_kl"],
                                      "reward_mean": row["proxy"], "gold_reward_mean": row["gold"],
                                      "reward_stderr": row["proxy_stderr"], "gold_reward_stderr": row["gold_stderr"]})
        gold_fit = (fit("bon", [r["sqrt_kl"] for r in curve], [r["gold"] for r in curve]) if len(curve) >= 3 else None)
        write_jsonl([{"prompt": p, "completion": c, "reward": s, "gold": g}
                     for p, c, s, g in zip(flat_prompts, flat, p_scores, g_scores, strict=True)],
                    run.path / "samples.jsonl")
        record = {"model": cfg.model.name_or_path, "proxy": proxy_spec, "gold": cfg.eval.gold,
                  "prompts": len(prompts), "replies_per_prompt": n_replies, "seed": seed,
                  "split": cfg.eval.split or cfg.data.eval_split, "curve": curve,
                  "fit": None if gold_fit is None else {
                      "form": "bon", "alpha": gold_fit.alpha, "beta": gold_fit.beta, "kl_peak": gold_fit.kl_peak,
                      "peak_observed": gold_fit.peak_observed}}
        atomic_write_json(run.path / RESULT_FILE, record)
    except Exception:
        run.finish("failed")
        raise
    for row in curve:
        console.print(f"  n {row['n']:>3}  √KL {row['sqrt_kl']:.3f}  proxy {row['proxy']:+.4f}  gold {row['gold']:.4f}"
                      f" ± {row['gold_stderr']:.4f}")
    run.record_wall_time()
    run.finish("completed")
    return {"run_dir": str(run.path), "curve": curve, "seconds": round(time.time() - t0, 1)}
