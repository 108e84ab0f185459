"""The array API: validated, dtype- and layout-normalised entry points over kernels.

Every function here checks its arguments in Python, converts them to
C-contiguous float32/float64 arrays, picks the backend of its arrays
(``numbaconv._backend.select``) and calls that backend's kernel launcher; none
loops over pixels. This is the only layer that reaches kernels: autograd, nn,
the optimizers and the Learner call these functions (convolution, pooling,
batch norm, ReLU, the NLL loss and the SGD/Adam steps).
"""

from .activation import relu, relu_grad
from .conv import (
    conv2d,
    conv2d_grad_bias,
    conv2d_grad_input,
    conv2d_grad_weight,
)
from .correlate import convolve2d, correlate2d
from .loss import nll_loss, nll_loss_grad
from .norm import batch_norm, batch_norm_grad
from .optim import adam_step, sgd_step
from .pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_grad,
    avg_pool2d,
    avg_pool2d_grad,
    max_pool2d,
    max_pool2d_grad,
)

__all__ = [
    "adam_step",
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
    "nll_loss",
    "nll_loss_grad",
    "relu",
    "relu_grad",
    "sgd_step",
]
