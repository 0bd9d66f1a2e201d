"""`alignlab pairs`: sample N completions per prompt from a policy, score, filter, pair, write a dataset.

Rounds: every prompt is sampled in round 1; prompts left without a valid pair are re-sampled (fresh
samples) in the next round, up to `pairs.max_rounds`, then dropped and counted. Every sampled chunk is
appended to `samples.jsonl` as soon as it is scored, and chunk seeds depend only on (seed, split, round,
chunk), so `--resume` skips finished chunks and reproduces the same dataset as an uninterrupted run.

Run directory: samples.jsonl, dataset/ (save_to_disk, one split per source split), jsonl/{split}.jsonl,
pairs_report.json (counts at every stage; gap median/mean/SD) and gap_histogram.png.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path

from alignlab.config import Config, ConfigError
from alignlab.data.pairing import filter_completions, gap_stats, make_pairs
from alignlab.data.sft import sampling_chat
from alignlab.data.sources import load_prompts
from alignlab.generation.sample import sample_completions
from alignlab.pipelines.common import resolve_data
from alignlab.pipelines.generate import load_for_sampling
from alignlab.rewards import build_scorer
from alignlab.runs.atomic import append_line, atomic_dir, atomic_write_json, atomic_write_text
from alignlab.runs.metrics import read_jsonl
from alignlab.runs.progress import console, progress_bar
from alignlab.runs.rundir import RunDir, create_run, new_run_name, open_run
from alignlab.training.signals import GracefulStop, Interrupted

COLUMNS = ("prompt", "chosen", "rejected", "chosen_score", "rejected_score")
SAMPLES_FILE = "samples.jsonl"
REPORT_NAMES = {"pairs": "pairs", "too_few_samples": "prompts_too_few_samples"}
"""make_pairs counts → report keys; the others count candidate pairs and become `pairs_<reason>`."""


def check_pairs_config(cfg: Config) -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("alignlab pairs runs in one process (it batches generation itself); "
                          "run it without accelerate launch / torchrun")


def run_pairs(cfg: Config, command: str = "", resume: Path | None = None) -> dict:
    """Sample, score and pair; its checks ran at the door (`pipelines/door.py`)."""
    t0 = time.time()
    # Everything that can fail on bad input happens before the run directory exists.
    prompts = {split: load_prompts(resolve_data(cfg.data), split)[: cfg.pairs.max_prompts] for split in cfg.pairs.splits}
    scorer = build_scorer(cfg.reward.scorer, cfg.reward, progress=False)
    model, tokenizer = load_for_sampling(cfg.model)
    run = open_run(resume) if resume is not None else create_run(Path(cfg.run_dir or new_run_name(cfg)), cfg, command)
    done = _recorded(run.path / SAMPLES_FILE)
    rows, report = {}, {"splits": {}, "scorer": cfg.reward.scorer, "strategy": cfg.pairs.strategy}
    try:
        with GracefulStop() as stop:
            for split, split_prompts in prompts.items():
                ctx = _Sampler(cfg, run, model, tokenizer, scorer, split, done, stop)
                rows[split], report["splits"][split] = ctx.sample_all(split_prompts)
    except Interrupted:
        run.finish("interrupted")
        raise
    except Exception:
        run.finish("failed")
        raise
    report["all_gaps"] = gap_stats([r["chosen_score"] - r["rejected_score"] for rs in rows.values() for r in rs])
    _write_outputs(run, rows, report)
    run.record_wall_time()
    run.finish("completed")
    return {"run_dir": str(run.path), "report": report, "seconds": round(time.time() - t0, 1)}


class _Sampler:
    """Sampling rounds over one split's prompts."""

    def __init__(self, cfg, run: RunDir, model, tokenizer, scorer, split, done: dict, stop):
        self.cfg, self.p, self.run, self.model, self.tok = cfg, cfg.pairs, run, model, tokenizer
        self.scorer, self.split, self.done, self.stop = scorer, split, done, stop
        self.gen, self.k, self.chat = cfg.generation, cfg.pairs.k, sampling_chat(cfg.data)

    def sample_all(self, prompts: list[str]) -> tuple[list[dict], dict]:
        counts = Counter(prompts=len(prompts), rounds=0, samples=0, samples_kept=0, pairs=0, pairs_candidates=0)
        rows, todo = [], list(prompts)
        for rnd in range(1, self.p.max_rounds + 1):
            if not todo:
                break
            counts["rounds"] = rnd
            counts["resampled_prompts"] += len(todo) if rnd > 1 else 0
            failed = []
            for rec in self._sample_round(todo, rnd):
                pairs = self._pair(rec, counts)
                rows += pairs
                if not pairs:
                    failed.append(rec["prompt"])
            todo = failed
        counts["prompts_with_pairs"] = len(prompts) - len(todo)
        counts["dropped_prompts"] = len(todo)
        gaps = gap_stats([r["chosen_score"] - r["rejected_score"] for r in rows])
        return rows, {**dict(counts), "gaps": gaps, "accounting": accounting(counts)}

    def _sample_round(self, todo: list[str], rnd: int) -> list[dict]:
        """One record per prompt: its N completions, token counts and scores (None where filtered)."""
        size, out = self.cfg.generation.batch_size, []
        with progress_bar(f"sampling {self.split} (round {rnd}/{self.p.max_rounds})", len(todo),
                          enabled=self.cfg.logging.progress) as bar:
            for start in range(0, len(todo), size):
                chunk = todo[start:start + size]
                have = [self.done.get((self.split, rnd, p)) for p in chunk]
                if any(h is None for h in have):
                    fresh = self._sample_chunk(chunk, rnd, start)
                    for k, h in enumerate(have):  # a resumed chunk records only the prompts it had not recorded
                        if h is None:
                            append_line(self.run.path / SAMPLES_FILE, json.dumps(fresh[k]))
                    have = [h or fresh[k] for k, h in enumerate(have)]
                out += have
                bar.update(min(start + size, len(todo)))
                if self.stop.requested:
                    raise Interrupted(self.stop.signum, str(self.run.path))
        return out

    def _sample_chunk(self, chunk: list[str], rnd: int, start: int) -> list[dict]:
        seed = _chunk_seed(self.cfg.seed, self.split, rnd, start)
        samples = sample_completions(self.model, self.tok, chunk, self.gen, seed=seed, chat=self.chat, k=self.k,
                                     progress=False)
        records = []
        for prompt, completions in zip(chunk, samples, strict=True):
            texts, tokens = [c.text for c in completions], [c.tokens for c in completions]
            kept, dropped = filter_completions(texts, tokens, self.p.min_tokens, self.p.require_sentence_end,
                                               self.p.drop_duplicates)
            records.append({"split": self.split, "round": rnd, "prompt": prompt, "completions": texts,
                            "tokens": tokens, "kept": kept, "dropped": dict(dropped), "scores": [None] * len(texts)})
        # Score only what survived the filters: model-based scorers are the expensive part.
        flat = [(k, i) for k, r in enumerate(records) for i in r["kept"]]
        if flat:
            values = self.scorer.score([records[k]["prompt"] for k, _ in flat],
                                       [records[k]["completions"][i] for k, i in flat]).tolist()
            for (k, i), v in zip(flat, values, strict=True):
                records[k]["scores"][i] = round(v, 6)  # scorers return float32; keep the file readable
        return records

    def _pair(self, rec: dict, counts: Counter) -> list[dict]:
        texts, kept = rec["completions"], rec["kept"]
        counts["samples"] += len(texts)
        counts["samples_kept"] += len(kept)
        counts.update({f"samples_{k}": v for k, v in rec["dropped"].items()})
        scores = [rec["scores"][i] for i in kept]
        rng = random.Random(f"{self.cfg.seed}-{self.split}-{rec['round']}-{rec['prompt']}")
        pairs, pc = make_pairs(scores, self.p.strategy, self.p.min_gap, self.p.min_best_score, rng)
        for k, v in pc.items():
            counts[REPORT_NAMES.get(k, f"pairs_{k}")] += v
        return [{"prompt": rec["prompt"], "chosen": texts[kept[c]], "rejected": texts[kept[r]],
                 "chosen_score": scores[c], "rejected_score": scores[r]} for c, r in pairs]


