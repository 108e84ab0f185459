"""Learner callbacks: the standard ones, the learning-rate finder, guard rails, activation
statistics and checkpointing."""

from .core import (
    EVENTS,
    Callback,
    CancelBackwardException,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    GatherPreds,
    TrainEvalCallback,
    format_time,
)
from .guard import CollapseCallback, CollapseWarning, NonFiniteGuard, NonFiniteLossError
from .hook import (
    ActivationStats,
    HookCallback,
    LayerStats,
    SummaryText,
    leaf_modules_with_params,
    summary,
)
from .progress import ProgressCallback
from .recorder import Recorder
from .schedule import LRFinder, ParamScheduler, minimum, slide, steep, suggest_lrs, valley
from .tracker import SaveModelCallback

__all__ = [
    "EVENTS",
    "ActivationStats",
    "Callback",
    "CancelBackwardException",
    "CancelBatchException",
    "CancelEpochException",
    "CancelFitException",
    "CancelStepException",
    "CancelTrainException",
    "CancelValidException",
    "CollapseCallback",
    "CollapseWarning",
    "GatherPreds",
    "HookCallback",
    "LRFinder",
    "LayerStats",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "ParamScheduler",
    "ProgressCallback",
    "Recorder",
    "SaveModelCallback",
    "SummaryText",
    "TrainEvalCallback",
    "format_time",
    "leaf_modules_with_params",
    "minimum",
    "slide",
    "steep",
    "suggest_lrs",
    "summary",
    "valley",
]
