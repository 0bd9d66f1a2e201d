"""Pieces of the online loop checked by hand: baseline, adaptive β, masks, collapse, critics, prompt order,
mini-batch slicing, and the KL gradient the study-B bug lost."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPT2Model

from alignlab.algorithms.advantages import MovingBaseline
from alignlab.algorithms.kl_control import KLController
from alignlab.algorithms.logprobs import token_stats
from alignlab.config import ConfigError, load_config
from alignlab.config.online import KLConfig
from alignlab.losses.kl import KL_ESTIMATORS
from alignlab.models.value import ValueHead, ValueModel
from alignlab.pipelines.online import check_online_config
from alignlab.rollout.statistics import identical_fraction
from alignlab.training.online import (
    Experience,
    Settings,
    explained_variance,
    last_token,
    prompts_for_iteration,
    steps_per_iteration,
)


def test_moving_baseline_starts_at_the_first_mean_then_decays():
    b = MovingBaseline(0.9)
    assert b.current(torch.tensor([1.0, 3.0])) == 2.0  # no history: the batch's own mean
    b.update(2.0)
    assert b.value == 2.0
    b.update(12.0)
    assert b.value == pytest.approx(0.9 * 2.0 + 0.1 * 12.0)  # 3.0
    assert b.current(torch.tensor([100.0])) == pytest.approx(3.0)


def test_adaptive_kl_controller_by_hand():
    kl = KLController(KLConfig(beta=0.2, adaptive=True, target=1.0, horizon=100))
    kl.update(kl=1.5, samples=10)  # error clipped to 0.2 → β·(1 + 0.2·10/100)
    assert kl.beta == pytest.approx(0.2 * 1.02)
    kl.update(kl=0.9, samples=50)  # error −0.1 → ·(1 − 0.05)
    assert kl.beta == pytest.approx(0.2 * 1.02 * 0.95)
    fixed = KLController(KLConfig(beta=0.2))
    fixed.update(kl=100.0, samples=10)
    assert fixed.beta == 0.2


def test_last_token_marks_the_final_reply_token():
    mask = torch.tensor([[0, 1, 1, 1, 0], [1, 0, 0, 0, 0], [0, 0, 0, 1, 1]]).bool()
    assert last_token(mask).int().tolist() == [[0, 0, 0, 1, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 1]]


def test_identical_fraction():
    assert identical_fraction(["a", "b", "c", "d"], 4) == 0.0
    assert identical_fraction(["a", "a", "a", "a"], 4) == 1.0
    # prompt 1: 2 distinct of 3 → 1/2; prompt 2: all differ → 0
    assert identical_fraction(["a", "a", "b", "x", "y", "z"], 3) == pytest.approx(0.25)
    assert identical_fraction(["a"], 1) == 0.0


def test_explained_variance():
    r = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(r, r) == 1.0
    assert explained_variance(torch.full_like(r, 2.5), r) == pytest.approx(0.0)
    assert explained_variance(r * 0, torch.ones(4)) == 0.0  # constant returns: defined as 0


def test_prompts_cover_the_set_before_repeating_and_split_across_processes():
    prompts = [f"p{i}" for i in range(10)]
    first_pass = [p for it in range(5) for p in prompts_for_iteration(prompts, 2, it, seed=3, rank=0, world=1)]
    assert sorted(first_pass) == sorted(prompts)  # 5 iterations × 2 = one full pass, no repeat
    assert prompts_for_iteration(prompts, 2, 7, 3, 0, 1) == prompts_for_iteration(prompts, 2, 7, 3, 0, 1)
    # two processes: disjoint shares of the same global order
    r0, r1 = (prompts_for_iteration(prompts, 2, 0, 3, rank, 2) for rank in (0, 1))
    assert r0 + r1 == first_pass[:4]


def test_experience_rows_cut_padding_columns_consistently():
    # 3 rows, T = 6; row 2 has the only token in column 0 and the only token in column 5
    attn = torch.tensor([[0, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
    ids = torch.arange(18).view(3, 6)
    pair = torch.arange(15).view(3, 5).float()  # [N, T-1]
    exp = Experience(ids, attn, attn, attn[:, 1:].bool(), pair, pair)
    sub = exp.rows(torch.tensor([0, 1]))
    assert sub.input_ids.tolist() == [[1, 2, 3, 4], [7, 8, 9, 10]]  # token columns 1..4 are used
    assert sub.old_logps.tolist() == [[1, 2, 3], [6, 7, 8]]  # their next-token columns 1..3
    assert sub.ref_logps is None
    assert exp.rows(torch.tensor([2])).input_ids.shape == (1, 6)


def test_steps_per_iteration():
    cfg = load_config(None, ["rl.prompts_per_iteration=10", "rl.k=4", "train.batch_size=8", "train.grad_accum=2",
                             "rl.update_epochs=3"])
    assert steps_per_iteration(cfg) == 3 * 3  # 40 replies / 16 per step → 3 steps, 3 epochs


def test_settings_defaults_and_overrides():
    from alignlab.methods import METHODS

    def plugin(name):
        return METHODS[name].algorithm_class()

    cfg = load_config(None, [])
    assert Settings.of(cfg, plugin("grpo")) == Settings("grpo", "k3", "in_loss", False)
    assert Settings.of(cfg, plugin("ppo")) == Settings("gae", "k1", "in_reward", True)
    cfg = load_config(None, ["kl.mode=in_loss", "kl.estimator=k2", "advantage.whiten=true"])
    assert Settings.of(cfg, plugin("rloo")) == Settings("rloo", "k2", "in_loss", True)


@pytest.mark.parametrize(("overrides", "verb", "message"), [
    (["ref.mode=precomputed"], "rloo", "ref.mode=precomputed"),
    (["train.max_steps=5"], "ppo", "rl.iterations"),
    (["rl.k=1"], "rloo", "rl.k=1"),
    (["rl.k=1"], "grpo", "rl.k=1"),
    (["advantage.estimator=gae"], "reinforce", "value model"),
])
def test_online_config_errors_name_the_field(overrides, verb, message):
    with pytest.raises(ConfigError, match=message):
        check_online_config(load_config(None, overrides), verb)


def test_kl_estimator_validation_names_allowed_values():
    with pytest.raises(ConfigError, match="k1"):
        load_config(None, ["kl.estimator=k4"])


def test_k2_loss_gives_the_score_function_gradient_of_the_kl():
    """∇ Σ ½(log π − log π_ref)² = Σ (log π − log π_ref) ∇log π: REINFORCE with reward −KL_t, so k2 kept in the
    graph pulls towards the reference; a detached KL (study B's bug) gives no gradient at all."""
    logits = torch.tensor([[0.3, -0.2, 1.0], [0.1, 0.4, -0.5]], requires_grad=True)
    tokens = torch.tensor([2, 0])
    ref = torch.tensor([-0.9, -1.7])
    logp = torch.log_softmax(logits, -1).gather(-1, tokens[:, None]).squeeze(-1)
    (g_k2,) = torch.autograd.grad(KL_ESTIMATORS["k2"](logp, ref).sum(), logits, retain_graph=True)
    (g_logp,) = torch.autograd.grad((logp.detach() - ref).mul(logp).sum(), logits, retain_graph=True)
    torch.testing.assert_close(g_k2, g_logp)
    detached = KL_ESTIMATORS["k1"](logp, ref).detach().sum()
    assert not detached.requires_grad


@pytest.fixture(scope="module")
def gpt2():
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=50, n_positions=32, n_embd=16, n_layer=1, n_head=2, resid_pdrop=0, embd_pdrop=0,
                     attn_pdrop=0)
    return cfg, GPT2LMHeadModel(cfg).eval()


