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
