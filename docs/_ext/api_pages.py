"""Write the API reference pages from each public module's ``__all__``.

Generated at every build, so a name added to ``__all__`` appears in the reference without anyone
editing the docs, and a name that vanishes cannot leave a stale page behind. Each object is
documented once, in its *home* module (the public module its code lives under, e.g.
``numbaconv.ops`` for ``correlate2d``); modules that re-export it list it with a link there.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
from pathlib import Path

# (module, title, one-line description), in reading order.
MODULES = [
    ("numbaconv", "numbaconv", "Top-level names: the SciPy drop-ins, Tensor, devices, warm-up."),
    ("numbaconv.ops", "numbaconv.ops", "The validated array API over the CPU and CUDA kernels."),
    ("numbaconv.autograd", "numbaconv.autograd", "Reverse-mode automatic differentiation."),
    ("numbaconv.nn", "numbaconv.nn", "Modules, parameters and layers."),
    ("numbaconv.nn.functional", "numbaconv.nn.functional", "Autograd-aware operations."),
    ("numbaconv.nn.init", "numbaconv.nn.init", "Weight initialisation."),
    ("numbaconv.optim", "numbaconv.optim", "SGD and fastai's Adam."),
    ("numbaconv.schedule", "numbaconv.schedule", "One-cycle (cosine) schedules."),
    ("numbaconv.learner", "numbaconv.learner", "The training loop, lr_find and get_preds."),
    (
        "numbaconv.callbacks",
        "numbaconv.callbacks",
        "Recorder, progress bars, the lr finder, guard rails, ActivationStats and friends.",
    ),
    ("numbaconv.metrics", "numbaconv.metrics", "Accuracy and averaged losses."),
    ("numbaconv.models", "numbaconv.models", "The chapter's models."),
    ("numbaconv.data", "numbaconv.data", "Loading, batching and showing images."),
    ("numbaconv.datasets", "numbaconv.datasets", "The bundled MNIST sample."),
    ("numbaconv.serialization", "numbaconv.serialization", "Saving arrays and state dicts."),
    ("numbaconv.random", "numbaconv.random", "The package's random generator."),
]


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:  # modules without __all__: what they define themselves
        names = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and getattr(obj, "__module__", None) == module.__name__
            and (inspect.isfunction(obj) or inspect.isclass(obj))
        ]
    return sorted(n for n in names if not n.startswith("_"))


def _home(obj, exporting: str, public: list[str]) -> str:
    """The public module that documents ``obj`` (exported by ``exporting``)."""
    origin = getattr(obj, "__module__", None) if (callable(obj) or inspect.isclass(obj)) else None
    if not origin:  # constants: the deepest public module that exports them
        origin = exporting
    candidates = [m for m in public if origin == m or origin.startswith(m + ".")]
    return max(candidates, key=len) if candidates else exporting


def _collect():
    public = [name for name, _, _ in MODULES]
    pages = {name: {"own": [], "reexports": []} for name in public}
    for module_name in public:
        module = importlib.import_module(module_name)
        for name in _public_names(module):
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            home = _home(obj, module_name, public)
            home_names = _public_names(importlib.import_module(home))
            if home != module_name and name in home_names:
                pages[module_name]["reexports"].append((name, f"{home}.{name}"))
            else:
                pages[module_name]["own"].append(name)
    return pages


def write_api_pages(folder: Path) -> None:
    """(Re)write ``folder``: an index and one page per module (autosummary fills the rest)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    pages = _collect()
    index = [
        ".. _api:",
        "",
        "API reference",
        "=============",
        "",
        "Every public name of numbaconv, generated from each module's ``__all__``. Each object",
        "is documented once, in the module its code lives in; the modules that re-export it",
        "link there. Shapes use NCHW for activations and OIHW for weights.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
    ]
    index += [f"   {name}" for name, _, _ in MODULES]
    index += ["", ".. list-table::", "   :widths: 30 70", ""]
    for name, _, description in MODULES:
        index += [f"   * - :doc:`{name}`", f"     - {description}"]
    (folder / "index.rst").write_text("\n".join(index) + "\n")
    for name, title, description in MODULES:
        own, reexports = pages[name]["own"], pages[name]["reexports"]
        lines = [title, "=" * len(title), "", f".. automodule:: {name}", ""]
        lines += [description, ""]
        if own:
            lines += [
                f".. currentmodule:: {name}",
                "",
                ".. autosummary::",
                "   :toctree: generated",
                "   :nosignatures:",
                "",
            ]
            lines += [f"   {item}" for item in own]
            lines.append("")
        if reexports:
            lines += ["Also importable from here", "-" * 25, ""]
            lines += [f"- :py:obj:`{short} <{target}>`" for short, target in reexports]
            lines.append("")
        (folder / f"{name}.rst").write_text("\n".join(lines))
