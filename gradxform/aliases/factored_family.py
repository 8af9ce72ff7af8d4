"""Optimizers with sublinear memory for their second moment: Adafactor and SM3.

Each keeps statistics of a leaf's rows and columns (Adafactor) or of its slices along each axis
(SM3) instead of one number per entry; the rest of the recipe is the usual chain of primitives.
"""
from __future__ import annotations

from typing import Any, Optional

import jax.numpy as jnp

from ..core import check as _check
from ..core.chain import chain
from ..core.protocol import GradientTransformation, identity
from ..core.recipe import alias
from ..core.types import ScalarOrSchedule
from ..transforms import additive as _additive
from ..transforms.additive import Mask
from ..transforms.clipping import clip_by_block_rms
from ..transforms.factored import (
    EPS_PLACEMENTS,
    FACTORED_AXES,
    scale_by_cover_rss,
    scale_by_factored_rms,
    scale_by_param_block_rms,
    scale_by_relative_step,
)
from ..transforms.moments import scale_by_momentum
from ..transforms.scaling import scale, scale_by_learning_rate

EPS_NONE = (
    "{who}: eps=None (the machine epsilon of the params' dtype, PyTorch's default) bounds the "
    "estimate, so it needs eps_placement='estimate'; with eps_placement='squared_gradient' give "
    "a number, e.g. Optax's 1e-30."
)


@alias("learning_rate", "decay_rate", "clipping_threshold", "momentum", "weight_decay_rate", "eps",
       "min_param_scale")
