"""``Tensor``: an array (NumPy, or a CUDA device array) that remembers how it was computed, so it
can be differentiated."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _backend
from .._backend import xp as _xp
from . import function, math_ops, shape_ops
from .tensor_shapes import ShapeMethods

_DEFAULT_FLOAT = np.dtype(np.float32)


def _check_device(device) -> str:
    """``"cpu"`` or ``"cuda"`` (RuntimeError saying what is missing when CUDA is unusable)."""
    name = str(device)
    if name == "cpu":
        return name
    if name in ("cuda", "cuda:0"):
        try:
            _backend._require_cuda()
        except RuntimeError as exc:
            raise RuntimeError(f"device {name!r} is not usable: {exc}") from None
        return "cuda"
    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:0', got {device!r}")


def _pick(axis, dim, name="axis"):
    """Accept PyTorch's ``dim`` as well as NumPy's ``axis``, but not both."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"give either {name} or dim, not both (got {axis!r} and {dim!r})")
        return dim
    return axis


def _operand(value):
    """The other side of an arithmetic operation, or NotImplemented for foreign types."""
    if isinstance(value, (Tensor, np.ndarray, np.generic, numbers.Number)):
        return value
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    return NotImplemented


class Tensor(ShapeMethods):
    """An n-dimensional array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data : array_like or Tensor
        The values. A NumPy array (or NumPy scalar) keeps its dtype and is shared,
        not copied; Python floats and lists of them become float32 (Python ints
        become int64), as ``torch.tensor`` does.
    requires_grad : bool, default False
        Record operations on this tensor so that ``backward`` fills ``.grad``.
        Only floating tensors can require grad.
    dtype : numpy dtype, optional
        Cast the values to this dtype.
    device : {"cpu", "cuda"}, optional
        Where the values live; by default where ``data`` is (a CUDA device array stays on
        the device, anything else is on the host). "cuda" copies host data to the GPU and
        raises RuntimeError when CUDA is not usable.

    Attributes
    ----------
    data : numpy.ndarray or numba CUDA device array
        The values (shared; in-place changes are not recorded by autograd).
    grad : numpy.ndarray, CUDA device array or None
        The accumulated gradient, same shape and dtype as ``data``, for leaves
        that require grad; None until a backward reaches this tensor.
    """

    # Make ``ndarray <op> Tensor`` call Tensor's reflected operator instead of
    # broadcasting the Tensor as an object element.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        target = None if device is None else _check_device(device)
        if isinstance(data, Tensor):
            array = data.data
        elif _xp.is_device(data):
            array = _backend.as_device_array(data)
        elif isinstance(data, (np.ndarray, np.generic)):
            array = np.asarray(data)
        else:
            try:
                array = np.asarray(data)
            except Exception as exc:
                raise TypeError(f"data must be array-like, got {type(data).__name__}") from exc
            if array.dtype == np.float64:
                array = array.astype(_DEFAULT_FLOAT)
        if dtype is not None and np.dtype(dtype) != array.dtype:
            array = _xp.astype(array, dtype)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"data has dtype {array.dtype}; a Tensor holds bool, integer or real float values"
            )
        if target == "cuda" and not _xp.is_device(array):
            array = _xp.to_device(array)
        elif target == "cpu" and _xp.is_device(array):
            array = _backend.to_host(array)
        self._data = array
        self._grad = None
        self._ctx = None
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _from_array(cls, array, ctx=None) -> Tensor:
        """Wrap an operation's result without the constructor's conversions."""
        out = cls.__new__(cls)
        out._data = _xp.asarray(array)
        out._grad = None
        out._ctx = ctx
        out._requires_grad = ctx is not None
        return out

    # ----------------------------------------------------------------- properties
    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._data = _xp.asarray(value.data if isinstance(value, Tensor) else value)

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            value = _xp.asarray(value.data if isinstance(value, Tensor) else value)
            if tuple(value.shape) != self.shape:
                raise ValueError(
                    f"grad has shape {tuple(value.shape)}; expected {self.shape}, the tensor's "
                    "shape"
                )
            if _xp.is_device(value) != _xp.is_device(self._data):
                raise _xp.mixed_device_error("grad", grad=value, tensor=self._data)
        self._grad = value

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"requires_grad must be True or False, got {value!r}")
        if value and self._data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        if not value and self._ctx is not None:
            raise RuntimeError(
                "requires_grad can only be switched off on leaf tensors; use .detach() instead"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user rather than by a recorded operation."""
        return self._ctx is None

    @property
    def grad_fn(self):
        """The Function that produced this tensor, or None for a leaf."""
        return self._ctx

    @property
    def shape(self) -> tuple:
        return tuple(self._data.shape)

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def device(self) -> str:
        """``"cuda"`` when the values are a CUDA device array, else ``"cpu"``."""
        return "cuda" if _xp.is_device(self._data) else "cpu"

    def size(self, dim=None):
        """The shape, or the length of axis ``dim``."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        """Number of elements."""
        return int(self._data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ----------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shared memory for a CPU tensor; a copy from the device
        for a CUDA tensor, which waits for the kernels that write it)."""
        return _backend.to_host(self._data) if _xp.is_device(self._data) else self._data

    def __array__(self, dtype=None, copy=None):
        host = self.numpy()
        if copy:
            return np.array(host, dtype=dtype, copy=True)
        return host if dtype is None else host.astype(dtype, copy=False)

    def item(self):
        """The single value as a Python number (copied from the device for a CUDA tensor)."""
        if self._data.size != 1:
            raise ValueError(
                f"item() needs a tensor with exactly one element, got shape {self.shape}"
            )
        return self.numpy().item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.numpy())

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """A tensor sharing the values, cut from the graph (``requires_grad=False``)."""
        return Tensor._from_array(self._data)

    def clone(self) -> Tensor:
        """A copy of the values that stays in the graph."""
        return shape_ops.Clone.apply(self)

    def astype(self, dtype) -> Tensor:
        """Cast to ``dtype``; differentiable between floating dtypes."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind != "f":
            return Tensor._from_array(_xp.astype(self._data, dtype))
        return shape_ops.Cast.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def to(self, target) -> Tensor:
        """Move to a device ("cpu" or "cuda") or cast to a dtype.

        Moving returns a copy on the target device (``self`` when it is already there), which
        stays in the graph: gradients flow back to the original device. "cuda" raises
        RuntimeError when CUDA is not usable here.
        """
        if isinstance(target, str):
            device = _check_device(target)
            if device == self.device:
                return self
            return shape_ops.ToDevice.apply(self, device=device)
        return self.astype(target)

    def cpu(self) -> Tensor:
        """This tensor on the host (``self`` when it is there already)."""
        return self.to("cpu")

    def cuda(self) -> Tensor:
        """This tensor on the CUDA device (``self`` when it is there already)."""
        return self.to("cuda")

    # ----------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate gradients of this tensor into ``.grad`` of every leaf it depends on.

        Parameters
        ----------
        gradient : array_like, optional
            Shaped like this tensor; required unless it has exactly one element.
        retain_graph : bool, default False
            Keep the graph so that backward can run through it again.
        """
        function.backward(self, gradient, retain_graph=retain_graph)

    def _accumulate_grad(self, grad) -> None:
        grad = _xp.asarray(grad)
        if grad.dtype != self.dtype:
            grad = _xp.astype(grad, self.dtype)
        if self._grad is None:
            # Own a contiguous copy: ``grad`` may alias an array other tensors still use.
            self._grad = _xp.copy(grad)
        elif _xp.is_device(self._grad):
            self._grad = _xp.cuda.add(self._grad, grad)
        else:
            self._grad += grad

    # ----------------------------------------------------------------- arithmetic
    def __add__(self, other):
        other = _operand(other)
        return NotImplemented if other is NotImplemented else math_ops.Add.apply(self, other)

    def __radd__(self, other):
        other = _operand(other)
        return NotImplemented if other is NotImplemented else math_ops.Add.apply(other, self)

    def __sub__(self, other):
        other = _operand(other)
        return NotImplemented if other is NotImplemented else math_ops.Sub.apply(self, other)

    def __rsub__(self, other):
        other = _operand(other)
        return NotImplemented if other is NotImplemented else math_ops.Sub.apply(other, self)

    def __mul__(self, other):
        other = _operand(other)
        return NotImplemented if other is NotImplemented else math_ops.Mul.apply(self, other)

    def __rmul__(self, other):
        other = _operand(other)
        return NotImplemented if other is NotImplemented else math_ops.Mul.apply(other, self)

    def __truediv__(self, other):
        other = _operand(other)
        return NotImplemented if other is NotImplemented else math_ops.Div.apply(self, other)

    def __rtruediv__(self, other):
        other = _operand(other)
        return NotImplemented if other is NotImplemented else math_ops.Div.apply(other, self)

    def __matmul__(self, other):
        other = _operand(other)
        return NotImplemented if other is NotImplemented else math_ops.MatMul.apply(self, other)

    def __rmatmul__(self, other):
        other = _operand(other)
        return NotImplemented if other is NotImplemented else math_ops.MatMul.apply(other, self)

    def __neg__(self):
        return math_ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        if isinstance(exponent, (Tensor, np.ndarray)) or not isinstance(exponent, numbers.Real):
            raise TypeError(
                f"exponent must be a real Python or NumPy scalar, got {type(exponent).__name__}"
            )
        return math_ops.Pow.apply(self, exponent=exponent)

    def exp(self) -> Tensor:
        return math_ops.Exp.apply(self)

    def log(self) -> Tensor:
        return math_ops.Log.apply(self)

    def sqrt(self) -> Tensor:
        return self**0.5

    # Comparisons give bool tensors outside the graph (useful for accuracy metrics).
    def _compare(self, other, op):
        other = other.data if isinstance(other, Tensor) else other
        if _xp.is_device(self._data) or _xp.is_device(other):
            return Tensor._from_array(getattr(_xp.cuda, op.__name__)(self._data, other))
        return Tensor._from_array(op(self._data, other))

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    __hash__ = object.__hash__

    # ----------------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
        """Sum over ``axis`` (int, tuple or None for all); ``dim``/``keepdim`` also accepted."""
        keep = keepdims if keepdim is None else keepdim
        return math_ops.Sum.apply(self, axis=_pick(axis, dim), keepdims=bool(keep))

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
        """Mean over ``axis`` (int, tuple or None for all)."""
        keep = keepdims if keepdim is None else keepdim
        return math_ops.Mean.apply(self, axis=_pick(axis, dim), keepdims=bool(keep))

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
        """Maximum values over ``axis`` (NumPy semantics: values only, no indices).

        Tied maxima share the gradient equally.
        """
        keep = keepdims if keepdim is None else keepdim
        return math_ops.Max.apply(self, axis=_pick(axis, dim), keepdims=bool(keep))

    def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
        """Indices of the maxima (int64, not differentiable)."""
        keep = keepdims if keepdim is None else keepdim
        xp = _xp.namespace(self._data)
        return Tensor._from_array(xp.argmax(self._data, axis=_pick(axis, dim), keepdims=keep))

    # ----------------------------------------------------------------- display
    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype != _DEFAULT_FLOAT:
            extras.append(f"dtype={self.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a Tensor from ``data`` (a copy, unlike ``Tensor(array)``, which shares)."""
    source = data.data if isinstance(data, Tensor) else data
    if _xp.is_device(source):
        copied = _xp.copy(source)
    else:
        copied = np.array(source, copy=True) if isinstance(source, np.ndarray) else source
    return Tensor(copied, requires_grad=requires_grad, dtype=dtype)


def _as_tensor_list(name, tensors):
    if isinstance(tensors, (Tensor, np.ndarray)) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"{name} takes a sequence of tensors, got {type(tensors).__name__}")
    items = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not items:
        raise ValueError(f"{name} needs at least one tensor, got an empty sequence")
    return items


def stack(tensors, axis: int = 0, *, dim=None) -> Tensor:
    """Join tensors of equal shape along a new axis ``axis`` (differentiable)."""
    items = _as_tensor_list("stack", tensors)
    axis = _pick(axis if axis != 0 or dim is None else None, dim)
    return shape_ops.Stack.apply(*items, axis=axis)


def cat(tensors, axis: int = 0, *, dim=None) -> Tensor:
    """Join tensors along the existing axis ``axis`` (differentiable)."""
    items = _as_tensor_list("cat", tensors)
    axis = _pick(axis if axis != 0 or dim is None else None, dim)
    return shape_ops.Cat.apply(*items, axis=axis)
