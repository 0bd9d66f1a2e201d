"""Weight merging by hand: SLERP geometry and fallbacks, task vectors that do not alias, LITI, EMA by μ."""

from __future__ import annotations

import math

import pytest
import torch

from alignlab.models.merge import (
    MERGE_METHODS,
    angle,
    ema_update_,
    linear_merge,
    liti,
    mean_task_vector_angle,
    slerp_merge,
    slerp_task_vectors,
    slerp_tensor,
    snapshot,
    task_arithmetic,
    task_vector,
)


def test_slerp_of_orthogonal_unit_vectors_at_half_has_norm_one_and_equal_angles():
    e1, e2 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    mid = slerp_tensor(e1, e2, 0.5)
    assert mid.norm().item() == pytest.approx(1.0)
    assert angle(mid, e1) == pytest.approx(math.pi / 4) and angle(mid, e2) == pytest.approx(math.pi / 4)
    torch.testing.assert_close(mid, torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2))
    torch.testing.assert_close(slerp_tensor(e1, e2, 0.0), e1)
    torch.testing.assert_close(slerp_tensor(e1, e2, 1.0), e2)


@pytest.mark.parametrize("d2", [torch.tensor([2.0, 4.0]), torch.tensor([-1.0, -2.0]), torch.zeros(2)])
def test_slerp_of_parallel_antiparallel_or_zero_vectors_is_linear(d2):
    d1 = torch.tensor([1.0, 2.0])
    out = slerp_tensor(d1, d2, 0.3)
    torch.testing.assert_close(out, 0.7 * d1 + 0.3 * d2)
    assert torch.isfinite(out).all()


def test_slerp_merge_uses_task_vectors_not_full_weights():
    init = {"w": torch.tensor([10.0, 10.0])}
    a, b = {"w": torch.tensor([11.0, 10.0])}, {"w": torch.tensor([10.0, 11.0])}
    merged = slerp_merge(init, [a, b], 0.5)
    # task vectors e1, e2 are orthogonal: the merge moves by (1, 1)/√2 from init, not by the linear (0.5, 0.5)
    torch.testing.assert_close(merged["w"], torch.tensor([10.0, 10.0]) + torch.tensor([1.0, 1.0]) / math.sqrt(2))


def test_slerp_of_three_rotates_the_running_merge_a_third_of_the_way():
    deltas = [{"w": torch.eye(3)[i]} for i in range(3)]
    out = slerp_task_vectors(deltas)["w"]
    # first e1, e2 at λ=1/2 → (1, 1, 0)/√2; then 1/3 of the 90° towards e3: sin 60°·that + sin 30°·e3
    expected = math.sin(math.pi / 3) * torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2) + 0.5 * torch.eye(3)[2]
    torch.testing.assert_close(out, expected)
    assert out.norm().item() == pytest.approx(1.0, rel=1e-5)


