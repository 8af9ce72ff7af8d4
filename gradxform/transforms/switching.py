"""Switching, once and for good, from an adaptive branch to an SGD branch (SWATS's switch).

Unlike :func:`gradxform.conditional`, whose choice is a function of the step count, the switch
here depends on the updates seen so far, so its phase, its running estimate of the SGD learning
rate and the rate itself live in the state as arrays: the choice is a ``jnp.where``, it jits, and
a checkpoint resumes in the right phase.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import hyperparams as _hyper
from ..core import link as _link
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import primitive
from ..core.link import Branch
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import Hyper, PyTree


@state_class
class SwitchToSgdState(NamedTuple):
    switched: jax.Array  # bool scalar: True once the SGD phase has begun
    rate_average: jax.Array  # float32 scalar: lambda_k, running mean of projected rates (biased)
    learning_rate: jax.Array  # float32 scalar: Lambda, the SGD phase's learning rate; 0 until then
    adaptive: PyTree  # the adaptive branch's state; frozen once switched
    sgd: PyTree  # the SGD branch's state; held at its init value until switched


@_recipe.factory
def switch_to_sgd(
    adaptive: Branch, sgd: Branch, decay: Hyper = 0.999, eps: Hyper = 1e-9
) -> GradientTransformation:
    r"""Run ``adaptive`` until the SGD learning rate it implies settles, then ``sgd`` at that rate.

    In the adaptive phase the output is the adaptive branch's step :math:`p_k` (a full step,
    learning rate and sign included). Projecting the gradient step :math:`-\gamma_k g_k` onto
    :math:`p_k` gives the SGD rate that would move as far along :math:`p_k`, and its running
    mean estimates a rate for the whole run:

    .. math::
        \gamma_k = \frac{p_k^\top p_k}{-p_k^\top g_k}, \qquad
        \lambda_k = \beta\,\lambda_{k-1} + (1-\beta)\,\gamma_k
        \qquad (\text{only where } p_k^\top g_k \ne 0)

    The switch happens after the step :math:`k` at which

    .. math::
        k > 1 \quad\text{and}\quad
        \left|\frac{\lambda_k}{1-\beta^k} - \gamma_k\right| < \epsilon,
        \qquad \Lambda = \frac{\lambda_k}{1-\beta^k}

    and from the next step on the output is :math:`u_k = \Lambda\,S(g_k)`, with :math:`S` the
    SGD branch. The inner products run over every leaf (the parameters as one vector, as in
    Algorithm 1), so the switch is global. Each branch's state advances only in its own phase:
    the adaptive state is frozen after the switch and the SGD branch starts from its initial
    state (a momentum of zero). Both branches are evaluated at every step and the choice is a
    ``jnp.where``. :math:`k` is the one-based step count from :func:`gradxform.chain`.
    :math:`\lambda_k` and :math:`\Lambda` are kept as float32 scalars; :math:`\beta` and
    :math:`\epsilon` are hyperparameters in the state (:func:`gradxform.hyperparams`).

    Args:
        adaptive: the branch giving the step :math:`p_k` of the first phase (e.g. Adam followed
            by :func:`scale_by_learning_rate`).
        sgd: the branch :math:`S` whose output, times :math:`\Lambda`, is the step of the second
            phase (e.g. heavy-ball momentum followed by ``scale_by_learning_rate(1 - b1)``).
        decay: :math:`\beta`, the weight kept from the previous :math:`\lambda`; in ``[0, 1)``
            (SWATS uses Adam's :math:`\beta_2`), or a schedule of the step count.
        eps: :math:`\epsilon`, the tolerance of the switch criterion; ``>= 0`` (0 never switches),
            or a schedule.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`SwitchToSgdState` (in a chain; on its own,
        the one link of a :class:`ChainState`).

    References:
        Keskar & Socher, "Improving Generalization Performance by Switching from Adam to SGD",
        arXiv:1712.07628, 2017, Algorithm 1. https://arxiv.org/abs/1712.07628
    """
    _check.decay("switch_to_sgd", decay=decay)
    _check.non_negative("switch_to_sgd", eps=eps)
    hyper = _hyper.declare("switch_to_sgd", decay=decay, eps=eps)
    first, second = _link.branch(adaptive, "switch_to_sgd"), _link.branch(sgd, "switch_to_sgd")

    def init(params):
        return SwitchToSgdState(  # each field its own buffer, so that the state can be donated
            switched=jnp.zeros([], bool),
            rate_average=jnp.zeros([], jnp.float32),
            learning_rate=jnp.zeros([], jnp.float32),
            adaptive=first.raw.init(params),
            sgd=second.raw.init(params),
        )

    def update(updates, state, params=None, **extra_args):
        k = _step.one_based(_step.read(extra_args, "switch_to_sgd"))
        h = hyper.read(extra_args)
        beta, one_minus_beta, tolerance = h("decay"), h("decay", lambda b: 1 - b), h("eps")
        step, adaptive_state = first.raw.update(updates, state.adaptive, params, **extra_args)
        direction, sgd_state = second.raw.update(updates, state.sgd, params, **extra_args)

        # gamma in the inner products' precision, then float32 like lambda and Lambda whatever the
        # params (as in JAX without x64): steps in float32 make it no more precise than that.
        dtype = state.rate_average.dtype
        p_dot_g, p_dot_p = _tree.vdot(step, updates), _tree.vdot(step, step)
        projects = jnp.logical_and(~state.switched, p_dot_g != 0)
        gamma = (p_dot_p / jnp.where(projects, -p_dot_g, jnp.ones_like(p_dot_g))).astype(dtype)
        average = jnp.where(
            projects,
            beta.astype(dtype) * state.rate_average + one_minus_beta.astype(dtype) * gamma,
            state.rate_average,
        )
        estimate = average / (1 - beta ** _step.as_float(k)).astype(dtype)
        switch_now = projects & (k > 1) & (jnp.abs(estimate - gamma) < tolerance.astype(dtype))
        rate = jnp.where(switch_now, estimate, state.learning_rate)

        in_sgd = state.switched
        out = jax.tree.map(
            lambda p, s: jnp.where(in_sgd, state.learning_rate.astype(s.dtype) * s, p),
            step, direction,
        )
        new_state = SwitchToSgdState(
            switched=in_sgd | switch_now,
            rate_average=average,
            learning_rate=rate,
            adaptive=_tree.where(in_sgd, state.adaptive, adaptive_state),
            sgd=_tree.where(in_sgd, sgd_state, state.sgd),
        )
        return out, new_state

    return primitive(init, update, hyper, reads_step=True, parts={"adaptive": first, "sgd": second})


# --- Update rules in LaTeX, for a recipe's rendering in a notebook ------------------------------


@_recipe.formula("switch_to_sgd")
def _switch_to_sgd_rule(a, x, fresh):
    adaptive, sgd = a[_recipe.INNER]
    p, gamma, mean, rate = fresh("p"), fresh(r"\gamma"), fresh(r"\lambda"), fresh(r"\Lambda")
    b, eps = a.get("decay", "0.999"), a.get("eps", "1e-09")
    equations = [rf"{p}_t &= {adaptive(x)}"]
    sgd_term = sgd(x)  # after the adaptive branch, whose equations come first
    return (rf"\begin{{cases}} {p}_t & \text{{before the switch}} \\ {rate}\,{_recipe.group(sgd_term)}"
            r" & \text{after} \end{cases}"), equations + [
        rf"{gamma}_t &= \frac{{{p}_t^\top {p}_t}}{{-{p}_t^\top {_recipe.group(x)}}}, \quad "
        rf"{mean}_t = {b}\,{mean}_{{t-1}} + (1 - {b})\,{gamma}_t"
        rf" \quad (\text{{where }} {p}_t^\top {_recipe.group(x)} \ne 0)",
        rf"{rate} &= \frac{{{mean}_k}}{{1 - {b}^k}} \text{{ at the first }} k > 1 \text{{ with }} "
        rf"\left|\frac{{{mean}_k}}{{1 - {b}^k}} - {gamma}_k\right| < {eps}\text{{: the switch}}",
    ]
