"""Every alias with the arguments it is tested with and the reference it must reproduce.

Exactly one of ``optax_reference`` (Optax's same-named optimizer, built with the same
arguments) and ``numpy_reference`` (a paper's formula from :mod:`reference`) is set. Exceptions
to cross-cutting tests are data here, never ``if``s in test bodies.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import jax
import optax
import reference

import gradxform as gx


class Entry(NamedTuple):
    name: str  # test id
    make: Callable[[], gx.GradientTransformation]
    optax_reference: Optional[Callable] = None
    numpy_reference: Optional[Callable] = None
    supports_complex: bool = True  # the math is defined for complex parameters
    needs_extra_args: Optional[Callable] = None  # (params, grads) -> dict of extra update kwargs
    steps: int = 100  # length of the float64 trajectories compared with the reference
    rtol: float = 1e-6  # relative tolerance of that comparison
    draws_noise: bool = False  # its updates are random (same key, same noise)
    flat_rejection: Optional[str] = None  # why gx.flatten rejects it (a regex); None: it runs flat
    global_reduction: bool = False  # it reduces over every leaf (runs flat, sums in another order)
    updates_at_least: Optional[Any] = None  # a wider accumulator's dtype: updates of narrower
    # params come out in it (as Optax's do) and apply_updates rounds them; None: params' dtype


def _decay_matrices(params):
    """A weight-decay mask sparing every leaf of rank < 2 (biases, scalars, norm scales)."""
    return jax.tree.map(lambda v: v.ndim > 1, params)


def _not_scalars(params):
    """A mask: True where a leaf has at least one axis."""
    return jax.tree.map(lambda leaf: leaf.ndim > 0, params)


# Why gx.flatten rejects an alias that is not leaf-wise (test_grouped checks the message).
PER_LEAF = "treats each leaf as a unit"  # a norm or a history per leaf
MASKED = "treats leaves .* differently"  # a weight-decay mask
PER_LEAF_NOISE = "not computed element by element"  # noise drawn with one key per leaf


REGISTRY: list[Entry] = [
    Entry("adam", lambda: gx.adam(1e-2), optax_reference=lambda: optax.adam(1e-2)),
    Entry(
        "adam_kingma_ba",
        lambda: gx.adam(3e-3, b1=0.8, b2=0.99, eps=1e-6),
        numpy_reference=lambda: reference.make_adam(3e-3, b1=0.8, b2=0.99, eps=1e-6),
    ),
]


# The classic optimizers: SGD, noisy SGD, Adagrad, Adadelta, RMSprop.
REGISTRY += [
    Entry("sgd", lambda: gx.sgd(1e-3), optax_reference=lambda: optax.sgd(1e-3)),
    Entry(
        "sgd_momentum",
        lambda: gx.sgd(1e-3, momentum=0.9),
        optax_reference=lambda: optax.sgd(1e-3, momentum=0.9),
    ),
    Entry(
        "sgd_nesterov",
        lambda: gx.sgd(1e-3, momentum=0.9, nesterov=True),
        optax_reference=lambda: optax.sgd(1e-3, momentum=0.9, nesterov=True),
    ),
    # eta is small so that this entry's float32 run, whose noise is drawn in float32, stays within
    # float32 tolerance of Optax's float64 run (drawn in float64); in float64 a different key
    # still moves the trajectory ~15-75x beyond the tolerance, so the noise itself is checked.
    Entry(
        "noisy_sgd",
        lambda: gx.noisy_sgd(1e-3, eta=4e-6, key=3),
        optax_reference=lambda: optax.noisy_sgd(1e-3, eta=4e-6, key=3),
        draws_noise=True,
        flat_rejection=PER_LEAF_NOISE,
    ),
    Entry("adagrad", lambda: gx.adagrad(0.1), optax_reference=lambda: optax.adagrad(0.1)),
    Entry(
        "adagrad_pytorch",
        # eps large enough that putting it inside the root instead would fail the comparison
        lambda: gx.adagrad(0.1, initial_accumulator_value=0.0, eps=1e-3, eps_in_sqrt=False),
        numpy_reference=lambda: reference.make_adagrad(0.1, initial_accumulator_value=0.0, eps=1e-3),
    ),
    Entry("adadelta", lambda: gx.adadelta(0.5), optax_reference=lambda: optax.adadelta(0.5)),
    Entry(
        "adadelta_weight_decay",
        lambda: gx.adadelta(1.0, rho=0.95, weight_decay=1e-2, weight_decay_mask=_decay_matrices),
        optax_reference=lambda: optax.adadelta(
            1.0, rho=0.95, weight_decay=1e-2, weight_decay_mask=_decay_matrices
        ),
        flat_rejection=MASKED,
    ),
    Entry(
        "adadelta_zeiler",
        lambda: gx.adadelta(rho=0.95, eps=1e-6),
        numpy_reference=lambda: reference.make_adadelta(rho=0.95, eps=1e-6),
    ),
    Entry("rmsprop", lambda: gx.rmsprop(1e-2), optax_reference=lambda: optax.rmsprop(1e-2)),
    Entry(
        "rmsprop_centered",
        lambda: gx.rmsprop(1e-2, centered=True),
        optax_reference=lambda: optax.rmsprop(1e-2, centered=True),
    ),
    Entry(
        "rmsprop_momentum",
        lambda: gx.rmsprop(1e-3, momentum=0.9),
        optax_reference=lambda: optax.rmsprop(1e-3, momentum=0.9),
    ),
    Entry(
        "rmsprop_eps_outside_root",
        lambda: gx.rmsprop(1e-2, eps_in_sqrt=False),
        optax_reference=lambda: optax.rmsprop(1e-2, eps_in_sqrt=False),
    ),
    Entry(
        "rmsprop_centered_nesterov_bias_corrected",
        lambda: gx.rmsprop(
            1e-3, decay=0.95, eps=1e-4, initial_scale=0.5, eps_in_sqrt=False, centered=True,
            momentum=0.5, nesterov=True, bias_correction=True,
        ),
        optax_reference=lambda: optax.rmsprop(
            1e-3, decay=0.95, eps=1e-4, initial_scale=0.5, eps_in_sqrt=False, centered=True,
            momentum=0.5, nesterov=True, bias_correction=True,
        ),
    ),
    Entry(
        "rmsprop_pytorch",
        # eps large enough that putting it inside the root instead would fail the comparison
        lambda: gx.rmsprop(1e-2, decay=0.99, eps=1e-3, eps_in_sqrt=False),
        numpy_reference=lambda: reference.make_rmsprop(1e-2, decay=0.99, eps=1e-3),
    ),
]


REGISTRY += [
    Entry("lion", lambda: gx.lion(1e-3), optax_reference=lambda: optax.lion(1e-3)),
    Entry(
        "lion_masked_decay",
        lambda: gx.lion(3e-3, b1=0.8, b2=0.95, weight_decay=1e-2, mask=_not_scalars),
        optax_reference=lambda: optax.lion(3e-3, b1=0.8, b2=0.95, weight_decay=1e-2, mask=_not_scalars),
        flat_rejection=MASKED,
    ),
    Entry("lamb", lambda: gx.lamb(1e-2), optax_reference=lambda: optax.lamb(1e-2), flat_rejection=PER_LEAF),
    Entry(
        "lamb_decayed",
        lambda: gx.lamb(3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10, weight_decay=1e-2),
        optax_reference=lambda: optax.lamb(
            3e-3, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-10, weight_decay=1e-2
        ),
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "lamb_you_et_al",
        lambda: gx.lamb(3e-3, b1=0.8, b2=0.99, eps=1e-8, weight_decay=1e-2),
        numpy_reference=lambda: reference.make_lamb(3e-3, b1=0.8, b2=0.99, eps=1e-8, weight_decay=1e-2),
        flat_rejection=PER_LEAF,
    ),
    Entry("lars", lambda: gx.lars(0.5), optax_reference=lambda: optax.lars(0.5), flat_rejection=PER_LEAF),
    Entry(
        "lars_nesterov_masked",
        lambda: gx.lars(
            0.1, weight_decay=1e-3, weight_decay_mask=_not_scalars, trust_coefficient=0.02,
            eps=1e-9, trust_ratio_mask=_not_scalars, momentum=0.8, nesterov=True,
        ),
        optax_reference=lambda: optax.lars(
            0.1, weight_decay=1e-3, weight_decay_mask=_not_scalars, trust_coefficient=0.02,
            eps=1e-9, trust_ratio_mask=_not_scalars, momentum=0.8, nesterov=True,
        ),
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "aggmo",
        lambda: gx.aggmo(1e-3),
        numpy_reference=lambda: reference.make_aggmo(1e-3),
    ),
    Entry(
        "aggmo_four_betas",
        lambda: gx.aggmo(2e-3, betas=(0.0, 0.5, 0.9, 0.95)),
        numpy_reference=lambda: reference.make_aggmo(2e-3, betas=(0.0, 0.5, 0.9, 0.95)),
    ),
    # Switches to SGD at step 7 on the quadratic and at step 2 on Rosenbrock (test_switching.py).
    # The reference adds eps to sqrt(a_k) as Algorithm 1 does, gradxform to sqrt(a_k / (1 - b2^k))
    # as adam does: with eps=1e-7 the trajectories differ by ~3e-7, hence rtol=1e-5.
    Entry(
        "swats",
        lambda: gx.swats(1e-3, b1=0.5, b2=0.99, eps=1e-7),
        numpy_reference=lambda: reference.make_swats(1e-3, b1=0.5, b2=0.99, eps=1e-7),
        rtol=1e-5,
        global_reduction=True,
    ),
    # The paper's defaults: Adam for all 100 steps here.
    Entry(
        "swats_paper_defaults",
        lambda: gx.swats(1e-3),
        numpy_reference=lambda: reference.make_swats(1e-3),
        global_reduction=True,
    ),
]


# --- The Adam family: AdamW, NadamW, AdaMax, Nadam, AMSGrad, RAdam, QHAdam -----------------------


REGISTRY += [
    Entry("adamw", lambda: gx.adamw(1e-2), optax_reference=lambda: optax.adamw(1e-2)),
    Entry(
        "adamw_masked",
        lambda: gx.adamw(1e-2, weight_decay=0.1, mask=_decay_matrices),
        optax_reference=lambda: optax.adamw(1e-2, weight_decay=0.1, mask=_decay_matrices),
        flat_rejection=MASKED,
    ),
    Entry(
        "nadamw",
        lambda: gx.nadamw(3e-3, b1=0.8, weight_decay=0.1),
        optax_reference=lambda: optax.nadamw(3e-3, b1=0.8, weight_decay=0.1),
    ),
    Entry("adamax", lambda: gx.adamax(1e-2), optax_reference=lambda: optax.adamax(1e-2)),
    Entry(
        "adamax_kwargs",
        lambda: gx.adamax(3e-3, b1=0.8, b2=0.99, eps=1e-6),
        optax_reference=lambda: optax.adamax(3e-3, b1=0.8, b2=0.99, eps=1e-6),
    ),
    Entry("nadam", lambda: gx.nadam(1e-2), optax_reference=lambda: optax.nadam(1e-2)),
    Entry(
        "nadam_kwargs",
        lambda: gx.nadam(3e-3, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8),
        optax_reference=lambda: optax.nadam(3e-3, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8),
    ),
    Entry(
        "nadam_dozat_schedule",
        lambda: gx.nadam(2e-3, momentum_decay=4e-3),
        numpy_reference=lambda: reference.make_nadam_dozat(2e-3, momentum_decay=4e-3),
    ),
    Entry(
        "nadam_dozat_fast_schedule",
        # psi large enough that mu_t moves from 0.5 b1 toward b1 within the trajectory
        lambda: gx.nadam(1e-2, b1=0.95, momentum_decay=0.5),
        numpy_reference=lambda: reference.make_nadam_dozat(1e-2, b1=0.95, momentum_decay=0.5),
    ),
    Entry("amsgrad", lambda: gx.amsgrad(1e-2), optax_reference=lambda: optax.amsgrad(1e-2)),
    Entry(
        "amsgrad_no_bias_correction",
        lambda: gx.amsgrad(1e-2, bias_correction_mu=False, bias_correction_nu=False),
        optax_reference=lambda: optax.amsgrad(
            1e-2, bias_correction_mu=False, bias_correction_nu=False
        ),
    ),
    Entry(
        "amsgrad_pytorch",
        lambda: gx.amsgrad(1e-2, b2=0.99, max_before_bias_correction=True),
        numpy_reference=lambda: reference.make_amsgrad(1e-2, b2=0.99),
    ),
    Entry(
        "amsgrad_reddi",
        lambda: gx.amsgrad(3e-3, b1=0.8, bias_correction_mu=False, bias_correction_nu=False),
        numpy_reference=lambda: reference.make_amsgrad(3e-3, b1=0.8, bias_correction=False),
    ),
    Entry(
        # learning rates small enough for the plain momentum steps before rectification on Rosenbrock
        "radam", lambda: gx.radam(1e-3), optax_reference=lambda: optax.radam(1e-3)
    ),
    Entry(
        "radam_kwargs",
        lambda: gx.radam(3e-3, b1=0.8, b2=0.9, eps=1e-6, eps_root=1e-8, threshold=6.0),
        optax_reference=lambda: optax.radam(
            3e-3, b1=0.8, b2=0.9, eps=1e-6, eps_root=1e-8, threshold=6.0
        ),
    ),
    Entry(
        "radam_nesterov",
        lambda: gx.radam(1e-3, b2=0.99, nesterov=True),
        optax_reference=lambda: optax.radam(1e-3, b2=0.99, nesterov=True),
    ),
    Entry(
        "radam_liu",  # the paper's eps is 0, refused (0/0 where gradients are 0); 1e-30 is as good
        lambda: gx.radam(1e-3, b2=0.99, eps=1e-30, threshold=4.0),
        numpy_reference=lambda: reference.make_radam(1e-3, b2=0.99, eps=1e-30, threshold=4.0),
    ),
    Entry(
        "qhadam",
        lambda: gx.qhadam(1e-2),
        numpy_reference=lambda: reference.make_qhadam(1e-2),
    ),
    Entry(
        "qhadam_kwargs",
        lambda: gx.qhadam(3e-3, b1=0.9, b2=0.99, nu1=0.5, nu2=0.8, eps=1e-6),
        numpy_reference=lambda: reference.make_qhadam(
            3e-3, b1=0.9, b2=0.99, nu1=0.5, nu2=0.8, eps=1e-6
        ),
    ),
]


# L-BFGS with a fixed learning rate and no line search (the line-search runs, which need the
# loss, are compared with SciPy and Optax in test_lbfgs.py). On these problems every curvature
# pair is positive, so gradxform and Optax store the same pairs. supports_complex=False only
# because the complex tree of test_properties mixes complex64 and complex128 leaves: L-BFGS's
# inner products couple all leaves, so complex64 rounding reaches the complex128 leaf beyond
# its 1e-10 tolerance. test_lbfgs.py checks complex params on a complex128 tree.
REGISTRY += [
    Entry(
        "lbfgs_learning_rate",
        lambda: gx.lbfgs(0.3, linesearch=None),
        optax_reference=lambda: optax.lbfgs(0.3, linesearch=None),
        supports_complex=False,
        flat_rejection=PER_LEAF,
    ),
    Entry(
        "lbfgs_memory_3",
        lambda: gx.lbfgs(0.3, memory_size=3, linesearch=None),
        optax_reference=lambda: optax.lbfgs(0.3, memory_size=3, linesearch=None),
        supports_complex=False,
        flat_rejection=PER_LEAF,
    ),
]


# Entries added family by family live beside this file, one module each (registry_<family>.py,
# each a list ENTRIES), and join the registry here in the order of their file names.
for _module in sorted(Path(__file__).parent.glob("registry_*.py")):
    REGISTRY += importlib.import_module(_module.stem).ENTRIES
