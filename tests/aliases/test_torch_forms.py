"""PyTorch's Rprop and ASGD (gradxform/aliases/torch_forms.py) against NumPy transcriptions of
torch.optim.Rprop and torch.optim.ASGD (tests/reference_contrib_misc.py), the averaged
parameters included, and their checks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from harness import assert_same_trajectory, numpy_trajectory, trajectory
from problems import PROBLEMS
from reference_contrib_misc import make_torch_asgd, make_torch_rprop

import gradxform as gx


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(learning_rate=0.1, etas=(0.3, 1.5), step_sizes=(1e-3, 0.05)),  # starts clipped to 0.05
    dict(learning_rate=0.5, etas=(0.5, 2.0), step_sizes=(0.0, 1.0)),
])
def test_torch_rprop_matches_pytorchs_rule(problem, kwargs):
    ours = trajectory(gx.torch_rprop(**kwargs), problem, 60)
    theirs = numpy_trajectory(make_torch_rprop(**{("lr" if k == "learning_rate" else k): v
                                                  for k, v in kwargs.items()}), problem, 60)
    assert_same_trajectory(ours, theirs, rtol=1e-12)


def test_torch_rprop_steps_now_where_optaxs_rprop_steps_one_update_later():
    torch_form, optax_form = gx.torch_rprop(0.1), gx.rprop(0.1)
    params = jnp.zeros(2)
    grads = jnp.array([1.0, -1.0])
    first, _ = torch_form.update(grads, torch_form.init(params))
    lagged, _ = optax_form.update(grads, optax_form.init(params))
    np.testing.assert_array_equal(first, [-0.1, 0.1])
    np.testing.assert_array_equal(lagged, [0.0, 0.0])


def _asgd_run(kwargs, steps):
    """(our params, our averaged params, PyTorch's params, PyTorch's ax) after each update."""
    problem = PROBLEMS[0]
    opt = gx.asgd(**kwargs)
    reference = make_torch_asgd(**{("lr" if k == "learning_rate" else k): v for k, v in kwargs.items()})
    ours = {k: jnp.asarray(v) for k, v in problem.init.items()}
    theirs = {k: np.array(v) for k, v in problem.init.items()}
    state, ref_state = opt.init(ours), reference.init(theirs)
    update = jax.jit(opt.update)
    for step in range(1, steps + 1):
        updates, state = update({k: jnp.asarray(g) for k, g in problem.grad(
            {k: np.asarray(v) for k, v in ours.items()}).items()}, state, ours)
        ours = gx.apply_updates(ours, updates)
        ref_updates, ref_state = reference.update(problem.grad(theirs), ref_state, theirs)
        theirs = {k: theirs[k] + ref_updates[k] for k in theirs}
        yield step, ours, gx.averaged_params(state), theirs, ref_state["ax"]


@pytest.mark.parametrize("kwargs", [
    dict(learning_rate=1e-2, lambd=1e-2, alpha=0.75, t0=4),
    dict(learning_rate=5e-3, lambd=0.5, alpha=0.5, t0=0, weight_decay=1e-2),
])
def test_asgd_matches_pytorchs_iterates_and_its_average_from_update_t0_plus_2(kwargs):
    for step, ours, averaged, theirs, ax in _asgd_run(kwargs, 30):
        for k in theirs:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, err_msg=f"step {step}")
            if step >= kwargs["t0"] + 2:
                np.testing.assert_allclose(averaged[k], ax[k], rtol=1e-12, err_msg=f"step {step}")


def test_asgds_step_size_decays_as_pytorchs_eta():
    schedule = gx.aliases.torch_forms.asgd_step_size(0.1, 1e-2, 0.75)
    for step in range(5):
        np.testing.assert_allclose(schedule(step), 0.1 / (1 + 1e-2 * 0.1 * step) ** 0.75, rtol=1e-15)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(etas=(1.2, 0.5)), ValueError, r"torch_rprop: etas must satisfy 0 < etas\[0\] < 1 < etas\[1\]"),
    (dict(etas=0.5), TypeError, r"torch_rprop: etas must be a pair of numbers \(etaminus, etaplus\), got float 0.5"),
    (dict(step_sizes=(1.0,)), TypeError, "torch_rprop: step_sizes must be a pair of numbers"),
    (dict(step_sizes=(1.0, 0.1)), ValueError, "torch_rprop: max_step_size must be >= min_step_size"),
    (dict(learning_rate=0.0), ValueError, "torch_rprop: learning_rate must be a finite number > 0"),
])
def test_torch_rprop_checks_its_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        gx.torch_rprop(**kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(t0=2.5), ValueError, r"asgd: t0 must be a whole number >= 0 of updates .* got t0=2.5"),
    (dict(t0=-1), ValueError, "asgd: t0 must be a whole number >= 0"),
    (dict(lambd=-1e-4), ValueError, "asgd: lambd must be a finite number >= 0"),
    (dict(learning_rate=lambda step: 0.1), TypeError, "asgd: learning_rate"),
])
def test_asgd_checks_its_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        gx.asgd(**kwargs)


def test_scale_by_rprops_lagged_flag_must_be_a_bool():
    with pytest.raises(TypeError, match="scale_by_rprop: lagged must be True or False, got int 0"):
        gx.scale_by_rprop(0.1, lagged=0)
