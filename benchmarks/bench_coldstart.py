"""Cold start, timed by asv in a fresh interpreter (``timeraw_``): import, and the first conv2d
call with a warm and with an empty compilation cache."""

import os
import subprocess
import sys
import tempfile

_WARM_CACHE = os.path.join(tempfile.gettempdir(), "numbaconv-asv-warm-cache")

_FIRST_CONV = """
import os
os.environ["NUMBA_CACHE_DIR"] = {cache!r}
import numpy as np
import numbaconv
numbaconv.ops.conv2d(np.ones((1, 1, 8, 8), np.float32), np.ones((2, 1, 3, 3), np.float32))
"""


def _fill_warm_cache():
    # Runs in the benchmark runner before timing, in its own interpreter, so the timed
    # interpreters start with compiled kernels on disk but nothing imported.
    subprocess.run([sys.executable, "-c", _FIRST_CONV.format(cache=_WARM_CACHE)], check=True)


def timeraw_import():
    return "import numbaconv"


def timeraw_first_conv2d_warm_cache():
    return _FIRST_CONV.format(cache=_WARM_CACHE)


timeraw_first_conv2d_warm_cache.setup = _fill_warm_cache


def timeraw_first_conv2d_empty_cache():
    # A new, empty cache folder for every timed interpreter (made inside it), removed after.
    return (
        "import tempfile\n"
        "_empty = tempfile.mkdtemp(prefix='numbaconv-asv-empty-')\n"
        + _FIRST_CONV.format(cache="EMPTY").replace("'EMPTY'", "_empty")
        + "import shutil\nshutil.rmtree(_empty, ignore_errors=True)\n"
    )
