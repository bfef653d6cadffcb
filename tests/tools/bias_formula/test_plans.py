"""BiasSpec -> TraversalPlans for a model: latents, groups and attributes from the model's
metadata; bad indices, groups and attributes are clear UserErrors."""

from __future__ import annotations

import pytest

from agent.errors import UserError
from tools.bias_formula import DEFAULT_FORMULAS, parse_bias
from tools.bias_formula.plans import BiasSpec, plan_for_model, traversal_values

VALUES = traversal_values(3.0, 5)


def ids(plans) -> list[str]:
    return [plan.id for plan in plans]


def test_disentanglement_plans_one_latent_at_a_time() -> None:
    plans = plan_for_model(parse_bias(DEFAULT_FORMULAS["disentanglement"]), 4, VALUES)
    assert ids(plans) == ["z0", "z1", "z2", "z3"]
    assert [p.indices for p in plans] == [[0], [1], [2], [3]]
    assert all(p.values == VALUES and p.mode == "absolute" and p.kind == "disentanglement" for p in plans)


def test_numeric_product_bounds_name_the_latents_and_are_checked() -> None:
    spec = parse_bias(r"p(z) = \prod_{i=0}^{2} p(z_i)")
    assert ids(plan_for_model(spec, 10, VALUES)) == ["z0", "z1", "z2"]
    with pytest.raises(UserError, match=r"names latent 3, outside the model's latents 0..2"):
        plan_for_model(parse_bias(r"p(z) = \prod_{i=0}^{3} p(z_i)"), 3, VALUES)


def test_combination_plans_one_group_at_a_time() -> None:
    spec = parse_bias(DEFAULT_FORMULAS["combination"])
    plans = plan_for_model(spec, 5, VALUES, {"shape": [0, 1], "colour": [2, 3, 4]})
    assert ids(plans) == ["shape", "colour"]
    assert [p.indices for p in plans] == [[0, 1], [2, 3, 4]]
    with pytest.raises(UserError, match="needs latent groups"):
        plan_for_model(spec, 5, VALUES)


@pytest.mark.parametrize("groups, message", [
    ({"g": [0, 7]}, r"group 'g' has indices \[7\] outside the latent space 0..4"),
    ({"g": [0, 1, 2, 3, 4, 0]}, "group 'g' has 6 latents but the model has only 5"),
    ({"g": [1, 1]}, "lists a latent more than once"),
    ({"g": []}, "group 'g' is empty"),
])
def test_bad_groups_are_user_errors(groups, message: str) -> None:
    with pytest.raises(UserError, match=message):
        plan_for_model(parse_bias(DEFAULT_FORMULAS["combination"]), 5, VALUES, groups)


def test_conditional_on_a_generic_attribute_plans_each_model_attribute() -> None:
    spec = parse_bias(DEFAULT_FORMULAS["conditional"])
    plans = plan_for_model(spec, 4, VALUES, {"scale": [2, 3]}, attributes=["shape", "scale"])
    assert ids(plans) == ["shape", "scale"]
    assert plans[0].indices == [0, 1, 2, 3]  # no group for shape: the whole w
    assert plans[1].indices == [2, 3]  # the model's group for scale
    assert all(p.mode == "offset" and p.kind == "conditional" for p in plans)
    assert plans[1].condition == {"variable": "y", "role": "attribute", "attribute": "scale", "values": [1, 0]}


def test_conditional_needs_attributes_and_refuses_unknown_ones() -> None:
    with pytest.raises(UserError, match="needs the model's attribute names"):
        plan_for_model(parse_bias(DEFAULT_FORMULAS["conditional"]), 4, VALUES)
    named = parse_bias(r"p(w \mid \text{smiling}=1) \neq p(w \mid \text{smiling}=0)")
    assert ids(plan_for_model(named, 4, VALUES, attributes=["smiling", "age"])) == ["smiling"]
    with pytest.raises(UserError, match="unknown attribute 'smiling'; the model's attributes are: shape, scale"):
        plan_for_model(named, 4, VALUES, attributes=["shape", "scale"])


def test_conditional_per_latent_plans_each_latent_under_each_attribute() -> None:
    spec = parse_bias(r"p(z_i \mid y) \neq p(z_i), \forall i")
    assert ids(plan_for_model(spec, 2, VALUES, attributes=["shape"])) == ["shape:z0", "shape:z1"]


def test_prompt_conditioned_bias_needs_the_prompt_text() -> None:
    spec = parse_bias(r"p(z_i \mid t)")
    with pytest.raises(UserError, match="conditioned on a prompt"):
        plan_for_model(spec, 3, VALUES)
    plans = plan_for_model(spec, 3, VALUES, prompt_text="a red car")
    assert ids(plans) == ["z0", "z1", "z2"]
    assert plans[0].condition == {"variable": "t", "role": "prompt", "prompt": "a red car"}


def test_custom_plans_follow_the_formula() -> None:
    spec = parse_bias(DEFAULT_FORMULAS["custom"])
    assert ids(plan_for_model(spec, 4, VALUES)) == ["z0", "z1"]
    assert all(p.kind == "custom" for p in plan_for_model(spec, 4, VALUES))
    with pytest.raises(UserError, match="names latent 1, outside the model's latents 0..0"):
        plan_for_model(spec, 1, VALUES)


def test_custom_named_groups_must_exist() -> None:
    spec = parse_bias(r"\mathbf{z}_{\text{shape}} \perp \mathbf{z}_{\text{colour}}")
    plans = plan_for_model(spec, 4, VALUES, {"shape": [0, 1], "colour": [2]})
    assert ids(plans) == ["shape", "colour"]
    with pytest.raises(UserError, match="names the group 'colour'"):
        plan_for_model(spec, 4, VALUES, {"shape": [0, 1]})


def test_custom_conditions_are_carried_on_the_plans() -> None:
    plans = plan_for_model(parse_bias(r"z_i \perp z_j \mid y, \forall i \neq j"), 2, VALUES)
    assert ids(plans) == ["z0", "z1"]  # z_i and z_j give the same traversals once
    assert plans[0].condition == {"given": ["y"]}


def test_a_formula_that_varies_no_latent_cannot_be_planned() -> None:
    with pytest.raises(UserError, match="names no latent variable to traverse"):
        plan_for_model(parse_bias("y = 1"), 3, VALUES)


def test_a_spec_built_by_hand_without_targets_still_plans() -> None:
    spec = BiasSpec(formula="p(z) = prod_i p(z_i)", kind="disentanglement", sympy="", prompt="")
    assert ids(plan_for_model(spec, 2, VALUES)) == ["z0", "z1"]
    with pytest.raises(UserError, match="latent_dim must be at least 1"):
        plan_for_model(spec, 0, VALUES)
