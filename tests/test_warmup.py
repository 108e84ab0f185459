"""``numbaconv._warmup.warmup_training``: a cold kernel cache is filled by two processes, and
a training step afterwards compiles nothing; a warm cache starts no second process.

Runs in a fresh interpreter with its own empty ``NUMBA_CACHE_DIR`` (a cold compile of the
training kernels: about 15 s on two cores)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from numba.core import event
    import numbaconv
    from numbaconv import _warmup, models, optim
    from numbaconv.nn import functional as F

    compiled = []
    class Record(event.Listener):
        def on_start(self, ev):
            pass
        def on_end(self, ev):
            compiled.append(ev.data["dispatcher"].py_func.__name__)

    cold = _warmup._cache_is_cold()
    used_child = _warmup.warmup_training(np.float32, batch_norm=True)
    forward_set = len(compiled)
    event.register("numba:compile", Record())
    model = models.simple_cnn(bn=True, seed=0)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x = numbaconv.Tensor(np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32))
    loss = F.cross_entropy(model(x), np.arange(16) % 10)
    loss.backward()
    opt.step()
    print(cold, used_child, _warmup._cache_is_cold(), _warmup.warmup_training(np.float32),
          sorted(set(compiled)), sep="|")
    """
)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the second process needs a second core")
def test_cold_cache_is_filled_by_two_processes_and_the_step_compiles_nothing(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBACONV_CACHE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    cold, used_child, cold_after, again, compiled = done.stdout.strip().splitlines()[-1].split("|")
    assert (cold, used_child) == ("True", "True")
    # Everything the step runs came from the cache: the forward kernels this process
    # compiled, the backward ones the child wrote.
    assert compiled == "[]", compiled
    assert (cold_after, again) == ("False", "False")  # warm: no second process


def test_no_second_process_without_the_disk_cache():
    env = {**os.environ, "NUMBACONV_CACHE": "0"}
    code = "from numbaconv import _warmup; print(_warmup._cache_is_cold())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
