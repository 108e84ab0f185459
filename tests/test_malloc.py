"""numbaconv._malloc: a training step reuses freed buffers instead of faulting them back in.

Each case runs in a fresh interpreter, since glibc's thresholds are process-wide and set at
import. The measure is the kernel's own count of minor page faults (``ru_minflt``) over
training steps of the chapter's 10-class batch-norm CNN, which is deterministic enough to
tell ~1 fault per step from thousands.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the thresholds exist only in glibc's malloc",
)

_STEPS = textwrap.dedent(
    """
    import resource, numpy as np, numbaconv
    from numbaconv import models, optim
    from numbaconv.nn import functional as F
    model = models.simple_cnn(bn=True, seed=0)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = numbaconv.Tensor(rng.random((256, 1, 28, 28), dtype=np.float32))
    y = rng.integers(0, 10, 256)
    def step():
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        step()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4
    from numbaconv import _malloc
    print(faults, _malloc.state, sep="|")
    """
)


def _run(**env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUN"))}
    full.pop("NUMBACONV_MALLOC", None)
    full.update(env)
    done = subprocess.run(
        [sys.executable, "-c", _STEPS], env=full, capture_output=True, text=True, check=True
    )
    faults, state = done.stdout.strip().splitlines()[-1].split("|")
    return float(faults), state


def test_training_steps_reuse_freed_buffers():
    faults, state = _run()
    assert state.startswith("freed buffers kept"), state
    # The step allocates ~7 MiB of fresh activations and gradients (1,800 pages) each time.
    assert faults < 50, faults


def test_glibc_defaults_fault_the_activations_in_every_step():
    """The same steps with the tuning off: what the default costs (and proof that the
    measure above can fail)."""
    faults, state = _run(NUMBACONV_MALLOC="0")
    assert state == "glibc defaults (NUMBACONV_MALLOC=0)"
    assert faults > 500, faults


def test_the_users_malloc_variables_win():
    faults, state = _run(MALLOC_TRIM_THRESHOLD_="65536")
    assert state == "as set by the user's MALLOC_*_/GLIBC_TUNABLES variables"
    assert faults > 500, faults


def test_a_bad_setting_is_refused_at_import():
    env = {**os.environ, "NUMBACONV_MALLOC": "maybe"}
    done = subprocess.run(
        [sys.executable, "-c", "import numbaconv"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "NUMBACONV_MALLOC='maybe'" in done.stderr
