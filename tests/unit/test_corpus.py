from alignlab.data.reviews.corpus import CorpusSpec, chat_rows, pretrain_texts, prompts_for_split, sft_rows
from alignlab.rewards.rules import vader_compound

SPEC = CorpusSpec(train_prompts=300, eval_prompts=60, chat_rows=80, pretrain_docs=400)


def test_same_seed_same_corpus_other_seed_differs():
    assert sft_rows(SPEC, "train") == sft_rows(SPEC, "train")
    assert pretrain_texts(SPEC) == pretrain_texts(SPEC)
    other = CorpusSpec(**{**SPEC.__dict__, "seed": 1})
    assert sft_rows(other, "train") != sft_rows(SPEC, "train")
    assert SPEC.fingerprint() != other.fingerprint()


def test_prompt_splits_are_disjoint_and_unique():
    splits = {s: prompts_for_split(SPEC, s) for s in ("train", "validation", "test")}
    for s, prompts in splits.items():
        assert len(prompts) == len(set(prompts)), s
    assert not set(splits["train"]) & set(splits["validation"])
    assert not set(splits["train"]) & set(splits["test"])
    assert not set(splits["validation"]) & set(splits["test"])


def test_vocabulary_is_rich_and_sentiments_are_separable():
    rows = sft_rows(SPEC, "train")
    words = {w for r in rows for w in (r["prompt"] + r["response"]).lower().split()}
    assert len(words) > 700
    assert len({r["prompt"].split(" ")[0] for r in rows}) > 15  # many opening structures
    by = {s: vader_compound([r["response"] for r in rows if r["sentiment"] == s]) for s in ("positive", "negative")}
    assert sum(by["positive"]) / len(by["positive"]) > 0.5
    assert sum(by["negative"]) / len(by["negative"]) < -0.5


def test_chat_rows_are_conversations():
    row = chat_rows(SPEC, "train")[0]
    assert row["messages"][-1]["role"] == "assistant" and row["messages"][-2]["role"] == "user"


def test_web_mix_faults_lower_the_judge_and_leave_clean_data_alone():
    import random
    import statistics

    from alignlab.data.reviews.corpus import NOISE_KINDS, continuation, web_document
    from alignlab.data.reviews.judge import judge_scores

    web = CorpusSpec(**{**SPEC.__dict__, "web_noise": 0.7})
    # only pretraining changes: SFT rows (and so pairs and held-out data) are the clean spec's
    assert sft_rows(web, "train") == sft_rows(SPEC, "train")
    assert web.fingerprint() != SPEC.fingerprint()
    assert pretrain_texts(CorpusSpec(**{**SPEC.__dict__, "web_noise": 0.0})) == pretrain_texts(SPEC)
    changed = sum(a != b for a, b in zip(pretrain_texts(web), pretrain_texts(SPEC), strict=True))
    assert changed > 0.5 * SPEC.pretrain_docs
    rng = random.Random(0)
    clean = [" " + continuation(rng, "positive", "The Silent River") for _ in range(200)]
    base = statistics.fmean(judge_scores(["x"] * 200, clean))
    for kind in NOISE_KINDS:
        docs = [" " + web_document(rng, "positive", "The Silent River", kind) for _ in range(200)]
        assert statistics.fmean(judge_scores(["x"] * 200, docs)) < base - 0.05, kind
        if kind == "cut_off":
            assert not any(d.rstrip().endswith((".", "!", "?")) for d in docs)
        if kind == "run_on":
            assert statistics.fmean(len(d.split()) for d in docs) > 2.5 * statistics.fmean(len(c.split()) for c in clean)
