"""Gradient accumulation: several micro-batches per optimizer step."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from ..core import check as _check
from ..core import recipe as _recipe
from ..core import shapes as _shapes
from ..core import step as _step
from ..core import tree as _tree
from ..core.chain import whole, with_errors_named
from ..core.protocol import GradientTransformation
from ..core.state_class import state_class
from ..core.types import PyTree

ShouldSkipUpdateFn = Callable[[PyTree, jax.Array, Optional[PyTree]], tuple[jax.Array, PyTree]]


@state_class
class MultiStepsState(NamedTuple):
    mini_step: jax.Array  # int32: micro-batches accumulated since the last inner update, in [0, k)
    gradient_step: jax.Array  # int32: inner updates so far; saturates at 2**31 - 1
    inner_opt_state: PyTree  # the wrapped optimizer's state; advances only on inner updates
    acc_grads: PyTree  # mean (or sum) of this window's micro-batch updates; params' tree
    skip_state: PyTree = ()  # the second output of should_skip_update_fn, for monitoring


class MultiSteps:
    r"""Accumulate the updates of ``k`` micro-batches, then take one step of the wrapped optimizer.

    For micro-batch updates :math:`g_1, \dots, g_k` of one window,

    .. math::  \bar g = \frac{1}{k} \sum_{j=1}^k g_j \ (\text{or } \textstyle\sum_j g_j), \qquad
               u = \begin{cases} \mathrm{opt}(\bar g) & \text{after the } k\text{-th micro-batch} \\
                                 0 & \text{before it} \end{cases}

    so that, when the loss is a mean over examples, ``k`` micro-batches of size ``b`` take the
    same step as one batch of size ``k b``. The mean is accumulated as Welford's running mean
    :math:`a_j = a_{j-1} + (g_j - a_{j-1}) / j`, term for term as Optax does. The state holds one
    accumulator shaped like the params and the wrapped optimizer's state, which advances only
    when a step is taken: an inner :func:`gradxform.chain` (any alias) counts optimizer steps,
    not micro-batches. Same name, arguments and methods as Optax's ``MultiSteps``.

    The accumulator is float32 for low-precision params (bfloat16, float16), as in Optax, so that
    ``k`` small bfloat16 gradients are not rounded ``k`` times; the mean is cast back to the
    params' dtype before it reaches the wrapped optimizer. Deliberate difference: Optax
    accumulates *every* leaf in float32, float64 and complex ones too (losing float64 precision
    and the imaginary part of complex gradients); by default gradxform accumulates each leaf in
    its dtype promoted to at least float32: float32 and float64 stay as they are, complex64 and
    complex128 too. Pass ``accumulator_dtype=jnp.float32`` for Optax's
    exact behaviour.

    Args:
        opt: the wrapped optimizer (a transformation, or a list of them applied in sequence).
        every_k_schedule: :math:`k`, an int ``>= 1``, or a function of the number of optimizer
            steps taken so far (``gradient_step``, 0 at first) returning one, to grow the
            effective batch during training.
        use_grad_mean: average the micro-batch updates (``True``) or sum them (``False``).
        should_skip_update_fn: ``(updates, gradient_step, params) -> (skip, skip_state)``; a
            micro-batch with ``skip`` true is ignored as if it never happened (zero update,
            state unchanged but for ``skip_state``). See :func:`skip_not_finite`.
        accumulator_dtype: dtype of the accumulator for every leaf; ``None`` (default) uses
            each leaf's dtype promoted to at least float32 (bfloat16 -> float32, float64 stays
            float64). Pass the params' low-precision dtype (``jnp.bfloat16``) to save memory at
            the cost of rounding every micro-batch.

    Returns:
        An object with ``init`` and ``update`` (usable wherever a :class:`GradientTransformation`
        is) whose state is :class:`MultiStepsState`.

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.MultiSteps(gx.scale(-1.0), every_k_schedule=2)
        >>> state = opt.init(jnp.zeros(1))
        >>> first, state = opt.update(jnp.array([1.0]), state)
        >>> second, state = opt.update(jnp.array([3.0]), state)
        >>> first.tolist(), second.tolist()
        ([0.0], [-2.0])
    """

    def __init__(
        self,
        opt,
        every_k_schedule: Union[int, Callable[[jax.Array], Any]],
        use_grad_mean: bool = True,
        should_skip_update_fn: Optional[ShouldSkipUpdateFn] = None,
        accumulator_dtype: Any = None,
    ):
        self._opt = whole(opt, "MultiSteps")
        self._recipe = _recipe.record(self, "MultiSteps", opt=self._opt, every_k_schedule=every_k_schedule)
        self._named = with_errors_named(self._opt, "MultiSteps")  # its errors led by "MultiSteps.update: ..."
        if callable(every_k_schedule):
            _first_k_at_least_one(every_k_schedule)
            self._every_k = every_k_schedule
        else:
            _check.int_at_least(
                "MultiSteps", 1, " k=1 takes an optimizer step after every micro-batch.",
                every_k_schedule=every_k_schedule,
            )
            self._every_k = lambda step: every_k_schedule
        if should_skip_update_fn is not None:
            _check.is_callable("MultiSteps", should_skip_update_fn=should_skip_update_fn)
        self._use_grad_mean = use_grad_mean
        self._should_skip = should_skip_update_fn
        self._accumulator_dtype = accumulator_dtype

    @property
    def inner_opt(self) -> GradientTransformation:
        return self._opt

    def init(self, params: PyTree) -> MultiStepsState:
        _check.inexact_leaves("MultiSteps", params)
        gradient_step = _step.zero()
        skip_state = ()
        if self._should_skip is not None:
            _, skip_state = self._should_skip(_tree.zeros_like(params), gradient_step, params)
        return MultiStepsState(
            mini_step=_step.zero(),
            gradient_step=gradient_step,
            inner_opt_state=self._named.init(params),
            acc_grads=jax.tree.map(
                lambda p: jnp.zeros_like(p, accumulator_dtype(jnp.result_type(p), self._accumulator_dtype)),
                params,
            ),
            skip_state=skip_state,
        )

    def update(self, updates, state: MultiStepsState, params=None, **extra_args):
        """Accumulate ``updates``; every ``k``-th call return the wrapped optimizer's update, else zeros."""
        updates = _shapes.as_arrays(updates)
        _shapes.buffer_fits("MultiSteps", updates, state.acc_grads, "accumulator (shaped like the params)")
        k = jnp.asarray(self._every_k(state.gradient_step), jnp.int32)
        n = state.mini_step

        def accumulate(g, acc):
            g = g.astype(acc.dtype)
            if self._use_grad_mean:
                return acc + (g - acc) / (n + 1).astype(acc.dtype)
            return g + acc

        acc = jax.tree.map(accumulate, updates, state.acc_grads)
        out, inner_state = self._named.update(
            _tree.cast_like(acc, updates), state.inner_opt_state, params, **extra_args
        )
        emit = n == k - 1
        new_state = MultiStepsState(
            mini_step=_step.increment(n) % k,
            gradient_step=jnp.where(emit, _step.increment(state.gradient_step), state.gradient_step),
            inner_opt_state=select(emit, inner_state, state.inner_opt_state),
            acc_grads=jax.tree.map(lambda a: jnp.where(emit, jnp.zeros_like(a), a), acc),
            skip_state=state.skip_state,
        )
        out = jax.tree.map(lambda u: jnp.where(emit, u, jnp.zeros_like(u)), out)
        if self._should_skip is None:
            return out, new_state
        skip, skip_state = self._should_skip(updates, state.gradient_step, params)
        skip = jnp.asarray(skip)
        if skip.dtype != jnp.bool_ or skip.shape != ():
            raise ValueError(
                _check.SKIP_FN_RESULT.format(who="MultiSteps", dtype=skip.dtype, shape=skip.shape)
            )
        out = jax.tree.map(lambda u: jnp.where(skip, jnp.zeros_like(u), u), out)
        new_state = select(skip, state, new_state)._replace(skip_state=skip_state)
        return out, new_state

    def has_updated(self, state: MultiStepsState) -> jax.Array:
        """Whether the last call to ``update`` took an optimizer step (a bool scalar)."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """This wrapper as a :class:`GradientTransformation`, its recipe recorded (as a link of a
        chain, it counts its own steps: the chain keeps none for it)."""

        def update(updates, state, params=None, **extra_args):
            return self.update(updates, state, params, **extra_args)

        return _recipe.attach(GradientTransformation(self.init, update), self._recipe)


def _first_k_at_least_one(every_k_schedule: Callable[[jax.Array], Any]) -> None:
    """Evaluate the schedule at step 0, when ``MultiSteps`` is built: a ``k`` below 1 there
    would never take a step (the accumulator is never full), silently."""
    k = jnp.asarray(every_k_schedule(_step.zero()))
    if k.shape != () or not jnp.issubdtype(k.dtype, jnp.number) or jnp.issubdtype(k.dtype, jnp.complexfloating):
        raise TypeError(_check.FIRST_K_NOT_A_NUMBER.format(got=_check.describe(k)))
    if not isinstance(k, jax.core.Tracer) and not float(k) >= 1:
        raise ValueError(_check.FIRST_K_BELOW_ONE.format(k=k.item()))


def accumulator_dtype(param_dtype: Any, requested: Any = None) -> Any:
    """The dtype :class:`MultiSteps` accumulates a leaf of ``param_dtype`` in: ``requested`` if
    given, else ``param_dtype`` promoted to at least float32 (bfloat16 and float16 to float32)."""
    if requested is not None:
        return jax.dtypes.canonicalize_dtype(requested)
    dtype = jnp.dtype(param_dtype)
    if jnp.issubdtype(dtype, jnp.floating) and dtype.itemsize < 4:  # bfloat16, float16, float8
        return jnp.dtype(jnp.float32)
    return dtype


def skip_not_finite(
    updates: PyTree, gradient_step: jax.Array, params: Optional[PyTree]
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """A ``should_skip_update_fn`` for :class:`MultiSteps`: skip micro-batches with a NaN or Inf.

    Returns:
        ``(skip, {"should_skip": skip, "num_not_finite": count})``: ``skip`` a bool scalar,
        ``count`` the number of non-finite entries in ``updates``.
    """
    counts = [jnp.sum(jnp.logical_not(jnp.isfinite(u))) for u in jax.tree.leaves(updates)]
    num_not_finite = sum(counts, jnp.zeros([], counts[0].dtype if counts else jnp.int32))
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


@state_class
class ApplyEveryState(NamedTuple):
    count: jax.Array  # type: ignore[assignment]  # int32: updates seen in the current window, in [0, k)
    grad_acc: PyTree  # sum of this window's updates; params' tree and dtype


# Optax's name for the same state (optax.ApplyEvery: the fields count and grad_acc), so that code
# switching from Optax that builds or checks the state by that name keeps working.
ApplyEvery = ApplyEveryState


@_recipe.factory
def apply_every(k: int = 1) -> GradientTransformation:
    r"""Sum the updates over ``k`` steps and emit the sum on the ``k``-th, zeros in between.

    .. math::  u_t = \begin{cases} \sum_{j=t-k+1}^{t} g_j & t \equiv 0 \pmod k \\
                                   0 & \text{otherwise} \end{cases}

    Unlike :class:`MultiSteps`, the transformations chained before or after this one still update
    their state every step, so ``k`` batches of size ``b`` are not one batch of size ``k b``.
    Same as Optax's ``apply_every``.

    Args:
        k: the number of steps summed; an int ``>= 1``.

    Returns:
        A :class:`GradientTransformation` whose state is :class:`ApplyEveryState`.
    """
    _check.int_at_least("apply_every", 1, " k=1 emits every update unchanged.", k=k)

    def init(params):
        _check.inexact_leaves("apply_every", params)
        return ApplyEveryState(count=_step.zero(), grad_acc=_tree.zeros_like(params))

    def update(updates, state, params=None, **extra_args):
        _check.same_structure("apply_every", updates=updates, state=state.grad_acc)
        c = state.count % k
        grad_acc = jax.tree.map(
            lambda g, a: jnp.where(c != 0, a, jnp.zeros_like(a)) + g, updates, state.grad_acc
        )
        emit = c == k - 1
        out = jax.tree.map(lambda a: jnp.where(emit, a, jnp.zeros_like(a)), grad_acc)
        return out, ApplyEveryState(count=_step.increment(state.count) % k, grad_acc=grad_acc)

    return GradientTransformation(init, update)


def select(condition: jax.Array, if_true: PyTree, if_false: PyTree) -> PyTree:
    """Leafwise ``jnp.where(condition, if_true, if_false)``, keeping ``if_false``'s dtypes (states)."""

    def pick(a, b):
        a = a if a.dtype == b.dtype else a.astype(b.dtype)
        return jnp.where(condition, a, b)

    return jax.tree.map(pick, if_true, if_false)
