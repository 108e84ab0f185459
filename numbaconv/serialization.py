"""Saving and loading model state as ``.npz`` files, atomically and without pickle.

A file holds one array per state-dict key (``"0.0.weight"``, ...). :func:`save`
writes to a temporary file in the destination folder and ``os.replace``-s it
into place, so a crash mid-write leaves any previous file intact. :func:`load`
reads with ``allow_pickle=False``; apply the result with
``Module.load_state_dict``, which names any parameter whose shape does not fit.

:func:`optimizer_arrays` and :func:`optimizer_state` turn an optimizer's state dict (PyTorch's
form, ``Optimizer.state_dict()``) into such arrays and back, so that a checkpoint holds the
model and its optimizer in one file: one array per state entry and the param groups as JSON
text (its UTF-8 bytes as a uint8 array, which needs no pickle).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict

import numpy as np


def _arrays(obj) -> OrderedDict:
    from .autograd import Tensor
    from .nn.module import Module

    if isinstance(obj, Module):
        return obj.state_dict()
    if not hasattr(obj, "items"):
        raise TypeError(
            f"save takes a Module or a state dict (mapping of str to arrays), got "
            f"{type(obj).__name__}"
        )
    arrays = OrderedDict()
    for key, value in obj.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"state dict keys must be non-empty strings, got {key!r}")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"state dict entry {key!r} has dtype {array.dtype}; only bool, integer and "
                "real float arrays can be saved"
            )
        arrays[key] = array
    return arrays


def save(obj, path) -> None:
    """Write a Module's ``state_dict()`` (or a state dict) to ``path`` as ``.npz``.

    Parameters
    ----------
    obj : Module or mapping of str to array_like/Tensor
    path : str or os.PathLike
        Written exactly as given (no suffix is added). The folder must exist.

    Notes
    -----
    The data goes to a temporary file in the same folder, is flushed to disk and
    then atomically renamed over ``path``; on any error the temporary file is
    removed and an existing ``path`` is left untouched.
    """
    arrays = _arrays(obj)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"path {path!r}: folder {folder!r} does not exist")
    _atomic_savez(path, arrays)


def _atomic_savez(path, arrays) -> None:
    """``np.savez(path, **arrays)``, but all or nothing: ``path`` is never left half-written.

    The arrays go to a temporary file in ``path``'s folder, which is flushed to disk and then
    renamed over ``path`` with ``os.replace`` (atomic on POSIX and Windows within one file
    system). On any error, the temporary file is removed and an existing ``path`` is left as it
    was. Shared by :func:`save` and the command line's model files; callers validate first.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, tmp_path = tempfile.mkstemp(
        prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder
    )
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            # Without the fsync, a power loss after the rename can leave an empty file behind.
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def load(path) -> OrderedDict:
    """Read a state dict written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    collections.OrderedDict of str to numpy.ndarray
        In the order the arrays were saved.

    Raises
    ------
    ValueError
        The file is not an ``.npz`` archive (or needs pickle, which is refused).
    """
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as exc:
        raise ValueError(f"cannot read a state dict from {path!r}: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path!r} holds a single array, not a state dict (.npz)")
    with archive:
        try:
            return OrderedDict((key, archive[key]) for key in archive.files)
        except ValueError as exc:  # an entry that needs pickle (object arrays)
            raise ValueError(f"cannot read a state dict from {path!r}: {exc}") from exc


def optimizer_arrays(state_dict, prefix: str) -> OrderedDict:
    """Arrays for ``Optimizer.state_dict()``, keyed ``<prefix>state::<index>::<name>`` and
    ``<prefix>param_groups`` (JSON text as UTF-8 bytes); device arrays are copied to the host."""
    from ._backend import to_host

    arrays = OrderedDict()
    text = json.dumps(_plain(state_dict["param_groups"]))
    arrays[f"{prefix}param_groups"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()
    for index, entries in state_dict["state"].items():
        for name, value in entries.items():
            arrays[f"{prefix}state::{int(index)}::{name}"] = np.array(to_host(value), copy=True)
    return arrays


def _plain(value):
    """JSON-ready copies of param groups: NumPy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def optimizer_state(arrays, prefix: str):
    """The optimizer state dict stored by :func:`optimizer_arrays` in ``arrays``, or None when
    ``arrays`` holds none.

    Raises
    ------
    ValueError
        Entries with ``prefix`` but no param groups, or a key of an unknown form.
    """
    entries = [(k[len(prefix) :], v) for k, v in arrays.items() if k.startswith(prefix)]
    if not entries:
        return None
    groups_key = "param_groups"
    found = dict(entries)
    if groups_key not in found:
        raise ValueError(
            f"optimizer entries ({prefix}...) without {prefix}{groups_key}: not written by this "
            "version of numbaconv; load it with with_opt=False"
        )
    state: dict[int, dict] = {}
    for key, value in entries:
        if key == groups_key:
            continue
        kind, index, name = [*key.split("::", 2), "", ""][:3]
        if kind != "state" or not index.isdigit() or not name:
            raise ValueError(f"unknown optimizer entry {prefix}{key!r}")
        is_count = value.ndim == 0 and value.dtype.kind in "iu"
        state.setdefault(int(index), {})[name] = int(value) if is_count else value
    text = np.asarray(found[groups_key], dtype=np.uint8).tobytes().decode("utf-8")
    return {"state": state, "param_groups": json.loads(text)}
