"""pytest plugin: run SciPy's own ``TestConvolve2d`` and ``TestCorrelate2d`` against numbaconv.

From the repository root (``.ci/run`` does this)::

    python -m pytest -p tests.scipy_suite.plugin --pyargs scipy.signal.tests.test_signaltools

The tests are those of the installed SciPy wheel, unchanged; nothing of SciPy's is copied here.
Before collection this plugin replaces ``scipy.signal.convolve2d`` and ``correlate2d`` with
numbaconv's functions (wrapped to count calls), so the test module's ``from scipy.signal import
convolve2d`` and its ``signal.correlate2d(...)`` both reach numbaconv. It then

- keeps only the two test classes and fails the run (usage error) if it does not find both,
  if the test module does not see the substitutes, or if no test is left to run;
- fails a test that names ``convolve2d``/``correlate2d`` in its code but never reached numbaconv
  (so a substitution that silently stopped working cannot pass);
- fails the session if numbaconv was never called.
"""

from __future__ import annotations

import functools
import inspect
import re

import pytest

TEST_MODULE = "scipy.signal.tests.test_signaltools"
TEST_CLASSES = ("TestConvolve2d", "TestCorrelate2d")
FUNCTION_NAMES = ("convolve2d", "correlate2d")
# A call or a reference passed on (``assert_raises(ValueError, convolve2d, ...)``, a parameter
# list): code that should reach numbaconv.
_USES = re.compile(r"\b(convolve2d|correlate2d)\b\s*[(,\]]")

_calls = {"total": 0}
_substitutes = {}


def _counting(function):
    @functools.wraps(function)
    def substitute(*args, **kwargs):
        _calls["total"] += 1
        return function(*args, **kwargs)

    return substitute


def pytest_configure(config):
    import scipy.signal
    from scipy._lib._array_api import xp_capabilities_table

    import numbaconv

    for name in FUNCTION_NAMES:
        original = getattr(scipy.signal, name)
        substitute = _counting(getattr(numbaconv, name))
        # SciPy's test decorators look the tested function up in this table.
        xp_capabilities_table[substitute] = xp_capabilities_table[original]
        setattr(scipy.signal, name, substitute)
        _substitutes[name] = substitute


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect: both classes must be found
def pytest_collection_modifyitems(session, config, items):
    keep, drop = [], []
    for item in items:
        module = getattr(item, "module", None)
        cls = getattr(item, "cls", None)
        wanted = module is not None and module.__name__ == TEST_MODULE
        (keep if wanted and cls is not None and cls.__name__ in TEST_CLASSES else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
    found = {item.cls.__name__ for item in keep}
    if found != set(TEST_CLASSES):
        raise pytest.UsageError(
            f"scipy_suite: collected tests of {sorted(found)}, expected {list(TEST_CLASSES)} "
            f"from {TEST_MODULE}; run with --pyargs {TEST_MODULE}"
        )
    module = keep[0].module
    for name, substitute in _substitutes.items():
        if getattr(module, name, None) is not substitute:
            raise pytest.UsageError(f"scipy_suite: {TEST_MODULE}.{name} is not numbaconv's")
        if getattr(module.signal, name) is not substitute:
            raise pytest.UsageError(f"scipy_suite: signal.{name} is not numbaconv's")


def pytest_collection_finish(session):
    if not session.items:  # after every deselection (-k, -m)
        raise pytest.UsageError("scipy_suite: no test of SciPy's selected; nothing would run")


def _should_reach_numbaconv(item) -> bool:
    code = [line.split("#", 1)[0] for line in inspect.getsource(item.function).splitlines()]
    return bool(_USES.search("\n".join(code)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    before = _calls["total"]
    result = yield
    if _should_reach_numbaconv(item) and _calls["total"] == before:
        raise AssertionError(
            f"{item.nodeid} names convolve2d/correlate2d but never called numbaconv"
        )
    return result


def pytest_sessionfinish(session, exitstatus):
    if session.testscollected and _calls["total"] == 0 and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(
        f"scipy_suite: SciPy's {' and '.join(TEST_CLASSES)} ran against numbaconv "
        f"({_calls['total']} calls to numbaconv)"
    )
