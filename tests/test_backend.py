"""Backend selection, the CPU path without numba-cuda, clear CUDA errors, show_config, and moving
arrays to and from the device."""

from __future__ import annotations

import inspect
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

from numbaconv import _backend, _malloc, config

REPO = Path(__file__).resolve().parents[1]
SIMULATING = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


class ForeignDeviceArray:
    """Looks like a CuPy array to the dispatch (it is never handed to a kernel)."""

    shape = (1, 1, 3, 3)
    dtype = np.dtype(np.float64)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": "<f8", "data": (0, False), "version": 3}


class CpuTensorLike:
    """Like a PyTorch CPU tensor: the interface exists on the class but refuses to answer."""

    @property
    def __cuda_array_interface__(self):
        raise AttributeError("not a CUDA tensor")

    def __array__(self, dtype=None, copy=None):
        return np.ones((1, 1, 3, 3))


def _run_python(code: str, *, simulate: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulate:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


BLOCK_NUMBA_CUDA = """
    import sys

    class BlockNumbaCuda:
        # Behave as if numba-cuda were not installed.
        def find_spec(self, name, path=None, target=None):
            if name == "numba.cuda" or name.startswith(("numba.cuda.", "numba_cuda")):
                raise ImportError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, BlockNumbaCuda())
"""


def test_import_and_cpu_path_work_without_numba_cuda():
    result = _run_python(
        BLOCK_NUMBA_CUDA
        + """
    import io
    import numpy as np
    import numbaconv
    from numbaconv import _backend
    from numbaconv.ops.conv import conv2d, conv2d_grad_bias, conv2d_grad_input

    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y = conv2d(x, np.ones((1, 1, 2, 2)))
    assert y[0, 0, 0].tolist() == [10.0, 14.0, 18.0], y
    assert conv2d_grad_input(x.shape, np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)))[
        0, 0, 1, 1] == 4.0
    assert conv2d_grad_bias(np.ones((2, 3, 2, 2))).tolist() == [8.0, 8.0, 8.0]
    assert _backend.cuda_available() is False
    try:
        _backend.to_device(x)
    except RuntimeError as exc:
        print("TO_DEVICE:", exc)
    text = io.StringIO()
    _backend.show_config(text)
    print(text.getvalue())
    print("CUDA_IMPORTED:", "numba.cuda" in sys.modules)
    """
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "TO_DEVICE: CUDA is not usable: numba.cuda cannot be imported" in out
    assert 'pip install "numbaconv[cuda]"' in out
    assert "NUMBA_ENABLE_CUDASIM=1" in out
    assert "CUDA_IMPORTED: False" in out
    cuda_line = next(line for line in out.splitlines() if line.startswith("CUDA:"))
    assert "unavailable: numba.cuda cannot be imported" in cuda_line


def test_foreign_device_arrays_without_numba_cuda_get_the_install_hint():
    result = _run_python(
        BLOCK_NUMBA_CUDA
        + """
    import numpy as np
    from numbaconv.ops.conv import conv2d

    class Foreign:
        __cuda_array_interface__ = {"shape": (1, 1, 3, 3), "typestr": "<f8", "data": (0, False)}

    try:
        conv2d(Foreign(), Foreign())
    except RuntimeError as exc:
        print("ERROR:", exc)
    """
    )
    assert result.returncode == 0, result.stderr
    assert "ERROR: CUDA is not usable" in result.stdout
    assert 'pip install "numbaconv[cuda]"' in result.stdout


def test_cpu_path_does_not_import_numba_cuda():
    result = _run_python(
        """
    import sys
    import numpy as np
    from numbaconv.ops.conv import conv2d, conv2d_grad_weight

    x = np.ones((1, 2, 5, 5), np.float32)
    conv2d(x, np.ones((3, 2, 3, 3), np.float32), padding=1)
    conv2d_grad_weight(x, (3, 2, 3, 3), np.ones((1, 3, 5, 5), np.float32), padding=1)
    print(sorted(m for m in sys.modules if m == "numba.cuda" or m.startswith("numba.cuda.")))
    """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif(_backend.cuda_available(), reason="CUDA is usable here")
def test_device_call_without_a_gpu_says_what_is_missing():
    with pytest.raises(RuntimeError) as info:
        _backend.to_device(np.ones(3))
    message = str(info.value)
    assert message.startswith("CUDA is not usable: ")
    assert "NUMBA_ENABLE_CUDASIM=1" in message
    # Either numba-cuda is missing (install hint) or the driver/GPU is (says so).
    assert 'pip install "numbaconv[cuda]"' in message or "no usable NVIDIA GPU" in message
    from numbaconv.ops.conv import conv2d

    with pytest.raises(RuntimeError) as info:
        conv2d(ForeignDeviceArray(), ForeignDeviceArray())
    assert str(info.value) == message


def test_is_device_array():
    assert not _backend.is_device_array(np.ones(3))
    assert not _backend.is_device_array([1.0, 2.0])
    assert not _backend.is_device_array(3.0)
    assert not _backend.is_device_array(CpuTensorLike())
    assert _backend.is_device_array(ForeignDeviceArray())


def test_select_picks_the_backend_from_every_array_argument():
    host = np.ones((1, 1, 3, 3))
    assert _backend.select("op", x=host, weight=[[1.0]], bias=None) is _backend.CPU
    assert _backend.select("op", x=CpuTensorLike()) is _backend.CPU
    with pytest.raises(TypeError) as info:
        _backend.select("conv2d", x=host, weight=ForeignDeviceArray(), bias=None)
    message = str(info.value)
    assert message.startswith("conv2d: all array arguments must be on the same device")
    assert "x is a host (NumPy) array, weight is a CUDA device array" in message
    assert "bias" not in message


def test_cpu_backend_allocates_and_normalises_arrays():
    cpu = _backend.CPU
    assert cpu.name == "cpu"
    out = cpu.empty((2, 3), np.float32)
    assert isinstance(out, np.ndarray) and out.shape == (2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(cpu.zeros(4, np.float64), np.zeros(4))
    a = np.arange(12.0).reshape(3, 4)
    assert cpu.contiguous(a, np.float64) is a
    t = cpu.contiguous(a.T, np.float32)
    assert t.flags.c_contiguous and t.dtype == np.float32
    np.testing.assert_array_equal(t, a.T.astype(np.float32))


def test_cpu_backend_kernels_are_the_cpu_modules():
    import numbaconv.kernels.cpu.conv as cpu_conv

    assert _backend.CPU.kernels.conv is cpu_conv


def _launchers(module) -> dict:
    return {
        name: inspect.signature(fn)
        for name, fn in vars(module).items()
        if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == module.__name__
    }


def test_cuda_launchers_mirror_the_cpu_launchers():
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    import numbaconv.kernels.cpu.conv as cpu_conv
    import numbaconv.kernels.cuda.conv as cuda_conv

    assert _backend.CUDA.kernels.conv is cuda_conv
    cpu, gpu = _launchers(cpu_conv), _launchers(cuda_conv)
    assert set(cpu) == {
        "conv2d_forward",
        "conv2d_grad_input",
        "conv2d_grad_weight",
        "conv2d_grad_bias",
    }
    assert gpu == cpu


def test_launch_config(monkeypatch):
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    import numbaconv.kernels.cuda as kernels_cuda

    monkeypatch.setattr(kernels_cuda, "_max_blocks_cache", 5)
    monkeypatch.setattr(config, "CUDA_THREADS", 7)
    assert kernels_cuda.launch_config(1) == (1, 7)
    assert kernels_cuda.launch_config(20) == (3, 7)  # ceil(20 / 7)
    assert kernels_cuda.launch_config(1000) == (5, 7)  # capped: the grid-stride loop does the rest
    monkeypatch.setattr(config, "CUDA_THREADS", 2048)
    with pytest.raises(ValueError, match="NUMBACONV_CUDA_THREADS=2048"):
        kernels_cuda.launch_config(10)


def test_show_config_prints_what_a_bug_report_needs(monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/some/cache/dir")
    text = io.StringIO()
    _backend.show_config(text)
    lines = dict(line.split(":", 1) for line in text.getvalue().splitlines())
    lines = {key: value.strip() for key, value in lines.items()}
    expected_keys = {
        "numbaconv",
        "numpy",
        "numba",
        "numba-cuda",
        "scipy",
        "threading layer",
        "threads",
        "CUDA",
        "kernel cache",
        "CPU fastmath",
        "CUDA fastmath",
        "CUDA threads per block",
        "malloc",
    }
    assert set(lines) == expected_keys
    assert lines["numpy"] == np.__version__
    assert lines["numba"] == numba.__version__
    import scipy

    assert lines["scipy"] == scipy.__version__
    assert lines["threads"] == f"{numba.get_num_threads()} of {numba.config.NUMBA_NUM_THREADS}"
    assert lines["threading layer"]
    assert "/some/cache/dir" in lines["kernel cache"]
    assert lines["CUDA threads per block"] == str(config.CUDA_THREADS)
    assert lines["CUDA fastmath"].startswith("off")
    assert lines["malloc"] == _malloc.state
    if config.FASTMATH:
        assert lines["CPU fastmath"] == ",".join(sorted(config.FASTMATH))
    if SIMULATING:
        assert lines["CUDA"].startswith("simulator")
    elif _backend.cuda_available():
        assert "compute capability" in lines["CUDA"]
    else:
        assert lines["CUDA"].startswith("unavailable: ")


def test_show_config_defaults_to_stdout(capsys):
    _backend.show_config()
    assert "CUDA threads per block:" in capsys.readouterr().out


@pytest.mark.skipif(not _backend.cuda_available(), reason="needs a GPU or NUMBA_ENABLE_CUDASIM=1")
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_to_device_and_back(dtype):
    host = (np.arange(24).reshape(2, 3, 4) % 5).astype(dtype)
    device = _backend.to_device(host[:, ::2])  # a non-contiguous host view
    assert _backend.is_device_array(device) and not isinstance(device, np.ndarray)
    assert _backend.to_device(device) is device
    back = _backend.to_host(device)
    assert isinstance(back, np.ndarray) and back.dtype == dtype
    np.testing.assert_array_equal(back, host[:, ::2])


def test_to_host_of_host_arrays_is_a_no_op():
    a = np.arange(5.0)
    assert _backend.to_host(a) is a
    np.testing.assert_array_equal(_backend.to_host([1, 2]), np.array([1, 2]))
