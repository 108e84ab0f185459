"""Small, hand-checked intersphinx inventories for NumPy, SciPy, Numba, Python, Matplotlib.

The docs build must pass with warnings as errors on a machine without network access, where
intersphinx cannot download ``objects.inv`` and none of the installed packages ships one. So the
build writes tiny inventories holding only the objects these docs (and numbaconv's docstrings)
link to, each pointing at the page and anchor of the real documentation. Links therefore work
in the built HTML; a reference to an object not listed here fails the build (``nitpicky``) and is
fixed by adding a line below after checking the URL.

With ``online=True`` the real inventories are tried first and these are the fallback.
"""

from __future__ import annotations

import zlib
from pathlib import Path

# name -> (project, version, base URL, [(object name, domain:role, relative URI), ...])
INVENTORIES = {
    "python": (
        "Python",
        "3",
        "https://docs.python.org/3/",
        [("os.replace", "py:function", "library/os.html#os.replace")],
    ),
    "matplotlib": (
        "Matplotlib",
        "stable",
        "https://matplotlib.org/stable/",
        [
            (
                "matplotlib.axes.Axes.imshow",
                "py:method",
                "api/_as_gen/matplotlib.axes.Axes.imshow.html#matplotlib.axes.Axes.imshow",
            ),
        ],
    ),
    "numpy": (
        "NumPy",
        "stable",
        "https://numpy.org/doc/stable/",
        [
            ("numpy", "py:module", "reference/index.html#module-numpy"),
            ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html#numpy.ndarray"),
            ("numpy.dtype", "py:class", "reference/generated/numpy.dtype.html#numpy.dtype"),
            (
                "numpy.random.Generator",
                "py:class",
                "reference/random/generator.html#numpy.random.Generator",
            ),
            (
                "numpy.random.default_rng",
                "py:function",
                "reference/random/generator.html#numpy.random.default_rng",
            ),
            ("numpy.asarray", "py:function", "reference/generated/numpy.asarray.html#$"),
            (
                "numpy.ascontiguousarray",
                "py:function",
                "reference/generated/numpy.ascontiguousarray.html#numpy.ascontiguousarray",
            ),
            ("numpy.load", "py:function", "reference/generated/numpy.load.html#numpy.load"),
            ("numpy.savez", "py:function", "reference/generated/numpy.savez.html#numpy.savez"),
            ("numpy.allclose", "py:function", "reference/generated/numpy.allclose.html#$"),
        ],
    ),
    "scipy": (
        "SciPy",
        "stable",
        "https://docs.scipy.org/doc/scipy/",
        [
            ("scipy.signal", "py:module", "reference/signal.html#module-scipy.signal"),
            (
                "scipy.signal.correlate2d",
                "py:function",
                "reference/generated/scipy.signal.correlate2d.html#scipy.signal.correlate2d",
            ),
            (
                "scipy.signal.convolve2d",
                "py:function",
                "reference/generated/scipy.signal.convolve2d.html#scipy.signal.convolve2d",
            ),
        ],
    ),
    "numba": (
        "Numba",
        "stable",
        "https://numba.readthedocs.io/en/stable/",
        [
            ("numba.jit", "py:function", "reference/jit-compilation.html#numba.jit"),
            (
                "numba.set_num_threads",
                "py:function",
                "user/threading-layer.html#numba.set_num_threads",
            ),
            (
                "numba.get_num_threads",
                "py:function",
                "user/threading-layer.html#numba.get_num_threads",
            ),
            ("NUMBA_CACHE_DIR", "std:envvar", "reference/envvars.html#envvar-NUMBA_CACHE_DIR"),
            ("NUMBA_NUM_THREADS", "std:envvar", "reference/envvars.html#envvar-NUMBA_NUM_THREADS"),
            ("NUMBA_DISABLE_JIT", "std:envvar", "reference/envvars.html#envvar-NUMBA_DISABLE_JIT"),
        ],
    ),
}


def write_inventory(path: Path, project: str, version: str, entries) -> None:
    """Write a Sphinx version-2 ``objects.inv`` (zlib-compressed body) to ``path``."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode() + zlib.compress(body.encode()))


def mapping(folder: Path, online: bool = False) -> dict:
    """``intersphinx_mapping`` using the local inventories (after the real ones when online)."""
    result = {}
    for key, (project, version, base, entries) in INVENTORIES.items():
        local = folder / f"{key}.inv"
        write_inventory(local, project, version, entries)
        targets = (None, str(local)) if online else (str(local),)
        result[key] = (base, targets)
    return result
