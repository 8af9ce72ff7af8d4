"""gradxform: composable gradient transformations for JAX.

Every public name, one import per line, grouped by layer (in this order: core, primitives,
optimizers, schedules, wrappers, speed machinery, whole states) and sorted within a layer; no logic.
"""

__version__ = "0.1.0"

# The protocol and the algebra: transformations, chains, combinators, hyperparameters, recipes
from .core.chain import ChainState as ChainState
from .core.chain import chain as chain
from .core.chain import sequence as sequence
from .core.combinators import ConditionalState as ConditionalState
from .core.combinators import ParallelSumState as ParallelSumState
from .core.combinators import RatioState as RatioState
from .core.combinators import conditional as conditional
from .core.combinators import parallel_sum as parallel_sum
from .core.combinators import ratio as ratio
from .core.hyperparams import Hyperparams as Hyperparams
from .core.hyperparams import hyperparameter as hyperparameter
from .core.named import one_minus as one_minus
from .core.protocol import EmptyState as EmptyState
from .core.protocol import GradientTransformation as GradientTransformation
from .core.protocol import apply_updates as apply_updates
from .core.protocol import identity as identity
from .core.recipe import recipe as recipe

# Primitives
from .transforms.adaptive import ScaleByAdadeltaUnitsState as ScaleByAdadeltaUnitsState
from .transforms.adaptive import SumOfSquaresState as SumOfSquaresState
from .transforms.adaptive import scale_by_adadelta as scale_by_adadelta
from .transforms.adaptive import scale_by_adadelta_units as scale_by_adadelta_units
from .transforms.adaptive import scale_by_rms as scale_by_rms
from .transforms.adaptive import scale_by_rss as scale_by_rss
from .transforms.adaptive import scale_by_stddev as scale_by_stddev
from .transforms.adaptive import sum_of_squares as sum_of_squares
from .transforms.additive import AddNoiseState as AddNoiseState
from .transforms.additive import add_noise as add_noise
from .transforms.additive import weight_decay as weight_decay
from .transforms.clipping import ClipByGlobalNormState as ClipByGlobalNormState
from .transforms.clipping import adaptive_grad_clip as adaptive_grad_clip
from .transforms.clipping import centralize as centralize
from .transforms.clipping import clip as clip
from .transforms.clipping import clip_by_block_rms as clip_by_block_rms
from .transforms.clipping import clip_by_global_norm as clip_by_global_norm
from .transforms.clipping import clip_by_norm as clip_by_norm
from .transforms.clipping import global_norm as global_norm
from .transforms.elementwise import sign as sign
from .transforms.elementwise import sqrt_plus_eps as sqrt_plus_eps
from .transforms.elementwise import square as square
from .transforms.lbfgs import ScaleByLbfgsState as ScaleByLbfgsState
from .transforms.lbfgs import scale_by_lbfgs as scale_by_lbfgs
from .transforms.linesearch import BacktrackingLinesearchInfo as BacktrackingLinesearchInfo
from .transforms.linesearch import ScaleByBacktrackingLinesearchState as ScaleByBacktrackingLinesearchState
from .transforms.linesearch import ScaleByZoomLinesearchState as ScaleByZoomLinesearchState
from .transforms.linesearch import ZoomLinesearchInfo as ZoomLinesearchInfo
from .transforms.linesearch import scale_by_backtracking_linesearch as scale_by_backtracking_linesearch
from .transforms.linesearch import scale_by_zoom_linesearch as scale_by_zoom_linesearch
from .transforms.moments import AmsgradMaxState as AmsgradMaxState
from .transforms.moments import InfinityMomentState as InfinityMomentState
from .transforms.moments import InterpolatedMomentumState as InterpolatedMomentumState
from .transforms.moments import MeanOfSquaresState as MeanOfSquaresState
from .transforms.moments import ScaleByMomentumState as ScaleByMomentumState
from .transforms.moments import ScheduledBiasCorrectionState as ScheduledBiasCorrectionState
from .transforms.moments import amsgrad_max as amsgrad_max
from .transforms.moments import bias_correction as bias_correction
from .transforms.moments import infinity_moment as infinity_moment
from .transforms.moments import interpolated_momentum as interpolated_momentum
from .transforms.moments import mean_of_squares as mean_of_squares
from .transforms.moments import scale_by_momentum as scale_by_momentum
from .transforms.moments import scheduled_bias_correction as scheduled_bias_correction
from .transforms.plateau import ReduceOnPlateauState as ReduceOnPlateauState
from .transforms.plateau import reduce_on_plateau as reduce_on_plateau
from .transforms.rectification import ones as ones
from .transforms.rectification import scale_by_rectification as scale_by_rectification
from .transforms.rectification import scale_by_schedule as scale_by_schedule
from .transforms.rectification import variance_is_tractable as variance_is_tractable
from .transforms.scaling import scale as scale
from .transforms.scaling import scale_by_learning_rate as scale_by_learning_rate
from .transforms.switching import SwitchToSgdState as SwitchToSgdState
from .transforms.switching import switch_to_sgd as switch_to_sgd
from .transforms.trust_ratio import scale_by_trust_ratio as scale_by_trust_ratio

