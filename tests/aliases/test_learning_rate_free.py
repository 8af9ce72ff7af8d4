"""The learning-rate-free optimizers (dog, dowg, cocob, mechanize, prodigy, dadapt_adamw) against
``optax.contrib``'s same-named ones: signatures, float32 bits, float64 at the defaults, recipes."""
import inspect

import jax
import numpy as np
import optax
import optax.contrib
import pytest
from harness import assert_same_bits, assert_same_trajectory, eager_beside_optax, trajectory
from problems import PROBLEMS

import gradxform as gx

pytestmark = pytest.mark.slow  # ~40 eager trajectories of both libraries: make test-fast leaves it out

NAMES = ["dog", "dowg", "cocob", "mechanize", "prodigy", "dadapt_adamw"]


def _contrib(lib):
    return gx if lib is gx else optax.contrib


# Each builds the same optimizer from gradxform (lib is gx) or from Optax (lib is optax).
BUILDS = {
    "dog": lambda lib: _contrib(lib).dog(),
    "dog_distance_decay": lambda lib: _contrib(lib).dog(0.5, init_step=("distance", 1e-3), weight_decay=1e-2),
    "dog_first_learning_rate": lambda lib: _contrib(lib).dog(init_step=("learning_rate", 1e-2)),
    "dowg": lambda lib: _contrib(lib).dowg(),
    "dowg_initial_distance": lambda lib: _contrib(lib).dowg(0.5, init_estim_sq_dist=1e-3, eps=1e-6),
    "cocob": lambda lib: _contrib(lib).cocob(),
    "cocob_decay": lambda lib: _contrib(lib).cocob(0.5, alpha=50.0, eps=1e-6, weight_decay=1e-2),
    "mechanize_sgd": lambda lib: _contrib(lib).mechanize(lib.sgd(1.0)),
    "mechanize_adam": lambda lib: _contrib(lib).mechanize(lib.adam(1e-2), weight_decay=1e-3, num_betas=3),
    "prodigy": lambda lib: _contrib(lib).prodigy(),
    "prodigy_every_argument": lambda lib: _contrib(lib).prodigy(
        0.5, betas=(0.8, 0.99), beta3=0.95, eps=1e-6, estim_lr0=1e-4, estim_lr_coef=2.0, weight_decay=1e-2),
    "prodigy_safeguard_warmup": lambda lib: _contrib(lib).prodigy(estim_lr0=1e-3, safeguard_warmup=True),
    "dadapt_adamw": lambda lib: _contrib(lib).dadapt_adamw(),
    "dadapt_adamw_every_argument": lambda lib: _contrib(lib).dadapt_adamw(
        0.5, betas=(0.8, 0.99), eps=1e-6, estim_lr0=1e-4, weight_decay=1e-2),
}
CASES = [pytest.param(build, id=name) for name, build in BUILDS.items()]


@pytest.mark.parametrize("name", NAMES)
def test_signature_is_optax_contribs(name):
    ours, theirs = inspect.signature(getattr(gx, name)), inspect.signature(getattr(optax.contrib, name))
    assert [(p.name, p.default, p.kind) for p in ours.parameters.values()] == [
        (p.name, p.default, p.kind) for p in theirs.parameters.values()]


@pytest.mark.parametrize("build", CASES)
def test_float32_steps_are_optax_contribs_bit_for_bit(build):
    ours, theirs = eager_beside_optax(build, PROBLEMS[0], steps=20)
    assert_same_bits(ours, theirs)


@pytest.mark.parametrize("build", [pytest.param(BUILDS[n], id=n) for n in ("dog", "dowg", "cocob", "prodigy")])
def test_float32_steps_without_x64_are_optax_contribs_bit_for_bit(build):
    with jax.enable_x64(False):
        ours, theirs = eager_beside_optax(build, PROBLEMS[1], steps=20)
    assert_same_bits(ours, theirs)


def test_dadapt_adamw_without_x64_agrees_with_optax_to_the_last_bits():
    # D-Adaptation's momentum is scale_by_momentum of (eta_hat g): (1 - b1) (eta_hat g), where
    # Optax rounds ((1 - b1) eta_hat) g; the two can differ in the last bit (here at step 18).
    with jax.enable_x64(False):
        ours, theirs = eager_beside_optax(BUILDS["dadapt_adamw"], PROBLEMS[1], steps=20)
    assert_same_trajectory(ours, theirs, rtol=1e-6, atol=0)


@pytest.mark.parametrize("problem", [pytest.param(p, id=p.name) for p in PROBLEMS])
def test_prodigy_defaults_follow_optax_in_float64_for_100_steps(problem):
    # The registry runs Prodigy with d_0 = 1e-4 (its float32 run must stay near float64's);
    # the defaults are checked here.
    ours = trajectory(gx.prodigy(), problem, 100)
    with jax.numpy_dtype_promotion("standard"):
        theirs = trajectory(optax.contrib.prodigy(), problem, 100)
    assert_same_trajectory(ours, theirs, rtol=1e-10)


@pytest.mark.parametrize("name, primitive", [
    ("dog", "scale_by_dog"), ("dowg", "scale_by_dowg"), ("cocob", "scale_by_cocob"),
    ("prodigy", "scale_by_prodigy"), ("dadapt_adamw", "scale_by_dadapt_adamw"),
])
def test_the_recipe_names_its_primitive(name, primitive):
    assert primitive in repr(getattr(gx, name)())


def test_the_learning_rate_is_a_hyperparameter_that_can_be_set():
    params = {"w": np.ones(3)}
    opt = gx.dog(init_step=("distance", 1.0))
    state = opt.init(params)
    half = gx.set_hyperparams(state, learning_rate=0.5)
    full, _ = opt.update({"w": np.ones(3)}, state, params)
    halved, _ = opt.update({"w": np.ones(3)}, half, params)
    np.testing.assert_allclose(halved["w"], 0.5 * full["w"], rtol=1e-15)
    assert float(gx.hyperparams(half)["learning_rate"]) == 0.5


def test_prodigy_shares_b1_and_b2_with_its_moments():
    state = gx.prodigy(betas=(0.8, 0.99)).init({"w": np.ones(2)})
    values = gx.hyperparams(state)
    assert float(values["b1"]) == 0.8 and float(values["b2"]) == 0.99
    assert sorted(values) == sorted(  # one row each, shared with the moments (no "decay" rows); a
        ["learning_rate", "b1", "b2", "beta3", "eps", "estim_lr_coef"])  # weight decay of 0 keeps none
    decayed = gx.hyperparams(gx.prodigy(weight_decay=0.1).init({"w": np.ones(2)}))
    assert float(decayed["weight_decay"]) == 0.1
