"""Switching graph recording on and off: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

The flag is thread-local, as in PyTorch, so a validation loop running in one
thread never stops another thread's training step from recording its graph.
"""

from __future__ import annotations

import functools
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    """Return True when operations on tensors that require grad record a graph."""
    return getattr(_state, "enabled", True)


def _set(enabled: bool) -> None:
    _state.enabled = bool(enabled)


class _GradModeContext:
    """Base for the context managers; each also works as a function decorator."""

    _target: bool = True

    def __enter__(self):
        self._previous = is_grad_enabled()
        _set(self._target)
        return self

    def __exit__(self, *exc_info):
        _set(self._previous)
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return func(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Context manager (and decorator) that stops recording the graph.

    Inside it, every result is a tensor with ``requires_grad=False``; use it for
    validation and for in-place parameter updates.

    Examples
    --------
    >>> with no_grad():
    ...     predictions = model(xb)
    """

    _target = False


class enable_grad(_GradModeContext):
    """Context manager (and decorator) that records the graph, even inside ``no_grad``."""

    _target = True


class set_grad_enabled(_GradModeContext):
    """Set graph recording on or off; usable as a call or as a context manager.

    Parameters
    ----------
    mode : bool
        True to record, False to stop recording.
    """

    def __init__(self, mode: bool):
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be True or False, got {mode!r}")
        self._previous = is_grad_enabled()
        self._target = mode
        _set(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _set(self._previous)
        return False

    def __call__(self, func):
        mode = self._target
        _set(self._previous)  # decorating must not change the mode at definition time

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return func(*args, **kwargs)

        return wrapper
