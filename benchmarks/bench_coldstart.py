"""Cold start, timed by asv in a fresh interpreter (``timeraw_``): import, and the first conv2d
call with a warm and with an empty compilation cache."""

import os
import tempfile

_WARM_CACHE = os.path.join(tempfile.gettempdir(), "numbaconv-asv-warm-cache")

_FIRST_CONV = """
import os
os.environ["NUMBA_CACHE_DIR"] = {cache!r}
import numpy as np
import numbaconv
numbaconv.ops.conv2d(np.ones((1, 1, 8, 8), np.float32), np.ones((2, 1, 3, 3), np.float32))
"""


def timeraw_import():
    return "import numbaconv"


def timeraw_first_conv2d_warm_cache():
    # The setup (second element) runs once first and fills the cache.
    code = _FIRST_CONV.format(cache=_WARM_CACHE)
    return code, code


def timeraw_first_conv2d_empty_cache():
    return _FIRST_CONV.format(cache=tempfile.mkdtemp(prefix="numbaconv-asv-empty-"))
