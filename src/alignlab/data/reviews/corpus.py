"""Deterministic generator of the built-in "reviews" corpus.

Openings (the prompts) mention a film title; continuations are positive, negative, mixed or neutral.
Titles are split into disjoint train/validation/test groups, so no held-out prompt (not even its film)
appears in training. The same seed always gives the same corpus.

Pretraining text can be a *web mix* (`CorpusSpec.web_noise`): a share of its documents is a review as a web page
holds it rather than as an editor would keep it, in one of `NOISE_KINDS`: off-topic chatter spliced in, a
sentence pasted twice or three times, the page cut off mid-sentence, or several reviews run together. SFT rows,
pairs and held-out data are always clean, so SFT on a web-mix base has something to teach (format, completeness,
staying on topic), as SFT on a web-pretrained model does.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass

from alignlab.data.reviews import phrases as P

SENTIMENTS = ("positive", "negative", "mixed", "neutral")
SENTIMENT_WEIGHTS = (0.3, 0.3, 0.25, 0.15)
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class CorpusSpec:
    seed: int = 0
    train_prompts: int = 2400
    eval_prompts: int = 300
    responses_per_prompt: int = 2
    chat_rows: int = 1200
    pretrain_docs: int = 12000
    web_noise: float = 0.0  # share of pretraining documents in a noisy web form (0 = every document clean)

    def fingerprint(self) -> str:
        fields = {k: v for k, v in self.__dict__.items() if k != "web_noise" or v}  # clean specs keep their hash
        payload = json.dumps(fields, sort_keys=True) + _bank_digest(web=bool(self.web_noise))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def titles_by_split(seed: int) -> dict[str, list[str]]:
    """All 1600 titles, shuffled with the seed and cut 80/10/10 into disjoint splits."""
    titles = [f"The {a} {n}" for a in P.TITLE_ADJ for n in P.TITLE_NOUN]
    random.Random(seed).shuffle(titles)
    a, b = int(0.8 * len(titles)), int(0.9 * len(titles))
    return {"train": titles[:a], "validation": titles[a:b], "test": titles[b:]}


def _slots(rng: random.Random, title: str) -> dict[str, str]:
    companion = rng.choice(P.COMPANION)
    aspect, aspect2 = rng.sample(P.ASPECT, 2)
    pos, pos2 = rng.sample(P.POS_ADJ, 2)
    neg, neg2 = rng.sample(P.NEG_ADJ, 2)
    return {
        "title": title, "when": rng.choice(P.WHEN), "companion": companion,
        "companion_cap": companion[0].upper() + companion[1:], "creator": rng.choice(P.CREATOR),
        "expectation": rng.choice(P.EXPECTATION), "genre": rng.choice(P.GENRE), "aspect": aspect,
        "aspect2": aspect2, "role": rng.choice(P.ROLE), "performer": rng.choice(P.PERFORMER),
        "plot": rng.choice(P.PLOT_EVENT), "pos": pos, "pos2": pos2, "neg": neg, "neg2": neg2,
        "pos_int": rng.choice(P.POS_INTENSIFIER), "neg_int": rng.choice(P.NEG_INTENSIFIER),
        "neutral": rng.choice(P.NEUTRAL_ADJ), "pos_noun": rng.choice(P.POS_NOUN),
        "minutes": str(rng.randrange(85, 181, 5)), "language": rng.choice(P.LANGUAGE),
        "decade": rng.choice(P.DECADE), "place": rng.choice(P.PLACE),
    }


def opening(rng: random.Random, title: str) -> str:
    return rng.choice(P.OPENINGS).format(**_slots(rng, title))


def _sentences(rng: random.Random, bank: list[str], title: str, k: int) -> list[str]:
    return [rng.choice(bank).format(**_slots(rng, title)) for _ in range(k)]


def continuation(rng: random.Random, sentiment: str, title: str) -> str:
    """2–4 sentences of the given sentiment; `mixed` joins a positive and a negative half."""
    banks = {"positive": P.POSITIVE, "negative": P.NEGATIVE, "neutral": P.NEUTRAL}
    if sentiment == "mixed":
        first, second = rng.sample([P.POSITIVE, P.NEGATIVE], 2)
        parts = _sentences(rng, first, title, rng.randint(1, 2))
        tail = _sentences(rng, second, title, 1)[0]
        body = _join(parts) + rng.choice(P.MIXED_JOIN) + tail
    else:
        body = _join(_sentences(rng, banks[sentiment], title, rng.randint(2, 4)))
    if rng.random() < 0.5:
        body += " " + rng.choice(P.CLOSERS[sentiment])
    return body


def _join(sentences: list[str]) -> str:
    out = []
    for i, s in enumerate(sentences):
        out.append(s if i == 0 else s[0].upper() + s[1:])
    return " ".join(out)


def pick_sentiment(rng: random.Random) -> str:
    return rng.choices(SENTIMENTS, weights=SENTIMENT_WEIGHTS)[0]


def prompts_for_split(spec: CorpusSpec, split: str) -> list[str]:
    """Unique openings whose titles belong to `split` only."""
    return list(prompt_titles(spec, split))


def prompt_titles(spec: CorpusSpec, split: str) -> dict[str, str]:
    n = spec.train_prompts if split == "train" else spec.eval_prompts
    rng = random.Random(f"{spec.seed}-prompts-{split}")
    titles = titles_by_split(spec.seed)[split]
    seen: dict[str, str] = {}
    while len(seen) < n:
        title = rng.choice(titles)
        seen.setdefault(opening(rng, title), title)
    return seen


def sft_rows(spec: CorpusSpec, split: str) -> list[dict]:
    """Prompt/response rows: each prompt continued by `responses_per_prompt` reviews of random sentiment."""
    rng = random.Random(f"{spec.seed}-sft-{split}")
    rows = []
    for prompt, title in prompt_titles(spec, split).items():
        for _ in range(spec.responses_per_prompt):
            sentiment = pick_sentiment(rng)
            rows.append({"prompt": prompt, "response": " " + continuation(rng, sentiment, title),
                         "sentiment": sentiment})
    return rows


def chat_rows(spec: CorpusSpec, split: str) -> list[dict]:
    """Instruction/response conversations in `messages` form, for chat-style SFT."""
    rng = random.Random(f"{spec.seed}-chat-{split}")
    titles = titles_by_split(spec.seed)[split]
    n = spec.chat_rows if split == "train" else max(1, spec.chat_rows // 8)
    rows = []
    for _ in range(n):
        title = rng.choice(titles)
        template, forced = rng.choice(P.INSTRUCTIONS)
        sentiment = forced or pick_sentiment(rng)
        slots = _slots(rng, title) | {"sentiment": sentiment if sentiment != "mixed" else "balanced"}
        messages = []
        system = rng.choice(P.SYSTEM_PROMPTS)
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": template.format(**slots)})
        reply = continuation(rng, sentiment, title)
        messages.append({"role": "assistant", "content": reply[0].upper() + reply[1:]})
        rows.append({"messages": messages, "sentiment": sentiment})
    return rows


def pretrain_texts(spec: CorpusSpec) -> list[str]:
    """Full reviews (opening + continuation) from training titles only, for base-model pretraining; with
    `spec.web_noise` > 0 that share of them in a noisy web form (`web_document`)."""
    rng = random.Random(f"{spec.seed}-pretrain")
    titles = titles_by_split(spec.seed)["train"]
    docs = []
    for title in (rng.choice(titles) for _ in range(spec.pretrain_docs)):
        head, sentiment = opening(rng, title), pick_sentiment(rng)
        if spec.web_noise and rng.random() < spec.web_noise:
            docs.append(f"{head} {web_document(rng, sentiment, title)}")
        else:
            docs.append(f"{head} {continuation(rng, sentiment, title)}")
    return docs


NOISE_KINDS = ("off_topic", "repeat", "cut_off", "run_on")
WEB_BANKS = ("OFF_TOPIC",)  # phrase banks only a web mix reads


def web_document(rng: random.Random, sentiment: str, title: str, kind: str | None = None) -> str:
    """A continuation as a web page might hold it, one `NOISE_KINDS` fault (random unless `kind` is given):
    `off_topic` splices one or two chatter lines (`phrases.OFF_TOPIC`) between its sentences, `repeat` pastes one
    sentence two or three times in a row, `cut_off` stops in the middle of the last sentence, `run_on` runs three to
    four reviews of the same sentiment together (long)."""
    kind = kind or rng.choice(NOISE_KINDS)
    if kind == "run_on":
        parts = [continuation(rng, sentiment, title) for _ in range(rng.randint(3, 4))]
        return " ".join([parts[0]] + [p[0].upper() + p[1:] for p in parts[1:]])
    sentences = _SPLIT.findall(continuation(rng, sentiment, title))
    if kind == "off_topic":
        for _ in range(rng.randint(1, 2)):
            line = rng.choice(P.OFF_TOPIC)
            sentences.insert(rng.randint(1, len(sentences)), line[0].upper() + line[1:])
    elif kind == "repeat":
        i = rng.randrange(len(sentences))
        sentences[i + 1:i + 1] = [sentences[i]] * rng.randint(1, 2)
    elif kind == "cut_off":
        last = max(i for i, x in enumerate(sentences) if len(x.split()) > 2 or i == 0)  # a closer is too short
        words = sentences[last].split()
        sentences[last:] = [" ".join(words[:rng.randint(1, max(1, len(words) - 1))]).rstrip(".!?,")]
    else:
        raise ValueError(f"unknown noise kind '{kind}'; allowed: {', '.join(NOISE_KINDS)}")
    return " ".join(s.strip() for s in sentences)


_SPLIT = re.compile(r"[^.!?]+[.!?]+")


def _bank_digest(web: bool) -> str:
    banks = {k: v for k, v in vars(P).items() if k.isupper() and (web or k not in WEB_BANKS)}
    return hashlib.sha256(json.dumps(banks, sort_keys=True).encode()).hexdigest()[:16]
