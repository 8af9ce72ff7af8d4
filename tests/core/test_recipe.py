"""A transformation knows its recipe: repr prints it, gx.recipe returns it as data, a notebook renders
its update rule; the protocol stays Optax's two fields."""
import re

import jax.numpy as jnp
import optax
import pytest
from registry import REGISTRY

import gradxform as gx


def test_adam_prints_its_composition_with_hyperparameters_by_name_and_value():
    text = repr(gx.adam(1e-3))
    head, body = text.split(" = ", 1)
    assert head == "adam(learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-08, eps_root=0.0)"
    assert body.startswith("chain(\n    ratio(")
    for term in ["scale_by_momentum(decay=b1, ema=True)", "bias_correction(decay=b1)", "mean_of_squares(decay=b2)",
                 "bias_correction(decay=b2)", "sqrt_plus_eps(eps=eps, eps_root=eps_root)",
                 "scale_by_learning_rate(learning_rate=learning_rate)"]:
        assert term in body


def test_the_protocol_stays_two_fields():
    opt = gx.adam(1e-3)
    assert isinstance(opt, tuple) and len(opt) == 2 and opt._fields == ("init", "update")


def test_schedules_print_by_name_and_a_nested_alias_by_its_head():
    opt = gx.chain(gx.clip_by_global_norm(1.0), gx.sgd(gx.linear_schedule(0.1, 0.01, 10)))
    assert repr(opt) == (
        "chain(\n    clip_by_global_norm(max_norm=1.0),\n"
        "    sgd(learning_rate=linear_schedule(init_value=0.1, end_value=0.01, transition_steps=10)))")


def test_a_partition_prints_each_group():
    opt = gx.partition({"slow": gx.adam(1e-4), "fast": gx.sgd(1e-2, momentum=0.9)}, {"a": "slow", "b": "fast"})
    text = repr(opt)
    assert "'slow': adam(learning_rate=0.0001" in text and "'fast': sgd(learning_rate=0.01, momentum=0.9)" in text


def test_an_optax_transformation_is_shown_as_opaque():
    assert repr(gx.chain(optax.scale(2.0), gx.scale(3.0))) == "chain(<optax transformation>, scale(step_size=3.0))"


def test_recipe_is_plain_data_naming_shared_hyperparameters():
    data = gx.recipe(gx.adam(1e-3))
    assert data["name"] == "adam" and data["args"]["b1"] == 0.9
    chain = data["body"]
    assert chain["name"] == "chain" and chain["parts"][1] == {
        "name": "scale_by_learning_rate", "args": {"learning_rate": {"hyperparameter": "learning_rate"}}}
    numerator, denominator = chain["parts"][0]["parts"]
    # Adam's moments are sub-recipes shared with its relatives, named once: the data keeps the name
    assert numerator == {
        "name": "debiased_momentum", "args": {"b1": {"hyperparameter": "b1"}},
        "body": {"name": "sequence", "parts": [
            {"name": "scale_by_momentum", "args": {"decay": {"hyperparameter": "b1"}, "ema": True}},
            {"name": "bias_correction", "args": {"decay": {"hyperparameter": "b1"}}}]}}
    assert denominator["name"] == "debiased_root_mean_square"
    assert [p["name"] for p in denominator["body"]["parts"]] == ["mean_of_squares", "bias_correction", "sqrt_plus_eps"]


def test_nadam_shows_its_derived_weight_by_the_hyperparameter_it_comes_from():
    assert "(1 - b1, bias_correction(decay=b1))" in repr(gx.nadam(1e-3))


@pytest.mark.parametrize("make, equations", [
    (lambda: gx.adam(1e-3), [r"m_t &= \beta_1\,m_{t-1} + (1 - \beta_1)\,g_t",
                             r"v_t &= \beta_2\,v_{t-1} + (1 - \beta_2)\,g_t^2",
                             r"u_t &= -\alpha_t\,\left(\frac{\frac{m_t}{1 - \beta_1^{t}}}"]),
    (lambda: gx.sgd(0.1, momentum=0.9, nesterov=True), [r"m_t &= \mu\,m_{t-1} + g_t",
                                                        r"u_t &= -\alpha_t\,\left(g_t + \mu\,m_t\right)"]),
    (lambda: gx.adagrad(0.1), [r"G_t &= G_{t-1} + g_t^2"]),
])
def test_a_notebook_renders_the_update_rule_generated_from_the_recipe(make, equations):
    rendered = make()._repr_markdown_()
    assert rendered.startswith("```\n") and "$$\n\\begin{aligned}" in rendered
    for equation in equations:
        assert equation in rendered


def test_the_update_rule_follows_the_recipe_when_a_link_changes():
    # AMSGrad adds one link to Adam's denominator: its rendering gains one equation
    adam, amsgrad = gx.adam(1e-3)._repr_markdown_(), gx.amsgrad(1e-3)._repr_markdown_()
    assert r"\max(" not in adam and r"\hat v_t &= \max(\hat v_{t-1}," in amsgrad


def test_a_hand_built_transformation_without_a_recipe_prints_its_functions():
    def init(params):
        return gx.EmptyState()

    def update(updates, state, params=None):
        return updates, state

    assert repr(gx.GradientTransformation(init, update)).startswith("GradientTransformation(init=<function")
    assert gx.recipe(gx.GradientTransformation(init, update)) == {"opaque": "<gradxform transformation>"}


