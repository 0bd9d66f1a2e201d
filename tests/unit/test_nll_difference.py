from alignlab.evaluation.heldout import nll_difference


def test_paired_nll_difference_by_hand():
    # differences −1, −2, −3 nats over 3 examples and 30 target tokens of `mine`
    out = nll_difference([9.0, 8.0, 7.0], [10.0, 10.0, 10.0], tokens=30)
    assert out["nll_diff_per_example"] == -2.0
    assert abs(out["nll_diff_per_token"] - (-0.2)) < 1e-12
    half = 1.959963984540054 * 1.0 / 3 ** 0.5  # s = 1
    assert abs(out["ci_high"] - (-2.0 + half)) < 1e-6 and abs(out["ci_low"] - (-2.0 - half)) < 1e-6
    assert out["better"] == 1.0 and out["examples"] == 3
