"""correlate2d / convolve2d against scipy.signal on the same inputs (float64)."""

import numpy as np
from scipy import signal

import numbaconv

SIZES = [1024]
KERNELS = [3, 5]
MODES = ["full", "same", "valid"]
BOUNDARIES = ["fill", "wrap", "symm"]


def _inputs(size, k):
    rng = np.random.default_rng(0)
    return rng.standard_normal((size, size)), rng.standard_normal((k, k))


class Correlate2d:
    params = (["numbaconv", "scipy"], SIZES, KERNELS, MODES, BOUNDARIES)
    param_names = ["impl", "size", "kernel", "mode", "boundary"]

    def setup(self, impl, size, k, mode, boundary):
        self.image, self.kernel = _inputs(size, k)
        self.fn = numbaconv.correlate2d if impl == "numbaconv" else signal.correlate2d
        self.fn(self.image, self.kernel, mode=mode, boundary=boundary)  # compile outside timing

    def time_correlate2d(self, impl, size, k, mode, boundary):
        self.fn(self.image, self.kernel, mode=mode, boundary=boundary)


class Convolve2dLarge:
    """A scientist's 4096x4096 image, 'same' mode."""

    params = (["numbaconv", "scipy"], [3, 5])
    param_names = ["impl", "kernel"]
    timeout = 120

    def setup(self, impl, k):
        self.image, self.kernel = _inputs(4096, k)
        self.fn = numbaconv.convolve2d if impl == "numbaconv" else signal.convolve2d
        self.fn(self.image[:64, :64], self.kernel, mode="same")

    def time_convolve2d_same(self, impl, k):
        self.fn(self.image, self.kernel, mode="same")


# Single-image filtering against the fastest peers. OpenCV's filter2D correlates (no
# flip) in float32 for float32 input (ddepth=-1), with its anchor at the kernel centre, which is
# SciPy's 'same' for odd kernels; BORDER_CONSTANT (zeros) is boundary='fill' and BORDER_REFLECT
# ('fedcba|abcdefgh|hgfedcb', edge repeated) is 'symm'. filter2D has no wrap border, so those
# rows are skipped. scipy.ndimage.correlate's 'constant', 'reflect' and 'wrap' are the same
# three boundaries (it accumulates in float64 and returns float32).
PEER_KERNELS = [3, 5, 25]
PEER_BOUNDARIES = ["fill", "symm", "wrap"]
_OPENCV_BORDERS = {"fill": "BORDER_CONSTANT", "symm": "BORDER_REFLECT"}
_NDIMAGE_MODES = {"fill": "constant", "symm": "reflect", "wrap": "wrap"}


def _peer_call(impl, image, kernel, boundary):
    if impl == "numbaconv":
        return lambda: numbaconv.correlate2d(image, kernel, mode="same", boundary=boundary)
    if impl == "ndimage":
        from scipy import ndimage

        mode = _NDIMAGE_MODES[boundary]
        return lambda: ndimage.correlate(image, kernel, mode=mode)
    try:
        import cv2
    except ImportError:
        raise NotImplementedError("opencv-python-headless is not installed") from None
    if boundary not in _OPENCV_BORDERS:
        raise NotImplementedError(f"cv2.filter2D has no {boundary!r} border")
    import numba

    cv2.setNumThreads(numba.get_num_threads())  # the same threads as numbaconv
    border = getattr(cv2, _OPENCV_BORDERS[boundary])
    return lambda: cv2.filter2D(image, -1, kernel, borderType=border)


class Correlate2dPeers:
    """correlate2d 'same' on a 2048^2 float32 image vs OpenCV filter2D and scipy.ndimage."""

    params = (["numbaconv", "opencv", "ndimage"], PEER_KERNELS, PEER_BOUNDARIES)
    param_names = ["impl", "kernel", "boundary"]
    timeout = 300

    def setup(self, impl, k, boundary):
        rng = np.random.default_rng(0)
        image = rng.standard_normal((2048, 2048)).astype(np.float32)
        kernel = rng.standard_normal((k, k)).astype(np.float32)
        self.call = _peer_call(impl, image, kernel, boundary)
        self.call()  # compile outside timing

    def time_correlate2d_same_float32(self, impl, k, boundary):
        self.call()


class Correlate2dComplex:
    """complex128 'same'/symm at 1024^2 against scipy.signal."""

    params = (["numbaconv", "scipy"], [3, 5])
    param_names = ["impl", "kernel"]

    def setup(self, impl, k):
        rng = np.random.default_rng(0)
        self.image = rng.standard_normal((1024, 1024)) + 1j * rng.standard_normal((1024, 1024))
        self.kernel = rng.standard_normal((k, k)) + 1j * rng.standard_normal((k, k))
        self.fn = numbaconv.correlate2d if impl == "numbaconv" else signal.correlate2d
        self.fn(self.image[:64, :64], self.kernel, mode="same", boundary="symm")

    def time_correlate2d_complex128_same_symm(self, impl, k):
        self.fn(self.image, self.kernel, mode="same", boundary="symm")
