"""The package's default random generator, so that seeded runs repeat exactly.

Weight initialisation (and anything else in numbaconv that draws random numbers
without being handed a generator) uses :func:`default_generator`. Seed it with
:func:`manual_seed`; pass ``rng=`` to a layer to use a generator of your own.
"""

from __future__ import annotations

import numbers

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator and return it.

    Parameters
    ----------
    seed : int
        A non-negative integer.

    Returns
    -------
    numpy.random.Generator
        The new default generator (``np.random.default_rng(seed)``).
    """
    global _generator
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be a non-negative integer, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator used when no ``rng`` is given."""
    return _generator


def get_generator(rng=None) -> np.random.Generator:
    """``rng`` if it is a Generator, the default generator if it is None."""
    if rng is None:
        return _generator
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or None, got {rng!r}")
    return rng
