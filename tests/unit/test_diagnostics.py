"""Over-fitting and reward-hacking detectors on synthetic metric curves."""

from alignlab.evaluation.diagnostics import (
    Thresholds,
    diagnose,
    epoch_points,
    overfitting_flags,
    reward_hacking_flags,
)


def curve(split, values, metric="accuracy", steps_per_epoch=10):
    return [{"split": split, "step": e * steps_per_epoch, "epoch": float(e), metric: v} for e, v in enumerate(values)]


def test_epoch_points_keep_the_last_eval_of_each_epoch():
    rows = curve("eval", [0.5, 0.6]) + [{"split": "eval", "step": 5, "epoch": 0.5, "accuracy": 0.9}]
    assert [r["accuracy"] for r in epoch_points(rows, "eval")] == [0.5, 0.6]


def test_overfitting_flags_worsening_but_not_stalls_or_healthy_epochs():
    rows = (curve("train_eval", [0.50, 0.70, 0.90, 0.99, 1.0]) +
            curve("eval", [0.50, 0.65, 0.655, 0.60, 0.595]))
    flags = overfitting_flags(rows)
    # epoch 1 is healthy (both improve); epoch 2 stalls (+0.005, within 0.01): no flag; epoch 3 worsens by 0.055;
    # epoch 4 drops only 0.005 (within the tolerance): no flag
    assert [(f["epoch"], f["message"].split("held-out accuracy ")[1].split()[0]) for f in flags] == [(3, "worsened")]


def test_overfitting_on_loss_uses_a_relative_tolerance():
    rows = curve("train_eval", [2.0, 1.5, 1.0], "loss") + curve("eval", [2.0, 1.8, 1.81], "loss")
    # epoch 2: held-out loss rose by 0.01 < 1% of 1.8 (0.018): within the tolerance, no flag; with a 0.1%
    # tolerance (0.0018) it counts as worsening
    assert overfitting_flags(rows) == []
    assert [f["epoch"] for f in overfitting_flags(rows, Thresholds(overfit=0.001))] == [2]


def test_no_flag_when_train_does_not_improve():
    rows = curve("train_eval", [0.5, 0.5, 0.5]) + curve("eval", [0.5, 0.4, 0.3])
    assert overfitting_flags(rows) == []


def test_reward_hacking_proxy_up_gold_down():
    rows = [{"split": "eval", "step": s, "reward_mean": p, "gold_reward_mean": g, "entropy": 2.0}
            for s, p, g in [(0, 0.1, 0.1), (10, 0.5, 0.4), (20, 0.9, 0.2), (30, 0.95, 0.19)]]
    flags = reward_hacking_flags(rows)
    # step 10: both rise (fine); step 20: proxy +0.4, gold −0.2 → flag; step 30: changes below 0.02 → none
    assert [(f["kind"], f["step"]) for f in flags] == [("reward_hacking", 20)]


def test_diversity_drop_flag():
    rows = [{"split": "eval_samples", "step": s, "reward_mean": 0.0, "pooled_entropy": h, "entropy": 9.0}
            for s, h in [(0, 4.0), (10, 3.0), (20, 1.9), (30, 1.0)]]
    flags = reward_hacking_flags(rows)
    assert [(f["kind"], f["step"], f["metric"]) for f in flags] == [("diversity_drop", 20, "pooled_entropy")]
    assert diagnose(rows)["counts"] == {"overfitting": 0, "reward_hacking": 0, "diversity_drop": 1}
