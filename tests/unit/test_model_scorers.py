"""The model-based scorers against a tiny classifier saved by the test itself."""

import json

import pytest
import torch
from tests.conftest import MICRO
from transformers import AutoTokenizer, GPT2Config, GPT2ForSequenceClassification

from alignlab.config import ConfigError
from alignlab.models.builtin import cache_dir
from alignlab.rewards import build_scorer


def _save_classifier(folder, num_labels, alignlab_home):
    tok = AutoTokenizer.from_pretrained(cache_dir(MICRO))
    cfg = GPT2Config(vocab_size=len(tok), n_layer=1, n_embd=16, n_head=2, num_labels=num_labels,
                     pad_token_id=tok.pad_token_id, id2label={i: f"L{i}" for i in range(num_labels)},
                     label2id={f"L{i}": i for i in range(num_labels)})
    torch.manual_seed(0)
    model = GPT2ForSequenceClassification(cfg).eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model, tok


def test_classifier_label_logit(alignlab_home, tmp_path):
    model, tok = _save_classifier(tmp_path, 2, alignlab_home)
    prompts, replies = ["The film", "A story"], [" was great.", " dragged on and on"]
    got = build_scorer(f"classifier:{tmp_path}:l1").score(prompts, replies)
    with torch.no_grad():
        for k in range(2):
            ids = tok(prompts[k] + replies[k], return_tensors="pt")["input_ids"]
            assert torch.isclose(got[k], model(input_ids=ids).logits[0, 1], atol=1e-5)
    assert torch.allclose(build_scorer(f"classifier:{tmp_path}:1").score(prompts, replies), got)
    with pytest.raises(ConfigError, match="no label 'POSITIVE'"):
        build_scorer(f"classifier:{tmp_path}:POSITIVE")


def test_reward_model_reads_its_rendering_metadata(alignlab_home, tmp_path):
    model, tok = _save_classifier(tmp_path, 1, alignlab_home)
    (tmp_path / "alignlab_reward.json").write_text(json.dumps({"chat": True, "chat_template": None,
                                                               "max_length": 64}))
    got = build_scorer(f"reward_model:{tmp_path}").score(["Hi"], [" there."])
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": " there."}],
                                   tokenize=False)
    with torch.no_grad():
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        assert torch.isclose(got[0], model(input_ids=ids).logits[0, 0], atol=1e-5)


def test_reward_model_rejects_a_multi_label_classifier(alignlab_home, tmp_path):
    _save_classifier(tmp_path, 3, alignlab_home)
    with pytest.raises(ConfigError, match="3 labels"):
        build_scorer(f"reward_model:{tmp_path}")