def test_token_stats_entropy_and_value_head_by_hand(gpt2):
    cfg, model = gpt2
    ids = torch.tensor([[5, 6, 7, 8]])
    attn = torch.ones_like(ids)
    loss_mask = torch.tensor([[0, 0, 1, 1]])
    head = ValueHead(cfg.n_embd)
    torch.nn.init.normal_(head.summary.weight)
    st = token_stats(model, ids, attn, loss_mask, entropy=True, value_head=head)
    out = model(ids, output_hidden_states=True)
    logp = torch.log_softmax(out.logits[0, :-1].float(), -1)  # [3, V]
    assert st.mask.tolist() == [[False, True, True]]
    torch.testing.assert_close(st.logps[0, 1:], logp[[1, 2], [7, 8]])
    torch.testing.assert_close(st.entropy[0, 1:], -(logp.exp() * logp).sum(-1)[1:])
    torch.testing.assert_close(st.values[0, 1:], head(out.hidden_states[-1][0, 1:3]).squeeze(-1))
    assert st.logps[0, 0] == 0 and st.entropy[0, 0] == 0 and st.values[0, 0] == 0


def test_value_model_starts_at_zero_and_ignores_left_padding(gpt2, tmp_path):
    cfg, _ = gpt2
    critic = ValueModel(GPT2Model(cfg))
    ids, attn = torch.tensor([[0, 5, 6], [4, 5, 6]]), torch.tensor([[0, 1, 1], [1, 1, 1]])
    assert critic(ids, attn).abs().sum() == 0  # zero head: V = 0 before training
    torch.nn.init.normal_(critic.head.summary.weight)
    padded = critic(ids, attn)[0, 1:]
    alone = critic(torch.tensor([[5, 6]]), torch.tensor([[1, 1]]))[0]
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)  # position ids follow the mask
    critic.save(tmp_path / "value")
    again = ValueHead(cfg.n_embd).load(tmp_path / "value")
    torch.testing.assert_close(again.summary.weight, critic.head.summary.weight)
