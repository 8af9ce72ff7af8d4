r"""Line searches: transformations that scale the update by a step the loss itself chooses.

Both take the loss through ``update``'s extra arguments, as Optax's do:
``update(updates, state, params, value=f(params), grad=grad_f(params), value_fn=f)``. Extra
arguments that ``value_fn`` names (data, labels) are passed on to it; any other extra argument
is a ``TypeError``, as in Optax (except ``step`` and ``hyperparams``, which :func:`gradxform.chain`
hands to every link). Along the update :math:`u` they search the line
:math:`\phi(\eta) = f(x + \eta u)`, whose slope is :math:`\phi'(\eta) = \nabla f(x + \eta u)^\top u`
(for complex params, with ``grad`` as :func:`jax.grad` gives it: :math:`\mathrm{Re}\sum g\,u`).
Everything runs in :func:`jax.lax.while_loop`, so a step jits; the search computes in the
params' real dtype (at least float32) whatever the dtypes of the loss and the hyperparameters.

The loss and gradient at the accepted point stay in the state (``value``, ``grad``), where
:func:`value_and_grad_from_state` finds them for the next update, as Optax's does. With
``verbose=True`` a search that fails says why, with one of the messages ``FLAG_*`` below.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import recipe as _recipe
from ..core import tree as _tree
from ..core.board import CHAIN_ARGS
from ..core.chain import primitive
from ..core.eager import compiled_when_eager, in_a_trace
from ..core.protocol import GradientTransformation
from ..core.state_class import fast_node, state_class
from ..core.types import PyTree

_OWN_ARGS = ("value", "grad", "value_fn")

UNUSED_EXTRA_ARGS = (
    "{who}: Unexpected keyword arguments {names} in update(): value_fn takes none of them (it "
    "takes {accepted} after params). Pass only the data value_fn names, e.g. "
    "update(grads, state, params, value=loss, grad=grads, value_fn=loss_fn, batch=batch) for "
    "loss_fn(params, batch)."
)
NO_STORED_LOSS = (
    "value_and_grad_from_state: the state holds no line search's loss and gradient ({why}). "
    "Chain scale_by_zoom_linesearch, or scale_by_backtracking_linesearch(..., store_grad=True), "
    "into the optimizer whose state you pass."
)
SEVERAL_STORED_LOSSES = (
    "value_and_grad_from_state: the state holds {count} line search states with a loss and a "
    "gradient; it cannot tell which to reuse. Keep one line search in the optimizer."
)

# What verbose=True prints when a search fails (gradxform's words, under Optax's names).
FLAG_INTERVAL_NOT_FOUND = (
    "No bracket found: the largest step allowed still decreases the loss enough but the slope "
    "is still steep there; a larger max_learning_rate may help."
)
FLAG_INTERVAL_TOO_SMALL = "The bracket around the step shrank below stepsize_precision."
FLAG_CURVATURE_COND_NOT_SATISFIED = (
    "Taking a step that decreases the loss enough but misses the curvature condition."
)
FLAG_NO_STEPSIZE_FOUND = "No step that decreases the loss enough was found."
FLAG_NOT_A_DESCENT_DIRECTION = (
    "The update is not a descent direction: the loss does not decrease along it (slope >= 0); "
    "check its sign."
)


@fast_node
class BacktrackingLinesearchInfo(NamedTuple):
    num_linesearch_steps: jax.Array  # int32 scalar: losses evaluated in the latest search
    decrease_error: jax.Array  # real scalar: how far the accepted step misses Armijo's condition; 0 if met


@state_class
class ScaleByBacktrackingLinesearchState(NamedTuple):
    learning_rate: jax.Array  # real scalar (params' real dtype, >= float32): the accepted step eta
    value: jax.Array  # same dtype: the loss at the accepted point; +inf before the first update
    grad: PyTree | None  # the gradient at the accepted point (store_grad=True), else None
    info: BacktrackingLinesearchInfo


@_recipe.factory
def scale_by_backtracking_linesearch(
    max_backtracking_steps: int,
    slope_rtol: float = 1e-4,
    decrease_factor: float = 0.8,
    increase_factor: float = 1.5,
    max_learning_rate: float = 1.0,
    atol: float = 0.0,
    rtol: float = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformation:
    r"""Scale the update by the first step, shrinking geometrically, that decreases the loss enough.

    Starting from :math:`\eta = \min(\kappa\,\eta_{prev}, \eta_{max})`, the step is multiplied by
    :math:`\tau` until Armijo's sufficient-decrease condition (N&W eq. 3.4, Algorithm 3.1)

    .. math::  f(x + \eta u) \le (1 + \delta) f(x) + c\,\eta\, \nabla f(x)^\top u + \epsilon

    holds, or ``max_backtracking_steps`` shrinks have been tried; then :math:`u \leftarrow \eta u`.
    A loss that is ``nan`` or ``inf`` at every trial gives :math:`\eta = 0` (no step). ``u``
    must be a descent direction (:math:`\nabla f(x)^\top u < 0`), e.g. minus a gradient.

    ``update`` takes ``value``, ``grad`` and ``value_fn`` (see :mod:`gradxform.transforms.linesearch`).
    Optax's ``scale_by_backtracking_linesearch``, same arguments; the state's ``info`` holds the
    diagnostics.

    Args:
        max_backtracking_steps: the most shrinks per update; an int ``>= 0`` (at most this many
            plus one losses are evaluated).
        slope_rtol: :math:`c`, the fraction of the linear decrease required; in ``[0, 1)``.
        decrease_factor: :math:`\tau`, multiplies the step at each shrink; in ``(0, 1)``.
        increase_factor: :math:`\kappa`, the first trial is this times the previous step; in
            ``[1, inf]`` (1 keeps it, ``math.inf`` always starts from ``max_learning_rate``).
        max_learning_rate: :math:`\eta_{max}`, the largest step tried; ``> 0``.
        atol: :math:`\epsilon`, absolute slack in the condition; ``>= 0``.
        rtol: :math:`\delta`, slack relative to :math:`f(x)`; ``>= 0``.
        store_grad: also compute the gradient at the accepted point and keep it in the state,
            for reuse at the next update (:func:`value_and_grad_from_state`).
        verbose: print, from inside jit, why a search ended without meeting the condition.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByBacktrackingLinesearchState`.

    References:
        Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer, 2006, Algorithm 3.1.
        https://doi.org/10.1007/978-0-387-40065-5
        Armijo, "Minimization of functions having Lipschitz continuous first partial
        derivatives", Pacific Journal of Mathematics 16(1), 1966.
        https://doi.org/10.2140/pjm.1966.16.1
    """
    who = "scale_by_backtracking_linesearch"
    _check.non_negative_int(who, max_backtracking_steps=max_backtracking_steps)
    _check.fixed(
        who, slope_rtol=slope_rtol, decrease_factor=decrease_factor, increase_factor=increase_factor,
        max_learning_rate=max_learning_rate, atol=atol, rtol=rtol,
    )
    _check.in_interval(who, 0, 1, "left", slope_rtol=slope_rtol)
    _check.in_interval(who, 0, 1, "neither", decrease_factor=decrease_factor)
    _check.in_interval(who, 1, math.inf, "both", increase_factor=increase_factor)
    _check.positive(who, max_learning_rate=max_learning_rate)
    _check.non_negative(who, atol=atol, rtol=rtol)
    _check.flag(who, store_grad=store_grad, verbose=verbose)

    def init(params):
        _check.inexact_leaves(who, params)
        dtype = real_dtype(params)
        return ScaleByBacktrackingLinesearchState(
            learning_rate=jnp.ones([], dtype),
            value=jnp.full([], jnp.inf, dtype),
            grad=_tree.zeros_like(params) if store_grad else None,
            info=BacktrackingLinesearchInfo(jnp.zeros([], jnp.int32), jnp.full([], jnp.inf, dtype)),
        )

    def update(updates, state, params=None, **extra_args):
        value, grad, value_fn, data = _loss_along(who, updates, params, extra_args)
        return run(updates, state, params, value, grad, data, value_fn=value_fn)

    def search(updates, state, params, value, grad, data, *, value_fn):
        fn = _closed_over(value_fn, data)
        dtype = real_dtype(params)
        value, slope = value.astype(dtype), _slope(grad, updates).astype(dtype)
        c, tau, kappa, eta_max, epsilon, delta = _in_dtype(
            dtype, slope_rtol, decrease_factor, increase_factor, max_learning_rate, atol, rtol
        )

        def decrease_error(eta, new_value):  # > 0 where Armijo's condition fails; nan -> inf
            error = new_value - (1 + delta) * value - eta * c * slope
            return jnp.maximum(jnp.where(jnp.isnan(error), jnp.inf, error), 0)

        def searching(carry):
            _, _, _, error, n = carry
            return ~(error <= epsilon) & (n <= max_backtracking_steps)

        def trial(carry):
            eta, _, new_grad, _, n = carry
            eta = jnp.where(n > 0, tau * eta, eta)  # the first trial is the guess
            point = plus_scaled(params, eta, updates)
            if store_grad:
                new_value, pullback = jax.vjp(fn, point)
                error = decrease_error(eta, new_value.astype(dtype))
                new_grad = jax.lax.cond(  # only at the point the search ends on
                    (error <= epsilon) | (n == max_backtracking_steps),
                    lambda: _tree.cast_like(pullback(jnp.ones_like(new_value))[0], params),
                    lambda: new_grad,
                )
            else:
                new_value = fn(point)
                error = decrease_error(eta, new_value.astype(dtype))
            return eta, new_value.astype(dtype), new_grad, error, n + 1

        previous = jnp.asarray(state.learning_rate).astype(dtype)  # Optax's tree.set may put a float
        guess = jnp.minimum(kappa * previous, eta_max)
        start = (guess, value, state.grad, jnp.full([], jnp.inf, dtype), jnp.zeros([], jnp.int32))
        eta, new_value, new_grad, error, n = jax.lax.while_loop(searching, trial, start)
        if verbose:
            _report_backtracking(who, error > epsilon, value, slope, eta, error)
        eta = jnp.where(jnp.isinf(error), 0, eta)  # every trial gave nan or inf: stay put
        out = jax.tree.map(lambda u: _tree.times(u, eta), updates)
        return out, ScaleByBacktrackingLinesearchState(
            learning_rate=eta, value=new_value, grad=new_grad, info=BacktrackingLinesearchInfo(n, error)
        )

    run = compiled_when_eager(search, static=("value_fn",))
    return primitive(init, update)


@fast_node
class ZoomLinesearchInfo(NamedTuple):
    num_linesearch_steps: jax.Array  # int32 scalar: losses and gradients evaluated in the latest search
    decrease_error: jax.Array  # real scalar: how far the last trial misses sufficient decrease; 0 if met
    curvature_error: jax.Array  # real scalar: how far it misses the curvature condition; 0 if met


@state_class
class ScaleByZoomLinesearchState(NamedTuple):
    learning_rate: jax.Array  # real scalar (params' real dtype, >= float32): the accepted step eta
    value: jax.Array  # same dtype: the loss at the accepted point; +inf before the first update
    grad: PyTree  # the gradient at the accepted point; params' tree and dtypes
    info: ZoomLinesearchInfo


class _Search(NamedTuple):
    """The zoom line search's loop state (Algorithms 3.5 and 3.6); scalars in one real dtype."""

    trials: jax.Array  # int32: trials so far
    stepsize: jax.Array  # the latest trial eta, its loss, gradient and slope phi'(eta)
    value: jax.Array
    grad: PyTree
    slope: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array
    interval_found: jax.Array  # bool: zooming (Algorithm 3.6) rather than widening (3.5)
    done: jax.Array  # bool: the latest trial meets both conditions
    failed: jax.Array  # bool: out of trials, or the interval became too small
    low: jax.Array  # the end of the bracket with the lower loss, its loss and slope
    value_low: jax.Array
    slope_low: jax.Array
    high: jax.Array  # the other end (not necessarily the larger step)
    value_high: jax.Array
    slope_high: jax.Array
    cubic_ref: jax.Array  # the previous end dropped from the bracket, a third point for the cubic
    value_cubic_ref: jax.Array
    safe_stepsize: jax.Array  # the best trial meeting sufficient decrease so far (0: none)
    safe_value: jax.Array
    safe_grad: PyTree


@_recipe.factory
def scale_by_zoom_linesearch(
    max_linesearch_steps: int,
    max_learning_rate: float | None = None,
    tol: float = 0.0,
    increase_factor: float = 2.0,
    slope_rtol: float = 1e-4,
    curv_rtol: float = 0.9,
    approx_dec_rtol: float | None = 1e-6,
    stepsize_precision: float = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformation:
    r"""Scale the update by a step meeting the strong Wolfe conditions, found by bracketing and zoom.

    With :math:`\phi(\eta) = f(x + \eta u)`, the step satisfies (N&W eqs. 3.7a, 3.7b)

    .. math::
        \phi(\eta) \le \phi(0) + c_1 \eta\, \phi'(0) + \epsilon, \qquad
        |\phi'(\eta)| \le c_2\, |\phi'(0)| + \epsilon,

    then :math:`u \leftarrow \eta u`. Algorithm 3.5 tries :math:`\eta_0` (1, or the previous
    step), then multiplies it by ``increase_factor`` until a trial brackets an acceptable step;
    Algorithm 3.6 then shrinks the bracket :math:`[\eta_{lo}, \eta_{hi}]`, trying the minimizer
    of the cubic through the two ends and the previously dropped end, else of the quadratic
    through :math:`\phi(\eta_{lo}), \phi'(\eta_{lo}), \phi(\eta_{hi})`, else the midpoint (an
    interpolant is taken only well inside the bracket: 20% and 10% margins). Each trial
    evaluates the loss and its gradient once; the loss and gradient at the accepted step are
    kept in the state.

    Near a minimum, :math:`\phi(\eta) - \phi(0)` drowns in rounding, so (unless
    ``approx_dec_rtol=None``) sufficient decrease may also be met by Hager & Zhang's
    approximate condition :math:`\phi'(\eta) \le (2c_1 - 1)\,\phi'(0)` where
    :math:`\phi(\eta) \le \phi(0) + c_3 |\phi(0)|`. If the trials run out, or the bracket
    shrinks below ``stepsize_precision``, the best step seen that decreased the loss enough is
    taken; with none, the last trial (or 0 where the loss was ``nan``/``inf``). The state's
    ``info`` tells which conditions the step met.

    ``update`` takes ``value``, ``grad`` and ``value_fn`` (see :mod:`gradxform.transforms.linesearch`).
    Optax's ``scale_by_zoom_linesearch``, same arguments and the same choices, trial for trial.

    Args:
        max_linesearch_steps: the most trials per update; an int ``>= 1``.
        max_learning_rate: the largest step tried, ``> 0``; ``None`` for no limit.
        tol: :math:`\epsilon`, slack in both conditions; ``>= 0``.
        increase_factor: multiplies the step while bracketing; ``> 1``.
        slope_rtol: :math:`c_1`, sufficient decrease; in ``(0, 1)``.
        curv_rtol: :math:`c_2`, curvature; in ``(c_1, inf]`` (``inf`` drops the condition).
        approx_dec_rtol: :math:`c_3` of the approximate condition, ``>= 0``; ``None`` for
            Armijo's condition only.
        stepsize_precision: a bracket narrower than this ends the search; ``>= 0``.
        initial_guess_strategy: ``"one"`` starts from :math:`\eta_0 = 1` (for Newton-like
            directions such as L-BFGS's) or ``"keep"`` from the previous step.
        verbose: print, from inside jit, why a search ended without meeting both conditions
            (the ``FLAG_*`` messages of :mod:`gradxform.transforms.linesearch`).

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ScaleByZoomLinesearchState`.

    References:
        Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer, 2006, Algorithms 3.5
        and 3.6, eqs. 3.7 and 3.43 (the cubic). https://doi.org/10.1007/978-0-387-40065-5
        Hager & Zhang, "Algorithm 851: CG_DESCENT, a conjugate gradient method with
        guaranteed descent", ACM Transactions on Mathematical Software 32(1), 2006.
        https://doi.org/10.1145/1132973.1132979
    """
    who = "scale_by_zoom_linesearch"
    _check.int_at_least(
        who, 1, " Each trial evaluates the loss once; try 20.", max_linesearch_steps=max_linesearch_steps
    )
    optional = {"max_learning_rate": max_learning_rate, "approx_dec_rtol": approx_dec_rtol}
    _check.fixed(
        who, tol=tol, increase_factor=increase_factor, slope_rtol=slope_rtol, curv_rtol=curv_rtol,
        stepsize_precision=stepsize_precision, **{k: v for k, v in optional.items() if v is not None},
    )
    if max_learning_rate is not None:
        _check.positive(who, max_learning_rate=max_learning_rate)
    if approx_dec_rtol is not None:
        _check.non_negative(who, approx_dec_rtol=approx_dec_rtol)
    _check.non_negative(who, tol=tol, stepsize_precision=stepsize_precision)
    _check.in_interval(who, 1, math.inf, "neither", increase_factor=increase_factor)
    _check.in_interval(who, 0, 1, "neither", slope_rtol=slope_rtol)
    _check.in_interval(who, 0, math.inf, "right", curv_rtol=curv_rtol)
    c1, c2 = _check._concrete(slope_rtol), _check._concrete(curv_rtol)  # None for a jax.Array
    if c1 is not None and c2 is not None and not c1 < c2:
        raise ValueError(_check.WOLFE_ORDER.format(who=who, slope_rtol=slope_rtol, curv_rtol=curv_rtol))
    _check.choice(who, "initial_guess_strategy", initial_guess_strategy, ("one", "keep"))
    _check.flag(who, verbose=verbose)

    def init(params):
        _check.inexact_leaves(who, params)
        dtype = real_dtype(params)
        def inf():  # a buffer for each field, so that the state can be donated
            return jnp.full([], jnp.inf, dtype)

        return ScaleByZoomLinesearchState(
            learning_rate=jnp.ones([], dtype),
            value=inf(),
            grad=_tree.zeros_like(params),
            info=ZoomLinesearchInfo(jnp.zeros([], jnp.int32), inf(), inf()),
        )

    def update(updates, state, params=None, **extra_args):
        _check.same_structure(who, updates=updates, state=state.grad)
        value, grad, value_fn, data = _loss_along(who, updates, params, extra_args)
        return run(updates, state, params, value, grad, data, value_fn=value_fn)

    def search(updates, state, params, value, grad, data, *, value_fn):
        fn = _closed_over(value_fn, data)
        dtype = real_dtype(params)
        value0, slope0 = value.astype(dtype), _slope(grad, updates).astype(dtype)
        value_and_grad = jax.value_and_grad(fn)
        epsilon, factor, c1, c2, c3, precision = _in_dtype(
            dtype, tol, increase_factor, slope_rtol, curv_rtol, approx_dec_rtol, stepsize_precision
        )
        eta_max = _in_dtype(dtype, max_learning_rate)[0]

        def on_line(eta):  # phi(eta), grad f(x + eta u), phi'(eta)
            point_value, point_grad = value_and_grad(plus_scaled(params, eta, updates))
            point_grad = _tree.cast_like(point_grad, params)
            return point_value.astype(dtype), point_grad, _slope(point_grad, updates).astype(dtype)

        def errors(eta, value, slope):  # > 0 where a condition fails; nan -> inf
            decrease = value - value0 - c1 * eta * slope0  # Armijo, eq. 3.7a
            if c3 is not None:  # Hager & Zhang, eqs. 23, 26-27
                approximate = slope - (2 * c1 - 1.0) * slope0
                near_minimum = value - value0 - c3 * jnp.abs(value0)
                decrease = jnp.minimum(jnp.maximum(approximate, near_minimum), decrease)
            curvature = jnp.abs(slope) - c2 * jnp.abs(slope0)  # eq. 3.7b
            return tuple(
                jnp.where(jnp.isnan(e), jnp.inf, jnp.maximum(e, 0)) for e in (decrease, curvature)
            )

        def widen(z: _Search) -> _Search:  # Algorithm 3.5: look for a bracket
            eta = jnp.where(z.trials == 0, guess, factor * z.stepsize)
            at_max = jnp.zeros([], bool)
            if eta_max is not None:
                at_max, eta = eta >= eta_max, jnp.minimum(eta, eta_max)
            value, grad, slope = on_line(eta)
            decrease_error, curvature_error = errors(eta, value, slope)
            met = jnp.maximum(decrease_error, curvature_error) <= epsilon
            safe = _tree.where(
                decrease_error <= epsilon,
                (eta, value, grad),
                (z.safe_stepsize, z.safe_value, z.safe_grad),
            )
            high_is_new = (decrease_error > 0) | ((value >= z.value) & (z.trials > 0))
            low_is_new = (slope >= 0) & ~high_is_new
            previous, new = (z.stepsize, z.value, z.slope), (eta, value, slope)
            low, high = _tree.where(low_is_new, (new, previous), (previous, new))
            interval_found = high_is_new | low_is_new | met
            # At the largest step with no bracket, the curvature condition is out of reach.
            done = met | (at_max & ~interval_found)
            (low_eta, low_value, low_slope), (high_eta, high_value, high_slope) = low, high
            return _Search(
                z.trials + 1, eta, value, grad, slope, decrease_error, curvature_error,
                interval_found, done, (z.trials + 1 >= max_linesearch_steps) & ~done,
                low_eta, low_value, low_slope, high_eta, high_value, high_slope, low_eta, low_value,
                safe[0], safe[1], safe[2],
            )

        def zoom(z: _Search) -> _Search:  # Algorithm 3.6: shrink the bracket
            width = jnp.abs(z.high - z.low)
            left, right = jnp.minimum(z.low, z.high), jnp.maximum(z.low, z.high)
            cubic = _cubic_minimizer(
                z.low, z.value_low, z.slope_low, z.high, z.value_high, z.cubic_ref, z.value_cubic_ref
            )
            quadratic = _quadratic_minimizer(z.low, z.value_low, z.slope_low, z.high, z.value_high)
            use_cubic = (cubic > left + 0.2 * width) & (cubic < right - 0.2 * width)
            use_quadratic = ~use_cubic & (quadratic > left + 0.1 * width) & (quadratic < right - 0.1 * width)
            eta = jnp.where(use_cubic, cubic, jnp.where(use_quadratic, quadratic, (z.low + z.high) / 2.0))
            value, grad, slope = on_line(eta)
            decrease_error, curvature_error = errors(eta, value, slope)
            done = jnp.maximum(decrease_error, curvature_error) <= epsilon
            safe = _tree.where(
                (decrease_error <= epsilon) & (value < z.safe_value),
                (eta, value, grad),
                (z.safe_stepsize, z.safe_value, z.safe_grad),
            )
            high_is_new = (decrease_error > 0) | (value >= z.value_low)
            high_is_low = (slope * (z.high - z.low) >= 0) & ~high_is_new
            low, high = (z.low, z.value_low, z.slope_low), (z.high, z.value_high, z.slope_high)
            new = (eta, value, slope)
            new_high = _tree.where(high_is_new, new, _tree.where(high_is_low, low, high))
            new_low = _tree.where(high_is_new, low, new)
            # The end that leaves the bracket becomes the cubic's third point.
            cubic_ref = _tree.where(high_is_new | high_is_low, high[:2], low[:2])
            # Too narrow a bracket ends the search once some step decreased the loss enough.
            too_narrow = (width <= precision) & (safe[0] > 0)
            failed = ((z.trials + 1 >= max_linesearch_steps) | too_narrow) & ~done
            return _Search(
                z.trials + 1, eta, value, grad, slope, decrease_error, curvature_error,
                z.interval_found, done, failed, *new_low, *new_high, *cubic_ref, *safe,
            )

        def fall_back(z: _Search) -> _Search:  # the best step with sufficient decrease, if any
            use_safe = (z.safe_stepsize > 0) | jnp.isinf(z.decrease_error)
            eta, value, grad = _tree.where(
                use_safe, (z.safe_stepsize, z.safe_value, z.safe_grad), (z.stepsize, z.value, z.grad)
            )
            return z._replace(stepsize=eta, value=value, grad=grad)

        def trial(z: _Search) -> _Search:
            z = jax.lax.cond(z.interval_found, lambda z: _settled(zoom(z), z), lambda z: _settled(widen(z), z), z)
            return _tree.where(z.failed, _settled(fall_back(z), z), z)

        # Optax's tree.set may have put a Python float in the state.
        guess = jnp.ones([], dtype) if initial_guess_strategy == "one" else jnp.asarray(state.learning_rate, dtype)
        zero, no = jnp.zeros([], dtype), jnp.zeros([], bool)
        inf = jnp.full([], jnp.inf, dtype)
        start = _Search(
            jnp.zeros([], jnp.int32), zero, value0, grad, slope0, inf, inf, no, no, no,
            zero, value0, slope0, zero, value0, slope0, zero, value0, zero, value0, grad,
        )
        z = jax.lax.while_loop(lambda z: ~(z.done | z.failed), trial, start)
        if verbose:
            _report_zoom(who, z, value0, slope0, epsilon, precision)
        out = jax.tree.map(lambda u: _tree.times(u, z.stepsize), updates)
        info = ZoomLinesearchInfo(z.trials, z.decrease_error, z.curvature_error)
        return out, ScaleByZoomLinesearchState(z.stepsize, z.value, z.grad, info)

    run = compiled_when_eager(search, static=("value_fn",))
    return primitive(init, update)


def value_and_grad_from_state(value_fn: Callable) -> Callable:
    r"""Like :func:`jax.value_and_grad`, but reusing the loss and gradient a line search stored.

    A line search evaluates the loss, and with it the gradient, at the point it accepts: the
    params of the next update. The returned function, called as ``f(params, *args, state=state,
    **kwargs)``, finds the line search's state inside ``state`` (an optimizer's whole state,
    gradxform's or Optax's) and returns its ``(value, grad)``; only where the stored value is
    not finite (before the first update: it starts at ``+inf``) does it evaluate
    ``jax.value_and_grad(value_fn)(params, *args, **kwargs)``, under :func:`jax.lax.cond`, so
    a jitted step computes the gradient once per update instead of twice. Only for full-batch
    losses: the stored gradient is that of the data the previous update saw. Optax's
    ``value_and_grad_from_state``, same signature.

    Args:
        value_fn: the loss, ``value_fn(params, *args, **kwargs)`` returning a scalar.

    Returns:
        A function ``(params, *args, state, **kwargs) -> (value, grad)``. It raises
        ``ValueError`` if ``state`` holds no line search state with a loss and a gradient (or
        a backtracking search built without ``store_grad=True``), and ``KeyError`` (Optax's
        choice) if it holds several.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> f = lambda w: jnp.sum(w**2)
        >>> opt = gx.chain(gx.sgd(1.0), gx.scale_by_backtracking_linesearch(15, store_grad=True))
        >>> value_and_grad, w = gx.value_and_grad_from_state(f), jnp.array([1.0, 2.0])
        >>> state = opt.init(w); value, grad = value_and_grad(w, state=state)  # none stored: computed
        >>> updates, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=f)
        >>> w = gx.apply_updates(w, updates)
        >>> print(value_and_grad(w, state=state)[0], f(w))  # the stored value; f recomputed
        1.8000001 1.8000001
    """
    _check.is_callable("value_and_grad_from_state", value_fn=value_fn)
    compute = jax.value_and_grad(value_fn)

    def from_state(params, *args, state, **kwargs):
        value, grad = _stored_value_and_grad(state)

        def computed():
            new_value, new_grad = compute(params, *args, **kwargs)
            return jnp.asarray(new_value).astype(jnp.result_type(value)), _tree.cast_like(new_grad, grad)

        if not in_a_trace((value, params, args, kwargs)):  # eagerly: a Python branch, no compilation
            return (value, grad) if bool(jnp.isfinite(value)) else computed()
        return jax.lax.cond(jnp.isfinite(value), lambda: (value, grad), computed)

    return from_state


def _stored_value_and_grad(state) -> tuple:
    """The ``(value, grad)`` of the one line search state (any NamedTuple with both) in ``state``."""

    def holds_loss(node) -> bool:
        fields = getattr(type(node), "_fields", ())
        return isinstance(node, tuple) and "value" in fields and "grad" in fields

    found = [node for node in jax.tree.leaves(state, is_leaf=holds_loss) if holds_loss(node)]
    if not found:
        raise ValueError(NO_STORED_LOSS.format(why="none found"))
    if len(found) > 1:
        raise KeyError(SEVERAL_STORED_LOSSES.format(count=len(found)))
    if found[0].grad is None:
        raise ValueError(NO_STORED_LOSS.format(why="a backtracking line search without store_grad=True"))
    return found[0].value, found[0].grad


def _report_backtracking(who: str, failed, value, slope, eta, error) -> None:
    """Print, under jit, why the backtracking search failed (``verbose=True``)."""
    _say(
        failed,
        f"{who}: no step met the sufficient decrease condition. Loss {{value}}, slope along the "
        "update {slope}, last step {eta}, decrease error {error}.",
        value=value, slope=slope, eta=eta, error=error,
    )
    _say(jnp.isinf(error), f"{who}: the loss is nan or inf at every step tried; taking a step of 0.")


def _report_zoom(who: str, z: _Search, value0, slope0, tol, precision) -> None:
    """Print, under jit, why the zoom search ended without meeting both conditions (``verbose=True``)."""
    missed = jnp.maximum(z.decrease_error, z.curvature_error) > tol
    _say(
        missed,
        f"{who}: the step misses the strong Wolfe conditions. Loss {{value}}, slope along the "
        "update {slope}, step {eta}, decrease error {decrease}, curvature error {curvature}.",
        value=value0, slope=slope0, eta=z.stepsize, decrease=z.decrease_error, curvature=z.curvature_error,
    )
    _say(missed & ~z.failed, FLAG_INTERVAL_NOT_FOUND + " " + FLAG_CURVATURE_COND_NOT_SATISFIED)
    _say(z.failed & (jnp.abs(z.high - z.low) <= precision), FLAG_INTERVAL_TOO_SMALL)
    _say(z.failed & (z.safe_stepsize > 0), FLAG_CURVATURE_COND_NOT_SATISFIED)
    _say(z.failed & (z.safe_stepsize <= 0), FLAG_NO_STEPSIZE_FOUND)
    _say(z.failed & (z.safe_stepsize <= 0) & (slope0 >= 0), FLAG_NOT_A_DESCENT_DIRECTION)
    _say(z.failed & jnp.isinf(z.decrease_error), "The loss is nan or inf along the update; taking a step of 0.")


def _say(condition, message: str, **values) -> None:
    """``jax.debug.print(message)`` where ``condition`` holds, in program order."""
    jax.lax.cond(condition, lambda: jax.debug.print(message, ordered=True, **values), lambda: None)


def _in_dtype(dtype, *hyperparameters) -> tuple:
    """Array hyperparameters (a NumPy float64 under x64, say) in the search's dtype; Python
    numbers as they are, weakly typed, so they round as in Optax; ``None`` stays ``None``.
    (``type(h)``, not ``isinstance``: ``np.float64`` is a subclass of ``float``.)"""
    return tuple(
        h if h is None or type(h) in (int, float) else jnp.asarray(h).astype(dtype) for h in hyperparameters
    )


def real_dtype(tree: PyTree):
    """The real dtype of the tree's inner products: its leaves' promoted real dtype, >= float32.

    Reads dtypes only, so ``tree`` may hold :class:`jax.ShapeDtypeStruct` leaves."""
    with jax.numpy_dtype_promotion("standard"):
        dtype = jnp.result_type(jnp.float32, *[jnp.result_type(leaf) for leaf in jax.tree.leaves(tree)])
    return jnp.finfo(dtype).dtype


def plus_scaled(x: PyTree, factor: jax.Array, y: PyTree) -> PyTree:
    """``x + factor * y`` leaf by leaf (Optax's term order), each leaf keeping ``x``'s dtype."""

    def leaf(a, b):
        dtype = _tree.compute_dtype(_tree.result_dtype(a, b))
        return (a.astype(dtype) + jnp.asarray(factor).astype(dtype) * b.astype(dtype)).astype(a.dtype)

    return jax.tree.map(leaf, x, y)


def _slope(grad: PyTree, direction: PyTree) -> jax.Array:
    r"""The directional derivative :math:`\mathrm{Re}\sum g\,u` (``g`` as :func:`jax.grad` gives it)."""
    return _tree.vdot(jax.tree.map(jnp.conj, grad), direction)


def _settled(new: _Search, like: _Search) -> _Search:
    """``new`` with ``like``'s dtypes (no weak types), as :func:`jax.lax.while_loop` requires."""
    return jax.tree.map(lambda a, b: jnp.asarray(a).astype(b.dtype), new, like)


def _loss_along(who: str, updates, params, extra_args: dict) -> tuple:
    """``(value, grad, value_fn, data)`` from the extra arguments, checked; ``data`` holds the
    extra arguments ``value_fn`` takes after the params."""
    if params is None:
        raise ValueError(_check.PARAMS_NEEDED.format(who=who, why="to evaluate the loss along the update"))
    missing = [name for name in _OWN_ARGS if extra_args.get(name) is None]
    if missing:
        raise ValueError(_check.NEEDS_LOSS.format(who=who, missing=", ".join(f"'{m}'" for m in missing)))
    value, grad, value_fn = (extra_args[name] for name in _OWN_ARGS)
    _check.is_callable(who, value_fn=value_fn)
    if jnp.shape(value) != ():
        raise ValueError(_check.NOT_A_SCALAR_VALUE.format(who=who, shape=jnp.shape(value)))
    _check.same_structure(who, updates=updates, params=params)
    _check.same_structure(who, grad=grad, params=params)
    data = {k: v for k, v in extra_args.items() if k not in _OWN_ARGS + CHAIN_ARGS}
    accepted = _keyword_names(value_fn)
    unused = sorted(k for k in data if accepted is not None and k not in accepted)
    if unused:
        named = ", ".join(sorted(accepted or ())) or "nothing"
        raise TypeError(UNUSED_EXTRA_ARGS.format(who=who, names=unused, accepted=named))
    return jnp.asarray(value), _tree.cast_like(grad, params), value_fn, data


def _closed_over(value_fn: Callable, data: dict) -> Callable:
    """``f(params) = value_fn(params, **data)``: the loss along which a search runs."""
    return lambda p: value_fn(p, **data)


def _keyword_names(fn: Callable) -> set | None:
    """The names of ``fn``'s parameters after the first (the params), which extra arguments may
    fill; ``None`` where any name may (``**kwargs``, or a signature Python cannot read)."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in parameters[1:] if p.kind in kinds}


def _cubic_minimizer(a, fa, fpa, b, fb, c, fc):
    r"""The local minimizer of the cubic through :math:`(a, f_a)`, :math:`(b, f_b)`, :math:`(c, f_c)`
    with slope :math:`f'_a` at :math:`a` (N&W eq. 3.43's setting); ``nan`` or ``inf`` if none."""
    db, dc = b - a, c - a
    rb, rc = fb - fa - fpa * db, fc - fa - fpa * dc  # what the line a -> slope fpa misses
    denominator = (db * dc) ** 2 * (db - dc)
    p = (dc**2 * rb - db**2 * rc) / denominator  # p (x-a)^3 + q (x-a)^2 + fpa (x-a) + fa
    q = (-(dc**3) * rb + db**3 * rc) / denominator
    return a + (-q + jnp.sqrt(q * q - 3.0 * p * fpa)) / (3.0 * p)


def _quadratic_minimizer(a, fa, fpa, b, fb):
    r"""The critical point of the quadratic through :math:`(a, f_a)`, :math:`(b, f_b)` with slope
    :math:`f'_a` at :math:`a`."""
    db = b - a
    curvature = (fb - fa - fpa * db) / (db**2)
    return a - fpa / (2.0 * curvature)
