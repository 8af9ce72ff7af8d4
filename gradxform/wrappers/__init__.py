"""Transformations that take transformations.

* parameter groups -- :func:`masked`, :func:`partition` (:func:`multi_transform`),
  :func:`freeze`, with masks and labels from key-path globs: :func:`path_mask`,
  :func:`labels_from_patterns`;
* gradient accumulation -- :class:`MultiSteps`, :func:`apply_every`;
* non-finite safety -- :func:`apply_if_finite`, :func:`zero_nans`;
* conditional application -- :func:`conditionally_transform`, :func:`conditionally_mask`;
* parameter averages -- :func:`lookahead`, :func:`ema_params`, :func:`swa`, read with
  :func:`averaged_params`;
* named chains -- :func:`named_chain`;
* layouts -- :func:`flatten`;
* one pass over memory -- :func:`one_pass`.

Every wrapper passes the extra arguments of ``update`` (the ``step`` of an enclosing
:func:`gradxform.chain` among them) to the transformation it wraps. A wrapper that skips the
inner update at some steps leaves the inner state as it was, so an inner chain (any alias) counts
the updates it actually took.
"""
from ..grouped.layouts import flatten as flatten
from ..grouped.one_pass import one_pass as one_pass
from .accumulation import ApplyEveryState as ApplyEveryState
from .accumulation import MultiSteps as MultiSteps
from .accumulation import MultiStepsState as MultiStepsState
from .accumulation import apply_every as apply_every
from .accumulation import skip_not_finite as skip_not_finite
from .averaging import EmaParamsState as EmaParamsState
from .averaging import LookaheadParams as LookaheadParams
from .averaging import LookaheadState as LookaheadState
from .averaging import SwaState as SwaState
from .averaging import averaged_params as averaged_params
from .averaging import ema_params as ema_params
from .averaging import lookahead as lookahead
from .averaging import swa as swa
from .conditionality import ConditionallyMaskState as ConditionallyMaskState
from .conditionality import ConditionallyTransformState as ConditionallyTransformState
from .conditionality import conditionally_mask as conditionally_mask
from .conditionality import conditionally_transform as conditionally_transform
from .finite import ApplyIfFiniteState as ApplyIfFiniteState
from .finite import ZeroNansState as ZeroNansState
from .finite import apply_if_finite as apply_if_finite
from .finite import zero_nans as zero_nans
from .masking import MaskedNode as MaskedNode
from .masking import MaskedState as MaskedState
from .masking import PartitionState as PartitionState
from .masking import freeze as freeze
from .masking import labels_from_patterns as labels_from_patterns
from .masking import masked as masked
from .masking import multi_transform as multi_transform
from .masking import partition as partition
from .masking import path_mask as path_mask
from .named_chain import NamedChainState as NamedChainState
from .named_chain import named_chain as named_chain