def adafactor(
    learning_rate: Optional[ScalarOrSchedule] = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: ScalarOrSchedule = 0.8,
    decay_offset: int = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: Optional[ScalarOrSchedule] = 1.0,
    momentum: Optional[ScalarOrSchedule] = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: Optional[ScalarOrSchedule] = None,
    eps: Optional[ScalarOrSchedule] = 1e-30,
    factored: bool = True,
    weight_decay_mask: Optional[Mask] = None,
    *,
    factored_axes: str = "largest",
    eps_placement: str = "squared_gradient",
    relative_step: bool = False,
    min_param_scale: ScalarOrSchedule = 1e-3,
) -> GradientTransformation:
    r"""Adafactor: Adam's second moment kept as row and column means, steps relative to the weights.

    .. math::
        \hat\beta_t = 1 - (t - k)^{-c}, \qquad G_t = |g_t|^2 + \epsilon_1, \\
        R_t = \hat\beta_t R_{t-1} + (1-\hat\beta_t)\operatorname{mean}_j G_t, \qquad
        C_t = \hat\beta_t C_{t-1} + (1-\hat\beta_t)\operatorname{mean}_i G_t, \qquad
        \hat V_t = R_t C_t^\top / \operatorname{mean}_i R_t, \\
        U_t = g_t / \sqrt{\hat V_t}, \qquad
        \hat U_t = U_t / \max(1, \operatorname{RMS}(U_t) / d), \\
        m_t = \beta_1 m_{t-1} + (1-\beta_1)\,\alpha_t \max(\operatorname{RMS}(\theta_{t-1}), 10^{-3})\,\hat U_t,
        \qquad u_t = -(m_t + \lambda_t \theta_{t-1})

    per leaf, with :math:`t` the one-based step. Leaves whose two largest axes are shorter than
    ``min_dim_size_to_factor`` (and every leaf when ``factored=False``) keep the full
    :math:`V_t = \hat\beta_t V_{t-1} + (1-\hat\beta_t) G_t` instead. Each optional term is left
    out when its argument is ``None`` or ``False``; without ``momentum``, :math:`m_t` is its
    input. The weight decay :math:`\lambda_t` is not multiplied by :math:`\alpha_t`.

    Chains :func:`scale_by_factored_rms`, :func:`clip_by_block_rms`,
    :func:`scale_by_learning_rate` (without its sign), :func:`scale_by_param_block_rms`,
    :func:`scale_by_momentum` (``ema=True``), :func:`weight_decay` and :func:`scale` by -1, in
    Optax's order (with ``relative_step``, :func:`scale_by_relative_step` takes the place of
    :func:`scale_by_learning_rate`). Results are Optax's, but for two deliberate differences: a momentum stored
    in a narrower dtype than the params (``dtype_momentum=float32`` beside float64 params) is
    averaged in the wider dtype and rounded once, where Optax multiplies it in the narrow one
    (the last bits of the stored momentum differ), and at the saturated step count
    ``2**31 - 1`` the decay stays finite where Optax's count wraps to a negative :math:`t`.

    PyTorch's ``torch.optim.Adafactor(lr, beta2_decay, eps=(eps1, eps2), d, weight_decay)``
    differs in five conventions, each an argument here:

    * it factors the last two axes of every leaf of rank 2 or more:
      ``factored_axes="last", min_dim_size_to_factor=0``;
    * :math:`\epsilon_1` bounds the estimate instead of being added to :math:`|g|^2`
      (:func:`scale_by_factored_rms`): ``eps_placement="estimate"``, ``eps=eps1`` (``None``,
      its default, is the machine epsilon of the params' dtype);
    * its step is the paper's relative step :math:`\min(\text{lr}, 1/\sqrt{t})` times the
      parameter scale, not the learning rate: ``relative_step=True``;
    * ``beta2_decay`` is :math:`-c`: ``decay_rate=-beta2_decay``; ``eps2``:
      ``min_param_scale=eps2``; ``d``: ``clipping_threshold=d``;
    * its weight decay is multiplied by the learning rate: ``weight_decay_rate=lr * weight_decay``.

    So PyTorch's defaults are ``gx.adafactor(1e-2, min_dim_size_to_factor=0,
    factored_axes="last", eps_placement="estimate", eps=None, relative_step=True)``, tested
    step by step against a transcription of PyTorch's rule.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule; ``None`` leaves it out
            (the step is then relative to the weights alone). Adafactor's natural scale is not
            Adam's.
        min_dim_size_to_factor: factor a leaf's second moment only if its two largest axes have
            at least this many entries.
        decay_rate: :math:`c`, the exponent of the second moment's decay.
        decay_offset: :math:`k`, an int ``>= 0``: the step a fine-tuning run starts from.
        multiply_by_parameter_scale: multiply the step by the RMS of each parameter block.
        clipping_threshold: :math:`d`, the largest RMS of a leaf's scaled update, ``> 0`` (the
            paper uses 1); ``None`` disables clipping.
        momentum: :math:`\beta_1` in ``[0, 1)``, a momentum of the scaled steps; ``None`` (the
            default) keeps none and saves its memory.
        dtype_momentum: dtype in which :math:`m` is stored.
        weight_decay_rate: :math:`\lambda_t`, ``>= 0``; ``None`` disables weight decay.
        eps: :math:`\epsilon_1`, added to every squared gradient; ``>= 0``. ``None`` (with
            ``eps_placement="estimate"`` only) is the machine epsilon of each leaf's dtype.
        factored: factor the second moments of large enough leaves.
        weight_decay_mask: which leaves to decay: a tree of bools shaped like the params, or a
            function of the params returning one; ``None`` decays every leaf.
        factored_axes: ``"largest"`` (Optax) or ``"last"`` (PyTorch): see
            :func:`scale_by_factored_rms`.
        eps_placement: ``"squared_gradient"`` (Optax) or ``"estimate"`` (PyTorch): see
            :func:`scale_by_factored_rms`.
        relative_step: multiply by :math:`\min(\alpha_t, 1/\sqrt{t})`
            (:func:`scale_by_relative_step`, PyTorch) instead of :math:`\alpha_t`; with
            ``learning_rate=None`` the cap is the paper's :math:`10^{-2}`.
        min_param_scale: :math:`\epsilon_2`, the smallest parameter scale (:math:`10^{-3}` in
            Optax's and PyTorch's defaults); ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`. ``update`` needs
        ``params`` when ``multiply_by_parameter_scale`` or ``weight_decay_rate`` is set.

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
        ICML 2018, Algorithms 4 and 5. https://arxiv.org/abs/1804.04235

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.adafactor(0.1, multiply_by_parameter_scale=False)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> updates, state = opt.update({"w": jnp.array([0.5, -0.5])}, state, params)
        >>> print(gx.apply_updates(params, updates)["w"].round(4))  # first step: -lr * sign(g)
        [ 0.9 -1.9]
    """
    _check.int_at_least("adafactor", 0, decay_offset=decay_offset)  # named as the caller named it
    _check.flag("adafactor", multiply_by_parameter_scale=multiply_by_parameter_scale,
                relative_step=relative_step)
    _check.choice("adafactor", "factored_axes", factored_axes, FACTORED_AXES)
    _check.choice("adafactor", "eps_placement", eps_placement, EPS_PLACEMENTS)
    if eps is None and eps_placement != "estimate":
        raise ValueError(EPS_NONE.format(who="adafactor"))
    _check.non_negative("adafactor", min_param_scale=min_param_scale)
    if relative_step:
        step_size = scale_by_relative_step(1e-2 if learning_rate is None else learning_rate)
    elif learning_rate is not None:
        step_size = scale_by_learning_rate(learning_rate, flip_sign=False)
    else:
        step_size = identity()
    return chain(
        scale_by_factored_rms(factored, decay_rate, decay_offset,  # U_t = g / sqrt(V_hat_t), V_hat_t
                              min_dim_size_to_factor, eps,         #   from row and column means
                              factored_axes=factored_axes, eps_placement=eps_placement),
        (clip_by_block_rms(clipping_threshold)                     # U_t / max(1, RMS(U_t) / d)
         if clipping_threshold is not None else identity()),
        step_size,                                                 # * alpha_t, or min(alpha_t, 1/sqrt(t))
        (scale_by_param_block_rms(min_param_scale)                 # * max(RMS(theta), eps_2)
         if multiply_by_parameter_scale else identity()),
        (scale_by_momentum(momentum, ema=True, dtype=dtype_momentum)  # m_t = b1 m + (1 - b1) x
         if momentum is not None else identity()),
        (_additive.weight_decay(weight_decay_rate, weight_decay_mask)  # + lambda_t theta
         if weight_decay_rate is not None else identity()),
        scale(-1),                                                 # descend: -(.)
    )


