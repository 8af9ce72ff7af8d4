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
from ._accumulation import ApplyEveryState as ApplyEveryState
from ._accumulation import MultiSteps as MultiSteps
from ._accumulation import MultiStepsState as MultiStepsState
from ._accumulation import apply_every as apply_every
from ._accumulation import skip_not_finite as skip_not_finite
from ._averaging import EmaParamsState as EmaParamsState
from ._averaging import LookaheadParams as LookaheadParams
from ._averaging import LookaheadState as LookaheadState
from ._averaging import SwaState as SwaState
from ._averaging import averaged_params as averaged_params
from ._averaging import ema_params as ema_params
from ._averaging import lookahead as lookahead
from ._averaging import swa as swa
from ._conditionality import ConditionallyMaskState as ConditionallyMaskState
from ._conditionality import ConditionallyTransformState as ConditionallyTransformState
from ._conditionality import conditionally_mask as conditionally_mask
from ._conditionality import conditionally_transform as conditionally_transform
from ._finite import ApplyIfFiniteState as ApplyIfFiniteState
from ._finite import ZeroNansState as ZeroNansState
from ._finite import apply_if_finite as apply_if_finite
from ._finite import zero_nans as zero_nans
from ._layouts import flatten as flatten
from ._one_pass import one_pass as one_pass
from ._masking import MaskedNode as MaskedNode
from ._masking import MaskedState as MaskedState
from ._masking import PartitionState as PartitionState
from ._masking import freeze as freeze
from ._masking import labels_from_patterns as labels_from_patterns
from ._masking import masked as masked
from ._masking import multi_transform as multi_transform
from ._masking import partition as partition
from ._masking import path_mask as path_mask
from ._named_chain import NamedChainState as NamedChainState
from ._named_chain import named_chain as named_chain
