"""L-BFGS with a zoom line search.

Each alias is one ``def`` whose body is the recipe, one primitive per term of the paper's rule
with a trailing comment; its hyperparameters are declared once, in its decorator.
"""
from __future__ import annotations

from ..core import recipe as _recipe
from ..core.chain import chain
from ..core.protocol import GradientTransformation, identity
from ..transforms.lbfgs import scale_by_lbfgs
from ..transforms.linesearch import scale_by_zoom_linesearch
from ..transforms.scaling import ScalarOrSchedule, scale, scale_by_learning_rate

_ZOOM_LINESEARCH = scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")


@_recipe.factory
def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | None = _ZOOM_LINESEARCH,
    *,
    store_pairs: str = "all",
) -> GradientTransformation:
    r"""L-BFGS: a quasi-Newton direction from the last :math:`m` gradient differences, and a line search.

    .. math::
        d_k = -H_k g_k, \qquad x_{k+1} = x_k + \eta_k\, d_k

    where :math:`H_k g_k` is the two-loop recursion (Nocedal & Wright, Algorithm 7.4) over the
    pairs :math:`s_i = x_{i+1} - x_i`, :math:`y_i = g_{i+1} - g_i` of the last :math:`m`
    updates, with :math:`H_k^0 = \gamma_k I`, :math:`\gamma_k = s_{k-1}^\top y_{k-1} /
    y_{k-1}^\top y_{k-1}` (see :func:`scale_by_lbfgs`), and the step :math:`\eta_k` satisfies the
    strong Wolfe conditions, with :math:`c_1 = 10^{-4}`, :math:`c_2 = 0.9`,

    .. math::
        f(x_k + \eta d_k) \le f(x_k) + c_1 \eta\, g_k^\top d_k, \qquad
        |\nabla f(x_k + \eta d_k)^\top d_k| \le c_2\, |g_k^\top d_k|,

    found by :func:`scale_by_zoom_linesearch` (N&W Algorithms 3.5 and 3.6), trying
    :math:`\eta = 1` first. Chains :func:`scale_by_lbfgs`, then :func:`scale` by -1 (or
    :func:`scale_by_learning_rate` when ``learning_rate`` is given), then the line search
    (:func:`identity` when ``linesearch=None``): Optax's ``lbfgs``, same arguments, defaults
    and numbers.

    Optax's conventions, which are the defaults here, each reachable by an argument: the line
    search is :func:`scale_by_zoom_linesearch` with ``max_linesearch_steps=20`` and
    ``initial_guess_strategy="one"`` (pass another as ``linesearch=``, e.g.
    ``scale_by_zoom_linesearch(20, initial_guess_strategy="keep")`` or
    :func:`scale_by_backtracking_linesearch`); the first update, before any curvature pair,
    uses :math:`H_0 = \min(1, 1/\|g_0\|)\,I`, so that the first trial step has length at
    most 1 (``scale_init_precond=False`` for the textbook's :math:`H_k^0 = I` throughout);
    every curvature pair is stored (``store_pairs="positive"`` stores only pairs meeting the
    curvature condition, tested independently of the loss's scale; see
    :func:`scale_by_lbfgs`).

    A line search needs the loss: every ``update`` takes ``value`` (the loss at ``params``),
    ``grad`` (its gradient) and ``value_fn`` (the loss function, ``value_fn(params, **kw)``;
    extra arguments of ``update`` that ``value_fn`` names, such as data, are passed on). The
    loss and gradient at the accepted point are in the line search's state (``value``,
    ``grad``), from which :func:`value_and_grad_from_state` takes them for the next update
    (Optax's loop runs unchanged). Jit the update, as in the example: run eagerly, each call
    compiles the line search's loop anew. For full-batch problems; with mini-batches, drop the
    line search and give a learning rate.

    Args:
        learning_rate: :math:`\eta`, a fixed step or schedule; ``None`` (the default) leaves
            the step to the line search.
        memory_size: :math:`m`, the number of curvature pairs kept; an int ``>= 1``.
        scale_init_precond: use :math:`\gamma_k` above for :math:`H_k^0` (else the identity).
        linesearch: a transformation that chooses the step, such as
            :func:`scale_by_zoom_linesearch` (the default, with ``max_linesearch_steps=20`` and
            ``initial_guess_strategy="one"``) or :func:`scale_by_backtracking_linesearch`;
            ``None`` for none.
        store_pairs: ``"all"`` (Optax's) or ``"positive"``: which curvature pairs
            :func:`scale_by_lbfgs` stores. Keyword only; Optax has no such argument.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState` of
        (:class:`ScaleByLbfgsState`, :class:`ScaleState` or :class:`ScaleByLearningRateState`,
        the line search's state or :class:`EmptyState`).

    References:
        Liu & Nocedal, "On the limited memory BFGS method for large scale optimization",
        Mathematical Programming 45, 1989. https://doi.org/10.1007/BF01589116
        Nocedal & Wright, "Numerical Optimization", 2nd ed., Springer, 2006, Algorithms 3.5,
        3.6, 7.4 and 7.5. https://doi.org/10.1007/978-0-387-40065-5

    Example:
        >>> import jax, jax.numpy as jnp, gradxform as gx
        >>> f = lambda w: (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2  # Rosenbrock
        >>> opt, w = gx.lbfgs(), jnp.array([-1.2, 1.0]); state = opt.init(w)
        >>> update = jax.jit(lambda g, s, w, v: opt.update(g, s, w, value=v, grad=g, value_fn=f))
        >>> for _ in range(40):
        ...     updates, state = update(jax.grad(f)(w), state, w, f(w))
        ...     w = gx.apply_updates(w, updates)
        >>> print(w.round(6))
        [1. 1.]
    """
    sign_and_rate = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
    return chain(
        scale_by_lbfgs(memory_size, scale_init_precond, store_pairs=store_pairs),  # H_k g_k (two loops)
        sign_and_rate,                                      # d_k = -H_k g_k (times eta_k if given)
        identity() if linesearch is None else linesearch,   # * eta_k meeting the Wolfe conditions
    )
