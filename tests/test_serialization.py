"""save/load: .npz round trips, atomic replacement, refusal of pickles and misfit shapes."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from numbaconv import random as nc_random
from numbaconv import serialization
from numbaconv.autograd import Tensor, no_grad
from numbaconv.nn import BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential


def small_model():
    return Sequential(
        Sequential(Conv2d(1, 2, 3, stride=2, padding=1), BatchNorm2d(2), ReLU()),
        Flatten(),
        Linear(2 * 3 * 3, 2),
    )


def test_module_round_trip(tmp_path):
    nc_random.manual_seed(0)
    source = small_model()
    x = Tensor(np.random.default_rng(1).random((2, 1, 6, 6), dtype=np.float32))
    source(x)  # training step: running statistics move away from their defaults
    path = tmp_path / "model.npz"
    serialization.save(source, path)
    state = serialization.load(path)
    assert list(state) == list(source.state_dict())
    for key, value in source.state_dict().items():
        assert state[key].dtype == value.dtype and state[key].shape == value.shape
        np.testing.assert_array_equal(state[key], value)
    assert (
        state["0.1.num_batches_tracked"].shape == () and int(state["0.1.num_batches_tracked"]) == 1
    )

    nc_random.manual_seed(99)
    restored = small_model()
    restored.load_state_dict(state)
    source.eval()
    restored.eval()
    with no_grad():
        np.testing.assert_array_equal(source(x).data, restored(x).data)


def test_save_state_dict_with_tensors_and_str_path(tmp_path):
    path = str(tmp_path / "state.npz")
    serialization.save({"w": Tensor(np.arange(3.0)), "n": np.array(4)}, path)
    state = serialization.load(path)
    np.testing.assert_array_equal(state["w"], [0.0, 1.0, 2.0])
    assert state["n"] == 4
    assert os.listdir(tmp_path) == ["state.npz"]  # written exactly as named, no temporaries


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    serialization.save({"w": np.ones(3)}, path)
    real_savez = np.savez

    def crash_midway(file, **arrays):
        real_savez(file, **arrays)  # bytes hit the temporary file ...
        raise OSError("disk full")  # ... then the write fails before the rename

    monkeypatch.setattr(serialization.np, "savez", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        serialization.save({"w": np.zeros(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(serialization.load(path)["w"], np.ones(3))
    assert os.listdir(tmp_path) == ["model.npz"]


def test_loading_into_a_model_of_another_shape_names_the_parameter(tmp_path):
    path = tmp_path / "linear.npz"
    serialization.save(Linear(4, 3), path)
    with pytest.raises(ValueError, match=r"'weight'.*\(3, 4\).*\(2, 4\)"):
        Linear(4, 2).load_state_dict(serialization.load(path))


def test_pickled_content_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="cannot read a state dict"):
        serialization.load(path)


def test_bad_inputs(tmp_path):
    with pytest.raises(TypeError, match="Module or a state dict"):
        serialization.save([1, 2], tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"'s'.*dtype"):
        serialization.save({"s": np.array(["text"])}, tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        serialization.save({"w": np.ones(1)}, tmp_path / "missing" / "x.npz")
    with pytest.raises(FileNotFoundError):
        serialization.load(tmp_path / "nothing.npz")
    single = tmp_path / "single.npy"
    np.save(single, np.ones(2))
    with pytest.raises(ValueError, match="single array"):
        serialization.load(single)
    assert not (tmp_path / "x.npz").exists()  # refused saves write nothing


def test_save_writes_a_plain_npz(tmp_path):
    path = tmp_path / "plain.npz"
    serialization.save({"a": np.ones(2)}, path)
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["a"], np.ones(2))
