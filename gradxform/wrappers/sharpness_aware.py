"""Sharpness-aware minimization: climb to the worst point nearby, then step from where you began.

SAM (Foret et al. 2021) minimizes :math:`\\max_{\\lVert\\epsilon\\rVert \\le \\rho} L(\\theta +
\\epsilon)`. A cycle of ``sync_period`` updates takes ``sync_period - 1`` adversarial (ascent)
steps away from the params :math:`\\theta` it began at, then one step of the outer optimizer
from :math:`\\theta` itself with the gradient taken at the last adversarial point. The paper's
SAM is one ascent by the normalized gradient, :math:`\\epsilon = \\rho\\, g / \\lVert g\\rVert`:
``sam(sgd(lr), chain(normalize(), sgd(rho)), sync_period=2)``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import recipe as _recipe
from ..core import step as _step
from ..core import tables as _tables
from ..core import tree as _tree
from ..core.chain import whole
from ..core.link import Branch
from ..core.protocol import GradientTransformation, apply_updates
from ..core.state_class import state_class
from ..core.types import PyTree

_WHO = "sam"


@state_class
class SAMState(NamedTuple):
    """The state of :func:`sam` (Optax's field names)."""

    steps_since_sync: jax.Array  # int32: updates since the cycle began, in [0, sync_period)
    opt_state: PyTree  # the outer optimizer's state: advances once a cycle
    adv_state: PyTree  # the adversarial optimizer's state
    cache: PyTree  # the params the cycle began at; None in opaque mode


@_recipe.factory
def sam(
    optimizer: Branch,
    adv_optimizer: Branch,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
) -> GradientTransformation:
    r"""Sharpness-aware minimization: adversarial ascent steps, then an outer step from the start.

    A cycle of :math:`k` = ``sync_period`` updates begins at params :math:`\theta`. Its first
    :math:`k - 1` updates are ascent steps of ``adv_optimizer`` (its update negated:
    ``chain(normalize(), sgd(rho))`` moves to :math:`\theta + \rho\, g / \lVert g\rVert`); the
    last returns to :math:`\theta` and takes the step of ``optimizer`` there with the gradient
    :math:`g_{\mathrm{adv}}` taken at the last adversarial point:

    .. math::  u_{\mathrm{last}} = (\theta - \theta_{\mathrm{adv}}) + \mathrm{opt}(g_{\mathrm{adv}}; \theta)

    Transparent mode (the default) does one of these steps per ``update``: the training loop
    evaluates gradients at every adversarial point itself. Opaque mode runs the whole cycle in
    one ``update``, calling ``grad_fn(params, i)`` for the gradient at the i-th adversarial
    point, so that side effects of a training step (batch-norm statistics) happen once a cycle.
    ``optimizer`` reads the params :math:`\theta`; extra arguments reach both optimizers.

    The results are Optax's ``optax.contrib.sam`` step for step, with one difference: with
    ``sync_period=1`` Optax's outer step starts from the params of the update before (its cache
    is refreshed after it is read), which drops every other update; here every update is the
    outer optimizer's step from the current params, SAM with no ascent.

    Args:
        optimizer: the outer optimizer: a transformation, or a list of them in sequence.
        adv_optimizer: the adversarial optimizer, whose updates are negated (ascent): a
            transformation, or a list of them in sequence.
        sync_period: :math:`k`, updates per cycle: an int ``>= 1`` (2: one ascent, as in the
            paper).
        reset_state: restart ``adv_optimizer`` from its ``init`` at the end of every cycle (its
            hyperparameters excepted: a value set with :func:`gradxform.set_hyperparams` stays).
        opaque_mode: run a whole cycle in each ``update``; ``update`` then needs
            ``grad_fn=``, a function ``(params, i) -> gradients``.
        batch_axis_name: in opaque mode under ``pmap`` / ``shard_map``, the axis over which the
            adversarial gradients are averaged (``jax.lax.pmean``); ``None`` for none.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`SAMState`; its ``update``
        needs params.

    References:
        Foret, Kleiner, Mobahi & Neyshabur, "Sharpness-Aware Minimization for Efficiently
        Improving Generalization", ICLR 2021, Algorithm 1. https://arxiv.org/abs/2010.01412

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.sam(gx.sgd(0.5), gx.chain(gx.normalize(), gx.sgd(0.1)))
        >>> params = jnp.array([3.0, 4.0])
        >>> state = opt.init(params)
        >>> for _ in range(2):  # gradient of |x|^2 / 2: the params themselves
        ...     updates, state = opt.update(params, state, params)
        ...     params = gx.apply_updates(params, updates)
        >>> params.tolist()  # 3.0 - 0.5 * (3.0 + 0.1 * 3/5), 4.0 - 0.5 * (4.0 + 0.1 * 4/5)
        [1.47..., 1.96...]
    """
    _check.int_at_least(_WHO, 1, " k=1 takes no ascent step: plain `optimizer`.",
                        sync_period=sync_period)
    _check.flag(_WHO, reset_state=reset_state, opaque_mode=opaque_mode)
    if batch_axis_name is not None and not isinstance(batch_axis_name, str):
        raise TypeError(_check.WRONG_KIND.format(who=_WHO, name="batch_axis_name",
                                                 expected="an axis name (str) or None",
                                                 got=_check.describe(batch_axis_name)))
    outer, adversary = whole(optimizer, _WHO), whole(adv_optimizer, _WHO)

    def init(params):
        return SAMState(
            steps_since_sync=_step.zero(),
            opt_state=outer.init(params),
            adv_state=adversary.init(params),
            cache=None if opaque_mode else _copy(params),
        )

    def transparent_update(updates, state, params=None, **extra_args):
        _needs(params)
        extra_args.pop("grad_fn", None)  # Optax's opaque-mode argument, not used here
        first = state.steps_since_sync == 0
        last = state.steps_since_sync == sync_period - 1
        start = _tree.where(first, params, state.cache)  # theta, where this cycle began
        ascent, adv_state = _ascent(updates, state.adv_state, params, extra_args)
        descent, opt_state = outer.update(updates, state.opt_state, start, **extra_args)
        back_and_down = jax.tree.map(lambda s, p, d: s - p + d, start, params, descent)
        if reset_state:
            adv_state = _tables.reset_but_hyperparams(last, adv_state, adversary.init(params))
        else:
            adv_state = _tree.where(last, state.adv_state, adv_state)
        return _tree.where(last, back_and_down, ascent), SAMState(
            steps_since_sync=_step.increment(state.steps_since_sync) % sync_period,
            opt_state=_tree.where(last, opt_state, state.opt_state),
            adv_state=adv_state,
            cache=start,
        )

    def opaque_update(updates, state, params=None, *, grad_fn=None, **extra_args):
        _needs(params)
        if not callable(grad_fn):
            raise ValueError(_NO_GRAD_FN.format(got=_check.describe(grad_fn)))
        point, adv_state = params, state.adv_state
        for i in range(sync_period - 1):
            ascent, adv_state = _ascent(updates, adv_state, point, extra_args)
            point = apply_updates(point, ascent)
            updates = grad_fn(point, i)
            if batch_axis_name is not None:
                updates = jax.lax.pmean(updates, axis_name=batch_axis_name)
        if reset_state:
            adv_state = _tables.reset_but_hyperparams(True, adv_state, adversary.init(params))
        updates, opt_state = outer.update(updates, state.opt_state, params, **extra_args)
        return updates, SAMState(_step.zero(), opt_state, adv_state, None)

    def _ascent(updates, adv_state, params, extra_args) -> tuple[PyTree, PyTree]:
        """The adversarial optimizer's update, negated: a step up the loss."""
        step, adv_state = adversary.update(updates, adv_state, params, **extra_args)
        return jax.tree.map(jnp.negative, step), adv_state

    return GradientTransformation(init, opaque_update if opaque_mode else transparent_update)


_NO_GRAD_FN = (
    "sam.update: opaque_mode=True needs grad_fn=, a function (params, i) -> gradients at the i-th "
    "adversarial point, got grad_fn={got}."
)


def _needs(params: Any) -> None:
    if params is None:
        raise ValueError(_check.PARAMS_NEEDED.format(who=_WHO, why="(the outer step starts from them)"))


def _copy(params: PyTree) -> PyTree:
    """A copy of ``params`` in buffers of its own, so that params and state can both be donated."""
    return jax.tree.map(lambda p: jnp.array(p, copy=True), params)
