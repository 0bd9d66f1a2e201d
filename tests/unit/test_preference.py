import pytest
import torch
from datasets import Dataset

from alignlab.algorithms.reward_model import RewardModelTraining, pair_collate
from alignlab.config.data import DataConfig
from alignlab.config.offline import RMConfig
from alignlab.data.batching import batch_tokens
from alignlab.data.preference import encode_for_reward, labelled_pairs, read_pairs
from alignlab.data.sources import DataError


def test_string_rows():
    rows = Dataset.from_list([{"prompt": "P", "chosen": " good", "rejected": " bad", "chosen_score": 0.9,
                               "rejected_score": 0.1}])
    (p,) = read_pairs(rows, DataConfig())
    assert (p.chosen_prompt, p.chosen, p.rejected) == ("P", " good", " bad")
    assert p.score_gap == pytest.approx(0.8)


def test_ultrafeedback_message_rows():
    user = {"role": "user", "content": "Review it"}
    rows = Dataset.from_list([{"prompt": "Review it", "score_chosen": 8.0, "score_rejected": 3.0,
                               "chosen": [user, {"role": "assistant", "content": "Great."}],
                               "rejected": [user, {"role": "assistant", "content": "Meh"}]}])
    (p,) = read_pairs(rows, DataConfig())
    assert p.chosen_prompt == [user] and p.chosen == "Great." and p.rejected == "Meh" and p.score_gap == 5.0


def test_missing_rejected_names_row_and_field():
    rows = Dataset.from_list([{"prompt": "a", "chosen": "x", "rejected": "y"},
                              {"prompt": "b", "chosen": "x", "rejected": None}])
    with pytest.raises(DataError, match=r"row 1: field 'rejected' is missing"):
        read_pairs(rows, DataConfig())


def test_message_rows_must_share_the_prompt():
    a = [{"role": "user", "content": "A"}, {"role": "assistant", "content": "x"}]
    b = [{"role": "user", "content": "B"}, {"role": "assistant", "content": "y"}]
    with pytest.raises(DataError, match="row 0: .*share the turns"):
        read_pairs(Dataset.from_list([{"chosen": a, "rejected": b}]), DataConfig())


def test_labelled_texts_make_positive_by_negative_pairs():
    rows = Dataset.from_list([{"text": f"pos{i}", "label": 1} for i in range(3)]
                             + [{"text": f"neg{i}", "label": 0} for i in range(2)])
    rm = RMConfig(label_field="label", positive_label=1, negative_label=0, max_pairs=100)
    pairs = labelled_pairs(rows, DataConfig(format="text"), rm, seed=0)
    assert len(pairs) == 6  # 3 × 2
    assert {(p.chosen, p.rejected) for p in pairs} == {(f"pos{i}", f"neg{j}") for i in range(3) for j in range(2)}
    sampled = labelled_pairs(rows, DataConfig(format="text"), rm.model_copy(update={"max_pairs": 4}), seed=0)
    assert len(sampled) == 4 and all(p.chosen.startswith("pos") for p in sampled)


class _CharTokenizer:
    """One id per character: truncation is easy to check by hand."""

    truncation_side = "right"

    def __call__(self, text, add_special_tokens=True, truncation=False, max_length=None):
        ids = [ord(ch) for ch in text]
        if truncation and len(ids) > max_length:
            ids = ids[-max_length:] if self.truncation_side == "left" else ids[:max_length]
        return {"input_ids": ids}


def test_reward_inputs_keep_the_end():
    ids, truncated = encode_for_reward([("abcdef", True), ("xy", True)], _CharTokenizer(), max_length=4)
    assert ids == [[ord(c) for c in "cdef"], [ord("x"), ord("y")]] and truncated == 1


def test_pair_collate_stacks_chosen_then_rejected():
    examples = [{"chosen_ids": [5, 6, 7], "rejected_ids": [8], "score_gap": 0.5},
                {"chosen_ids": [9], "rejected_ids": [1, 2], "score_gap": 0.0}]
    batch = pair_collate(0, max_padding=None)(examples)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [9, 0, 0], [8, 0, 0], [1, 2, 0]]
    assert batch["attention_mask"].sum().item() == 7
    assert RewardModelTraining().weight(batch) == 2
    assert torch.equal(batch["score_gap"], torch.tensor([0.5, 0.0]))
    # Forward groups (the default): no padding is allowed at 0, so the lengths 3 | 2 | 1, 1 make three groups
    grouped = pair_collate(0, max_padding=0.0)(examples)
    assert [g["input_ids"].tolist() for g in grouped["groups"]] == [[[5, 6, 7]], [[1, 2]], [[9], [8]]]
    assert grouped["order"].tolist() == [0, 2, 3, 1] and RewardModelTraining().weight(grouped) == 2
    assert batch_tokens(grouped) == (7, 7) and batch_tokens(batch) == (7, 12)


class _Chars(_CharTokenizer):
    eos_token_id = 1
    chat_template = None


def test_policy_examples_mask_replies_and_truncate_prompt_left_reply_right():
    from alignlab.data.preference import Pair, policy_examples

    pairs = [Pair("abcdef", "XY", "abcdef", "Z"),       # prompt cut to its last 3 tokens
             Pair("ab", "LONGREPLY", "ab", "S"),        # chosen reply cut at max_length
             Pair("abcdef", "", "abcdef", "Q"),          # an empty reply is still EOS: kept
             Pair("p", "same", "p", "same")]             # identical sides: dropped
    examples, stats = policy_examples(pairs, _Chars(), DataConfig(max_length=9, max_prompt_length=3))
    first = examples[0]
    assert first["chosen_ids"] == [ord(c) for c in "def"] + [ord("X"), ord("Y"), 1]
    assert first["chosen_mask"] == [0, 0, 0, 1, 1, 1]
    assert first["rejected_mask"] == [0, 0, 0, 1, 1]
    assert examples[1]["chosen_ids"] == [ord(c) for c in "abLONGREP"] and sum(examples[1]["chosen_mask"]) == 7
    assert stats.as_dict() | {"response_tokens": 0} == {"pairs": 4, "prompt_truncated": 4, "response_truncated": 1,
                                                       "dropped_no_response": 0, "dropped_identical": 1, "kept": 3,
                                                       "response_tokens": 0}


def test_preference_collate_pads_both_sides_and_carries_reference_logps():
    from alignlab.data.batching import preference_collate

    ex = [{"chosen_ids": [5, 6, 7], "chosen_mask": [0, 1, 1], "rejected_ids": [5, 8], "rejected_mask": [0, 1],
           "ref_chosen": -1.5, "ref_rejected": -2.5}]
    right, left = preference_collate(0, max_padding=None)(ex), preference_collate(0, "left", max_padding=None)(ex)
    assert right["input_ids"].tolist() == [[5, 6, 7], [5, 8, 0]] and left["input_ids"].tolist() == [[5, 6, 7], [0, 5, 8]]
    assert right["loss_mask"].tolist() == [[0, 1, 1], [0, 1, 0]] and left["loss_mask"].tolist() == [[0, 1, 1], [0, 0, 1]]
    assert left["attention_mask"].tolist() == [[1, 1, 1], [0, 1, 1]]
    assert right["ref_logps"].tolist() == [-1.5, -2.5]