@alias("b1", "b2", "eps")
def scale_by_sm3(
    b1: ScalarOrSchedule = 0.9, b2: ScalarOrSchedule = 1.0, eps: ScalarOrSchedule = 1e-8
) -> GradientTransformation:
    r"""SM3's direction, without the learning rate: a momentum of the gradient over its cover RMS.

    .. math::
        \nu_t(i) = w\,g_t(i)^2 + \beta_2 \min_{a} \mu_{a,t-1}(i_a), \qquad
        \mu_{a,t}(r) = \max_{i:\, i_a = r} \nu_t(i), \\
        m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t / \sqrt{\nu_t + \epsilon}, \qquad u_t = m_t

    (:math:`w = 1` when :math:`\beta_2 = 1`, else :math:`1-\beta_2`; :math:`0/0 = 0`). Chains
    :func:`scale_by_cover_rss` and :func:`scale_by_momentum` (``ema=True``), counted by its own
    :func:`gradxform.chain`. Same arguments as Optax's ``scale_by_sm3``.

    Args:
        b1: :math:`\beta_1`, decay of the momentum; in ``[0, 1)``.
        b2: :math:`\beta_2`, the weight kept from the accumulators; in ``[0, 1]`` (1: SM3's sum).
        eps: :math:`\epsilon`, added under the root; ``>= 0``.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Anil, Gupta, Koren & Singer, "Memory-Efficient Adaptive Optimization", NeurIPS 2019.
        https://arxiv.org/abs/1901.11150
    """
    return chain(
        scale_by_cover_rss(b2, eps),                # g / sqrt(nu_t + eps), nu_t from the covers
        scale_by_momentum(b1, ema=True),            # m_t = b1 m + (1 - b1) x
    )


@alias("learning_rate", "momentum")
def sm3(
    learning_rate: ScalarOrSchedule, momentum: Optional[ScalarOrSchedule] = 0.9
) -> GradientTransformation:
    r"""SM3: Adagrad whose sum of squares is kept per slice of each axis, with momentum.

    For a leaf of rank :math:`d \ge 2`, one accumulator :math:`\mu_a(r)` per slice :math:`r`
    of each axis :math:`a` (SM3-II):

    .. math::
        \nu_t(i) = g_t(i)^2 + \min_{a} \mu_{a,t-1}(i_a), \qquad
        \mu_{a,t}(r) = \max_{i:\, i_a = r} \nu_t(i), \\
        m_t = \beta m_{t-1} + (1-\beta)\, g_t / \sqrt{\nu_t + 10^{-8}}, \qquad
        u_t = -\alpha_t\, m_t

    with :math:`0/0 = 0`; a leaf of rank 0 or 1 keeps Adagrad's full sum of squares. The state
    holds :math:`\sum_a n_a` numbers for a leaf of shape :math:`n_1 \times \dots \times n_d`
    (plus the momentum). Chains :func:`scale_by_cover_rss`, :func:`scale_by_momentum`
    (``ema=True``) and :func:`scale_by_learning_rate`. Real parameters only.

    Unlike Optax 0.2.8, rank-0 leaves work (Optax raises an ``IndexError``), ``momentum=None``
    leaves the momentum out as Optax's docstring says (Optax raises a ``TypeError``), and the
    learning rate may be a schedule.

    Args:
        learning_rate: :math:`\alpha_t`, a number ``>= 0`` or a schedule.
        momentum: :math:`\beta`, in ``[0, 1)``; ``None`` for no momentum.

    Returns:
        A :class:`GradientTransformation` whose state is a :class:`ChainState`.

    References:
        Anil, Gupta, Koren & Singer, "Memory-Efficient Adaptive Optimization", NeurIPS 2019.
        https://arxiv.org/abs/1901.11150

    Example:
        >>> import jax.numpy as jnp, gradxform as gx
        >>> opt = gx.sm3(0.1, momentum=None)
        >>> state = opt.init({"w": jnp.zeros((3, 4))})
        >>> [nu["w"].shape for nu in state[0].nu]  # one accumulator per row, one per column
        [(3,), (4,)]
        >>> updates, state = opt.update({"w": jnp.ones((3, 4))}, state)
        >>> print(updates["w"][0])  # first step: -lr * sign(g)
        [-0.1 -0.1 -0.1 -0.1]
    """
    return chain(
        scale_by_cover_rss(),                                  # g / sqrt(nu_t + eps), nu_t from the covers
        (scale_by_momentum(momentum, ema=True)                 # m_t = b m + (1 - b) x
         if momentum is not None else identity()),
        scale_by_learning_rate(learning_rate),                 # * -alpha_t
    )
