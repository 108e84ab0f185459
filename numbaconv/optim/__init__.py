"""Optimizers: PyTorch's SGD and fastai's Adam, with param groups and settable hypers.

The optimizers work on a duck type: any object with ``.data`` (a NumPy float array,
updated in place) and ``.grad`` (a NumPy array of the same shape, or ``None`` to skip
the parameter this step). ``numbaconv.nn.Parameter`` is such an object. Each update is one
call of :func:`numbaconv.ops.sgd_step` or :func:`numbaconv.ops.adam_step` per parameter: CPU
kernels for NumPy data, CUDA kernels with the same math for device data (a model moved with
``.to("cuda")``), whose state buffers then live on the device too, so that a step copies
nothing to the host. :meth:`Optimizer.state_dict` and :meth:`Optimizer.load_state_dict` save
and restore that state in PyTorch's form (``Learner.save``/``load`` use them).

Weight decay can be switched off per group with ``"do_wd": False`` (fastai's
``do_wd``): unlike setting the group's decay to 0, the flag survives schedules that
call ``set_hyper`` on the decay. :func:`split_bn_bias` builds such groups so that
biases and batch-norm parameters are not decayed, as fastai's ``wd_bn_bias=False``.
"""

from .adam import Adam
from .groups import split_bn_bias
from .optimizer import Optimizer, ParamState
from .sgd import SGD

__all__ = ["SGD", "Adam", "Optimizer", "ParamState", "split_bn_bias"]