# Optimizers
from .aliases import adadelta as adadelta
from .aliases import adagrad as adagrad
from .aliases import adam as adam
from .aliases import adamax as adamax
from .aliases import adamw as adamw
from .aliases import aggmo as aggmo
from .aliases import amsgrad as amsgrad
from .aliases import lamb as lamb
from .aliases import lars as lars
from .aliases import lbfgs as lbfgs
from .aliases import lion as lion
from .aliases import nadam as nadam
from .aliases import nadamw as nadamw
from .aliases import noisy_sgd as noisy_sgd
from .aliases import qhadam as qhadam
from .aliases import radam as radam
from .aliases import rmsprop as rmsprop
from .aliases import scale_by_adam as scale_by_adam
from .aliases import scale_by_amsgrad as scale_by_amsgrad
from .aliases import sgd as sgd
from .aliases import swats as swats

# Schedules
from .schedules import constant_schedule as constant_schedule
from .schedules import cosine_decay_schedule as cosine_decay_schedule
from .schedules import cosine_onecycle_momentum_schedule as cosine_onecycle_momentum_schedule
from .schedules import cosine_onecycle_schedule as cosine_onecycle_schedule
from .schedules import cosine_restarts_schedule as cosine_restarts_schedule
from .schedules import cyclic_schedule as cyclic_schedule
from .schedules import exponential_decay as exponential_decay
from .schedules import inverse_time_decay as inverse_time_decay
from .schedules import join_schedules as join_schedules
from .schedules import linear_onecycle_momentum_schedule as linear_onecycle_momentum_schedule
from .schedules import linear_onecycle_schedule as linear_onecycle_schedule
from .schedules import linear_schedule as linear_schedule
from .schedules import multistep_schedule as multistep_schedule
from .schedules import piecewise_constant_schedule as piecewise_constant_schedule
from .schedules import piecewise_interpolate_schedule as piecewise_interpolate_schedule
from .schedules import polynomial_schedule as polynomial_schedule
from .schedules import sgdr_schedule as sgdr_schedule
from .schedules import step_decay_schedule as step_decay_schedule
from .schedules import warmup_constant_schedule as warmup_constant_schedule
from .schedules import warmup_cosine_decay_schedule as warmup_cosine_decay_schedule
from .schedules import warmup_exponential_decay_schedule as warmup_exponential_decay_schedule
from .schedules import warmup_inverse_sqrt_schedule as warmup_inverse_sqrt_schedule
from .schedules import warmup_stable_decay_schedule as warmup_stable_decay_schedule
from .schedules.plot import plot_schedule as plot_schedule

# Wrappers: transformations of transformations
from .wrappers import ApplyEveryState as ApplyEveryState
from .wrappers import ApplyIfFiniteState as ApplyIfFiniteState
from .wrappers import ConditionallyMaskState as ConditionallyMaskState
from .wrappers import ConditionallyTransformState as ConditionallyTransformState
from .wrappers import EmaParamsState as EmaParamsState
from .wrappers import LookaheadParams as LookaheadParams
from .wrappers import LookaheadState as LookaheadState
from .wrappers import MaskedNode as MaskedNode
from .wrappers import MaskedState as MaskedState
from .wrappers import MultiSteps as MultiSteps
from .wrappers import MultiStepsState as MultiStepsState
from .wrappers import NamedChainState as NamedChainState
from .wrappers import PartitionState as PartitionState
from .wrappers import SwaState as SwaState
from .wrappers import ZeroNansState as ZeroNansState
from .wrappers import apply_every as apply_every
from .wrappers import apply_if_finite as apply_if_finite
from .wrappers import averaged_params as averaged_params
from .wrappers import conditionally_mask as conditionally_mask
from .wrappers import conditionally_transform as conditionally_transform
from .wrappers import ema_params as ema_params
from .wrappers import flatten as flatten
from .wrappers import freeze as freeze
from .wrappers import labels_from_patterns as labels_from_patterns
from .wrappers import lookahead as lookahead
from .wrappers import masked as masked
from .wrappers import multi_transform as multi_transform
from .wrappers import named_chain as named_chain
from .wrappers import one_pass as one_pass
from .wrappers import partition as partition
from .wrappers import path_mask as path_mask
from .wrappers import skip_not_finite as skip_not_finite
from .wrappers import swa as swa
from .wrappers import zero_nans as zero_nans

# Speed machinery
from .grouped.layouts import FlattenState as FlattenState
from .grouped.layouts import ravel_by_group as ravel_by_group

# Whole states: hyperparameters and diagnostics by name, checkpoints, memory
from .state.checkpoint import StateMismatchError as StateMismatchError
from .state.checkpoint import state_from_dict as state_from_dict
from .state.checkpoint import state_to_dict as state_to_dict
from .state.hyperparams import diagnostics as diagnostics
from .state.hyperparams import hyperparams as hyperparams
from .state.hyperparams import set_hyperparams as set_hyperparams
from .state.memory import StateMemory as StateMemory
from .state.memory import state_memory as state_memory
