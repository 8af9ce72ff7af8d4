"""gradxform: composable gradient transformations for JAX."""

__version__ = "0.1.0"

from ._core import ChainState as ChainState
from ._core import ConditionalState as ConditionalState
from ._core import EmptyState as EmptyState
from ._core import GradientTransformation as GradientTransformation
from ._core import ParallelSumState as ParallelSumState
from ._core import RatioState as RatioState
from ._core import apply_updates as apply_updates
from ._core import chain as chain
from ._core import conditional as conditional
from ._core import identity as identity
from ._core import parallel_sum as parallel_sum
from ._core import ratio as ratio
from ._elementwise import sign as sign
from ._elementwise import sqrt_plus_eps as sqrt_plus_eps
from ._elementwise import square as square
from ._moments import AmsgradMaxState as AmsgradMaxState
from ._moments import MeanOfSquaresState as MeanOfSquaresState
from ._moments import ScaleByMomentumState as ScaleByMomentumState
from ._moments import amsgrad_max as amsgrad_max
from ._moments import bias_correction as bias_correction
from ._moments import mean_of_squares as mean_of_squares
from ._moments import scale_by_momentum as scale_by_momentum
from ._scaling import scale as scale
from ._scaling import scale_by_learning_rate as scale_by_learning_rate
from .aliases import adam as adam

from ._additive import weight_decay as weight_decay
