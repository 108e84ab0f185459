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
    """The 'scientist with a 4096x4096 image' case of issue 2."""

    params = (["numbaconv", "scipy"], [3, 5])
    param_names = ["impl", "kernel"]
    timeout = 120

    def setup(self, impl, k):
        self.image, self.kernel = _inputs(4096, k)
        self.fn = numbaconv.convolve2d if impl == "numbaconv" else signal.convolve2d
        self.fn(self.image[:64, :64], self.kernel, mode="same")

    def time_convolve2d_same(self, impl, k):
        self.fn(self.image, self.kernel, mode="same")
