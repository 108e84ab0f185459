"""Resolve references to re-exported names (``numbaconv.Tensor``) to where they are documented.

The API reference documents each object once, in its home module (``api_pages``); docstrings and
pages may still name it by any public path (``numbaconv.Tensor``, ``numbaconv.learner.
NonFiniteLossError``) or by its defining private path (``numbaconv.callbacks.hook.
ActivationStats``). This Sphinx extension maps those aliases to the documented name when the
normal lookup fails, so such references link instead of failing the nitpicky build.
"""

from __future__ import annotations

import importlib
import inspect

from api_pages import MODULES, _collect


def _aliases() -> dict[str, str]:
    pages = _collect()
    aliases: dict[str, str] = {}
    documented: dict[int, str] = {}
    for module_name, _, _ in MODULES:
        module = importlib.import_module(module_name)
        for name in pages[module_name]["own"]:
            obj = getattr(module, name)
            documented[id(obj)] = f"{module_name}.{name}"
            origin = getattr(obj, "__module__", None)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and origin:
                aliases[f"{origin}.{obj.__qualname__}"] = f"{module_name}.{name}"
    for module_name, _, _ in MODULES:
        for short, target in pages[module_name]["reexports"]:
            aliases[f"{module_name}.{short}"] = target
    return aliases


def _resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    module = node.get("py:module") or ""
    cls = node.get("py:class") or ""
    aliases = app.env.numbaconv_aliases
    candidates = [target]
    if module:
        candidates.append(f"{module}.{target}")
        if cls:
            candidates.append(f"{module}.{cls}.{target}")
    domain = env.get_domain("py")
    for candidate in candidates:
        head, _, attr = candidate.rpartition(".")
        # An alias of the object itself, or of the class that owns a method.
        for alias, suffix in ((candidate, ""), (head, f".{attr}" if attr else "")):
            if alias in aliases:
                new = node.deepcopy()
                new["reftarget"] = aliases[alias] + suffix
                resolved = domain.resolve_xref(
                    env,
                    node["refdoc"],
                    app.builder,
                    node["reftype"],
                    aliases[alias] + suffix,
                    new,
                    contnode,
                )
                if resolved is not None:
                    return resolved
    return None


def _setup_aliases(app):
    app.env.numbaconv_aliases = _aliases()


def setup(app):
    app.connect("builder-inited", _setup_aliases)
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
