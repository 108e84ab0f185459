"""Learner callbacks: the standard ones, activation statistics and checkpointing."""

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
    ParamScheduler,
    ProgressCallback,
    Recorder,
    TrainEvalCallback,
    format_time,
)
from .hook import ActivationStats, HookCallback, LayerStats, leaf_modules_with_params
from .tracker import NonFiniteLossError, SaveModelCallback

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
    "HookCallback",
    "LayerStats",
    "NonFiniteLossError",
    "ParamScheduler",
    "ProgressCallback",
    "Recorder",
    "SaveModelCallback",
    "TrainEvalCallback",
    "format_time",
    "leaf_modules_with_params",
]