def accounting(c: Counter) -> list[str]:
    """The report's sums, written out so a reader can check that nothing went missing."""
    def parts(prefix: str, skip: str) -> str:
        return "".join(f" + {v} {k.removeprefix(prefix)}" for k, v in sorted(c.items())
                       if k.startswith(prefix) and k != skip and v)
    return [f"samples {c['samples']} = {c['samples_kept']} kept" + parts("samples_", "samples_kept"),
            f"candidate pairs {c['pairs_candidates']} = {c['pairs']} pairs" + parts("pairs_", "pairs_candidates"),
            f"prompts {c['prompts']} = {c['prompts_with_pairs']} with pairs + {c['dropped_prompts']} dropped"]


def _chunk_seed(seed: int, split: str, rnd: int, start: int) -> int:
    return random.Random(f"{seed}-{split}-{rnd}-{start}").randrange(2**31)


def _recorded(path: Path) -> dict:
    """(split, round, prompt) → record, from an interrupted run's samples.jsonl (a torn last line is removed from
    the file, so the next record starts on a line of its own)."""
    return {(r["split"], r["round"], r["prompt"]): r for r in read_jsonl(path, repair=True)}


def _write_outputs(run: RunDir, rows: dict[str, list[dict]], report: dict) -> None:
    from datasets import Dataset, DatasetDict

    data = DatasetDict({s: Dataset.from_dict({c: [r[c] for r in rs] for c in COLUMNS}) for s, rs in rows.items()})
    with atomic_dir(run.path / "dataset") as tmp:
        data.save_to_disk(str(tmp))
    for split, rs in rows.items():
        atomic_write_text(run.path / "jsonl" / f"{split}.jsonl", "".join(json.dumps(r) + "\n" for r in rs))
    atomic_write_json(run.path / "pairs_report.json", report)
    _histogram(run.path / "gap_histogram.png", rows)


def _histogram(path: Path, rows: dict[str, list[dict]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for split, rs in rows.items():
        gaps = [r["chosen_score"] - r["rejected_score"] for r in rs]
        if gaps:
            ax.hist(gaps, bins=40, alpha=0.6, label=f"{split} (n={len(gaps)})")
    ax.set_xlabel("score gap (chosen − rejected)")
    ax.set_ylabel("pairs")
    ax.set_title("Preference-pair score gaps")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def summary_lines(report: dict) -> list[str]:
    out = []
    for split, c in report["splits"].items():
        g = c["gaps"]
        gap = f"gap median {g['median']:.3f} mean {g['mean']:.3f} sd {g['sd']:.3f}" if g["count"] else "no pairs"
        out.append(f"{split}: {c.get('pairs', 0)} pairs from {c['prompts_with_pairs']}/{c['prompts']} prompts "
                   f"({c['dropped_prompts']} dropped after {c['rounds']} round(s)); {c['samples']} samples, "
                   f"{c['samples_kept']} kept; {gap}")
    console.print("\n".join(out), highlight=False)
    return out
