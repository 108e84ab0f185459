"""The array API: validated, dtype- and layout-normalised entry points over kernels.

Every function here checks its arguments in Python, converts them to
C-contiguous float32/float64 arrays and calls a kernel launcher; none loops
over pixels.
"""

from .activation import relu, relu_grad
from .conv import (
    conv2d,
    conv2d_grad_bias,
    conv2d_grad_input,
    conv2d_grad_weight,
)
from .correlate import convolve2d, correlate2d
from .norm import batch_norm, batch_norm_grad
from .pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_grad,
    avg_pool2d,
    avg_pool2d_grad,
    max_pool2d,
    max_pool2d_grad,
)

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_grad",
    "avg_pool2d",
    "avg_pool2d_grad",
    "batch_norm",
    "batch_norm_grad",
    "conv2d",
    "conv2d_grad_bias",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "convolve2d",
    "correlate2d",
    "max_pool2d",
    "max_pool2d_grad",
    "relu",
    "relu_grad",
]