def test_task_vectors_and_snapshots_do_not_alias_live_parameters():
    model = torch.nn.Linear(2, 2)
    init = snapshot(model)
    before = {k: v.clone() for k, v in init.items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()  # a training step on the live parameters
    for k in init:
        torch.testing.assert_close(init[k], before[k])  # θ_init unchanged
    delta = task_vector(snapshot(model), init)
    assert delta["weight"].abs().sum() > 0
    model.weight.data.add_(1.0)
    assert not torch.equal(delta["weight"], model.weight - init["weight"])  # δ is a value, not a view


def test_liti_moves_the_init_that_the_next_run_loads():
    model = torch.nn.Linear(2, 1, bias=False)
    init = snapshot(model)
    merged = {"weight": init["weight"] + 2.0}
    new_init = liti(init, merged, 0.5)
    torch.testing.assert_close(new_init["weight"], init["weight"] + 1.0)
    model.load_state_dict(new_init)
    torch.testing.assert_close(model.weight.detach(), init["weight"] + 1.0)  # the next run starts from it


def test_ema_moves_by_exactly_mu_towards_the_policy():
    ema, theta = {"w": torch.tensor([0.0, 10.0]), "step": torch.tensor(3)}, {"w": torch.tensor([1.0, 0.0]),
                                                                             "step": torch.tensor(9)}
    ema_update_(ema, theta, 0.01)
    torch.testing.assert_close(ema["w"], torch.tensor([0.01, 9.9]))
    assert ema["step"].item() == 3  # integer buffers are not averaged


def test_linear_merge_and_key_mismatch():
    a, b = {"w": torch.tensor([0.0, 2.0])}, {"w": torch.tensor([2.0, 4.0])}
    torch.testing.assert_close(linear_merge([a, b])["w"], torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(linear_merge([a, b], [0.25, 0.75])["w"], torch.tensor([1.5, 3.5]))
    with pytest.raises(ValueError, match="differ"):
        linear_merge([a, {"v": torch.zeros(2)}])


def test_bf16_inputs_are_merged_in_fp32_and_keep_their_dtype():
    init = {"w": torch.zeros(4, dtype=torch.bfloat16)}
    thetas = [{"w": torch.tensor([1.0, 0, 0, 0], dtype=torch.bfloat16)},
              {"w": torch.tensor([0, 1.0, 0, 0], dtype=torch.bfloat16)}]
    assert slerp_merge(init, thetas)["w"].dtype == torch.bfloat16


def test_task_arithmetic_by_hand():
    init = {"w": torch.tensor([1.0, 1.0])}
    a, b = {"w": torch.tensor([3.0, 1.0])}, {"w": torch.tensor([1.0, 5.0])}
    # δa = (2, 0), δb = (0, 4): init + 0.5·δa + 0.25·δb = (2, 2)
    torch.testing.assert_close(task_arithmetic(init, [a, b], [0.5, 0.25])["w"], torch.tensor([2.0, 2.0]))
    # default weights 1/M: the plain average
    torch.testing.assert_close(task_arithmetic(init, [a, b])["w"], torch.tensor([2.0, 3.0]))


def test_merge_methods_table_and_its_errors():
    init = {"w": torch.tensor([0.0, 0.0])}
    a, b = {"w": torch.tensor([2.0, 0.0])}, {"w": torch.tensor([0.0, 2.0])}
    assert set(MERGE_METHODS) == {"linear", "task_arithmetic", "slerp", "liti"}
    torch.testing.assert_close(MERGE_METHODS["linear"](None, [a, b], [0.25, 0.75], 0.5, 0.5)["w"],
                               torch.tensor([0.5, 1.5]))
    torch.testing.assert_close(MERGE_METHODS["slerp"](init, [a, b], None, 0.5, 0.5)["w"],
                               torch.tensor([math.sqrt(2), math.sqrt(2)]))
    torch.testing.assert_close(MERGE_METHODS["liti"](init, [a], None, 0.5, 0.25)["w"], torch.tensor([0.5, 0.0]))
    with pytest.raises(ValueError, match="--base"):
        MERGE_METHODS["slerp"](None, [a, b], None, 0.5, 0.5)
    with pytest.raises(ValueError, match="exactly 1"):
        MERGE_METHODS["liti"](init, [a, b], None, 0.5, 0.5)
    with pytest.raises(ValueError, match="shape"):
        linear_merge([a, {"w": torch.zeros(3)}])


def test_mean_task_vector_angle_by_hand():
    init = {"w": torch.zeros(2), "v": torch.zeros(2), "n": torch.tensor([3])}
    a = {"w": torch.tensor([1.0, 0.0]), "v": torch.tensor([1.0, 1.0]), "n": torch.tensor([3])}
    b = {"w": torch.tensor([0.0, 1.0]), "v": torch.tensor([1.0, 1.0]), "n": torch.tensor([3])}
    # w: 90°, v: 0°, n: not floating → mean 45°
    assert mean_task_vector_angle(init, [a, b]) == pytest.approx(math.pi / 4, abs=1e-3)