def test_printing_a_recipe_leaves_the_transformation_as_it_was():
    params, grads = {"w": jnp.zeros(2)}, {"w": jnp.asarray([0.5, -1.0])}
    opt = gx.adam(1e-3)
    before, _ = opt.update(grads, opt.init(params), params)
    repr(opt), gx.recipe(opt), opt._repr_markdown_()
    after, _ = opt.update(grads, opt.init(params), params)
    assert jnp.array_equal(before["w"], after["w"])


@pytest.mark.parametrize("make", [
    lambda: gx.adam(0.1, b1=0.8),
    lambda: gx.sgd(gx.linear_schedule(0.1, 0.0, 10), momentum=0.9, nesterov=True),
    lambda: gx.lookahead(gx.adam(0.1), 4, 0.3),
    lambda: gx.chain(gx.clip_by_global_norm(1.0), gx.adam(0.1)),
])
def test_call_arguments_rebuild_what_a_recipe_records(make):
    from gradxform.core import recipe as _recipe

    node = _recipe.of(make())
    positional, keywords = _recipe.call_arguments(getattr(gx, node.name), node)
    assert repr(getattr(gx, node.name)(*positional, **keywords)) == repr(make())


# The names that may stay \operatorname{...} in a rendered update rule: everything else written so
# is a primitive whose rule is missing (its rendering says nothing about what it does).
MATH_OPERATORS = {
    "sign", "clip", "mean",  # sign(x), clip(x, a, b), a leaf's mean: functions of the formulas
    "svd",  # GaLore's projection: the singular vectors of the gradient
    "RMS",  # the root mean square of a leaf (Adafactor's relative step)
}
WRAPPERS_WITHOUT_RULE = {
    # Wrappers and combinators still written as operators of their inner terms: each changes which
    # leaves, steps or points the inner optimizer sees, which an update rule of u_t cannot say briefly.
    "masked", "partition", "schedule_free", "sparse", "split_real_and_imaginary", "swa",
}
WITHOUT_RECIPE = {"T"}  # a transformation built by hand (dpsgd's entry chains one): no recipe to render


def test_every_primitive_of_the_registry_renders_its_own_update_rule():
    from gradxform.core import recipe as _recipe

    without_rule: dict[str, str] = {}
    for entry in REGISTRY:
        rendered = entry.make()._repr_markdown_()
        math = rendered.split("$$")[1]
        for left, right in [(r"\{", r"\}"), (r"\\left(?![a-z])", r"\\right(?![a-z])"), (r"\\begin\{", r"\\end\{")]:
            assert len(re.findall(left, math)) == len(re.findall(right, math)), f"{entry.name}: unbalanced {left}"
        for name in re.findall(r"\\operatorname\{([A-Za-z\\_]+)\}", math):
            name = name.replace(r"\_", "_")
            if name not in MATH_OPERATORS | WRAPPERS_WITHOUT_RULE | WITHOUT_RECIPE:
                without_rule.setdefault(name, entry.name)
    assert not without_rule, f"primitives without a rule (and an entry showing each): {without_rule}"
    assert not WRAPPERS_WITHOUT_RULE & set(_recipe._RULES), "a wrapper with a rule: take it off the list"


def test_a_weighted_sum_leaves_out_weights_of_1_and_writes_a_negative_weight_as_a_difference():
    adabelief = gx.adabelief(1e-3)._repr_markdown_()
    assert r"\left(g_t - \mathrm{m}\right)^2" in adabelief  # was 1.0\,g_t + -1.0\,\left(\mathrm{m}\right)
    two = gx.parallel_sum((-1.0, gx.identity()), (2.0, gx.sign()))._repr_markdown_()
    assert r"u_t &= -g_t + 2.0\,\left(\operatorname{sign}g_t\right)" in two


def test_prodigy_renders_as_adam_on_the_scaled_gradient_with_the_recorded_estimates():
    math = gx.prodigy(weight_decay=0.1)._repr_markdown_().split("$$")[1]
    assert r"\mathrm{estim\_lr} &= d_t,\ \mathrm{estim\_lr\_next} = d_{t+1}" in math
    assert r"m_t &= \beta_1\,m_{t-1} + (1 - \beta_1)\,\mathrm{estim\_lr}\,g_t" in math
    assert r"\frac{m_t}{\sqrt{v_t} + \epsilon\,\mathrm{estim\_lr\_next}} + \lambda\,\theta_{t-1}" in math


def test_derived_hyperparameters_and_signed_inputs_render_as_formulas():
    fromage = gx.fromage(1e-2)._repr_markdown_()
    assert r"(\alpha_t / \sqrt{1 + \alpha_t^2})" in fromage  # its learning rate, a derived form
    assert r"+ (1 / \sqrt{1 + \alpha_t^2} - 1)\,\theta_{t-1}" in fromage  # its decay, bracketed
    lars = gx.lars(1e-2)._repr_markdown_()
    assert r"m_t &= \mu\,m_{t-1} - \alpha_t" in lars and "+ -" not in lars
    assert r"(1 - \beta_1)\,g_t" in gx.adam(1e-3)._repr_markdown_()
