"""Transformations that take transformations.

* parameter groups -- :func:`masked`, :func:`partition` (:func:`multi_transform`),
  :func:`freeze`, with masks and labels from key-path globs: :func:`path_mask`,
  :func:`labels_from_patterns`, and labels by rank: :func:`labels_by_ndim`;
* gradient accumulation -- :class:`MultiSteps`, :func:`apply_every`;
* non-finite safety -- :func:`apply_if_finite`, :func:`zero_nans`;
* conditional application -- :func:`conditionally_transform`, :func:`conditionally_mask`;
* Optax's hyperparameters in the state -- :func:`inject_hyperparams` (not needed with
  gradxform's optimizers: :func:`gradxform.hyperparams`, :func:`gradxform.set_hyperparams`);
* parameter averages -- :func:`lookahead`, :func:`ema_params`, :func:`swa`, read with
  :func:`averaged_params`; schedule-free learning -- :func:`schedule_free`, read with
  :func:`schedule_free_eval_params`;
* sharpness-aware minimization -- :func:`sam`;
* named chains -- :func:`named_chain`;
* monitoring -- :func:`snapshot`, :func:`monitor`, :func:`measure_with_ema`;
* frozen parameters left out of the optimizer -- :func:`selective_transform`;
* sparse updates (the rows an embedding's batch touched, lazy moments) -- :func:`sparse`;
* skipping micro-batches -- :func:`skip_not_finite`, :func:`skip_large_updates`;
* micro-batched evaluation -- :func:`microbatch`; a slow copy of the params --
  :func:`periodic_update`;
* layouts -- :func:`flatten`;
* one pass over memory -- :func:`one_pass`.

Every wrapper passes the extra arguments of ``update`` (the ``step`` of an enclosing
:func:`gradxform.chain` among them) to the transformation it wraps. A wrapper that skips the
inner update at some steps leaves the inner state as it was, so an inner chain (any alias) counts
the updates it actually took.
"""
from ..grouped.layouts import flatten as flatten
from ..grouped.one_pass import one_pass as one_pass
from .accumulation import ApplyEvery as ApplyEvery
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
from .cautious import CautiousState as CautiousState
from .cautious import cautious as cautious
from .complex_split import SplitRealAndImaginaryArrays as SplitRealAndImaginaryArrays
from .complex_split import SplitRealAndImaginaryState as SplitRealAndImaginaryState
from .complex_split import split_real_and_imaginary as split_real_and_imaginary
from .conditionality import ConditionallyMaskState as ConditionallyMaskState
from .conditionality import ConditionallyTransformState as ConditionallyTransformState
from .conditionality import conditionally_mask as conditionally_mask
from .conditionality import conditionally_transform as conditionally_transform
from .finite import ApplyIfFiniteState as ApplyIfFiniteState
from .finite import ZeroNansState as ZeroNansState
from .finite import apply_if_finite as apply_if_finite
from .finite import zero_nans as zero_nans
from .inject import InjectHyperparamsState as InjectHyperparamsState
from .inject import InjectStatefulHyperparamsState as InjectStatefulHyperparamsState
from .inject import inject_hyperparams as inject_hyperparams
from .inject import inject_stateful_hyperparams as inject_stateful_hyperparams
from .masking import MaskedNode as MaskedNode
from .masking import MaskedState as MaskedState
from .masking import PartitionState as PartitionState
from .masking import freeze as freeze
from .masking import labels_from_patterns as labels_from_patterns
from .masking import masked as masked
from .masking import multi_transform as multi_transform
from .masking import partition as partition
from .masking import path_mask as path_mask
from .microbatching import AccumulationType as AccumulationType
from .microbatching import microbatch as microbatch
from .monitoring import MonitorState as MonitorState
from .monitoring import SnapshotState as SnapshotState
from .monitoring import measure_with_ema as measure_with_ema
from .monitoring import monitor as monitor
from .monitoring import snapshot as snapshot
from .named_chain import NamedChainState as NamedChainState
from .named_chain import named_chain as named_chain
from .periodic import periodic_update as periodic_update
from .schedule_free import ScheduleFreeState as ScheduleFreeState
from .schedule_free import schedule_free as schedule_free
from .schedule_free import schedule_free_eval_params as schedule_free_eval_params
from .selective import selective_transform as selective_transform
from .shape_labels import labels_by_ndim as labels_by_ndim
from .sharpness_aware import SAMState as SAMState
from .sharpness_aware import sam as sam
from .skipping import ShouldSkipUpdateFunction as ShouldSkipUpdateFunction
from .skipping import skip_large_updates as skip_large_updates
from .sparse import SparseState as SparseState
from .sparse import sparse as sparse
