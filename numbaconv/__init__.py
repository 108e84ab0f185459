"""numbaconv: a from-scratch 2-D convolution and CNN toolkit in Numba.

The array API lives in :mod:`numbaconv.ops` (SciPy-compatible ``correlate2d`` and
``convolve2d``; PyTorch-style ``conv2d``, pooling and batch norm with their gradients).
On top of it: a NumPy autograd (:class:`Tensor`), layers (:mod:`numbaconv.nn`),
optimizers (:mod:`numbaconv.optim`), schedules, data loading, a bundled MNIST sample, and a
fastai-style :class:`Learner` that trains the chapter's CNNs (:mod:`numbaconv.models`).
"""

__version__ = "0.1.0"

from . import callbacks, data, datasets, metrics, models, nn, ops, optim, schedule
from ._backend import cuda_available, is_device_array, show_config, to_device, to_host
from ._malloc import keep_freed_buffers as _keep_freed_buffers
from ._warmup import warmup
from .autograd import Tensor, cat, enable_grad, no_grad, stack, tensor
from .callbacks import ActivationStats, CollapseWarning, NonFiniteLossError, SaveModelCallback
from .learner import Learner
from .metrics import accuracy
from .ops import convolve2d, correlate2d
from .random import manual_seed
from .serialization import load, save

_keep_freed_buffers()  # glibc thresholds, once per process (see numbaconv._malloc)

__all__ = [
    "ActivationStats",
    "CollapseWarning",
    "Learner",
    "NonFiniteLossError",
    "SaveModelCallback",
    "Tensor",
    "__version__",
    "accuracy",
    "callbacks",
    "cat",
    "convolve2d",
    "correlate2d",
    "cuda_available",
    "data",
    "datasets",
    "enable_grad",
    "is_device_array",
    "load",
    "manual_seed",
    "metrics",
    "models",
    "nn",
    "no_grad",
    "ops",
    "optim",
    "save",
    "schedule",
    "show_config",
    "stack",
    "tensor",
    "to_device",
    "to_host",
    "warmup",
]
