"""Forward hooks as callbacks: :class:`HookCallback` and :class:`ActivationStats`.

``ActivationStats`` reproduces fastai's (``fastai/callback/hook.py``): for every leaf
module that has parameters it records, on every training batch, the mean, the
(unbiased) standard deviation, the fraction of activations ``<= 0.05`` and optionally a
40-bin histogram on [0, 10] of the module's *output*; :meth:`ActivationStats.plot_layer_stats`
and :meth:`ActivationStats.color_dim` draw them as chapter 13 shows. :func:`summary` (what
``Learner.summary()`` returns) hooks every leaf module for one forward pass to list its output
shape and parameters.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..autograd import Tensor, no_grad
from .core import Callback, _pyplot

__all__ = [
    "ActivationStats",
    "HookCallback",
    "LayerStats",
    "SummaryText",
    "leaf_modules_with_params",
    "summary",
]

#: Per-batch series of one layer, each a float64 array of shape (n_batches,).
LayerStats = namedtuple("LayerStats", ["mean", "std", "near_zero"])

HIST_BINS = 40
HIST_RANGE = (0.0, 10.0)
NEAR_ZERO = 0.05


def leaf_modules_with_params(model) -> list:
    """Modules of ``model`` without children that own at least one parameter, in order.

    fastai's ``[m for m in flatten_model(model) if has_params(m)]``: the Conv2d, Linear and
    BatchNorm2d layers, not ReLU or Flatten.
    """
    leaves = []
    for module in model.modules():
        if next(module.children(), None) is None and next(module.parameters(), None) is not None:
            leaves.append(module)
    return leaves


def _as_numpy(output) -> np.ndarray:
    data = getattr(output, "data", output)
    if not isinstance(data, np.ndarray) and callable(getattr(output, "numpy", None)):
        data = output.numpy()
    return np.asarray(data)


class HookCallback(Callback):
    """Registers a forward hook on modules at ``before_fit`` and removes it at the end.

    Subclasses define ``hook(module, inputs, output_array)`` returning what to store; the
    last result of each module is kept in ``self.stored`` (one entry per module). The hook
    only runs for training batches whose index (``learn.train_iter``, counted over the
    fit) is a multiple of ``every``.

    Parameters
    ----------
    modules : list of Module, optional
        Default: :func:`leaf_modules_with_params` of the Learner's model.
    every : int, optional
        Hook every ``every``-th training batch; default every batch.
    remove_end : bool, default True
        Remove the hooks when ``fit`` ends (also when it ends with an error).
    """

    def __init__(self, modules=None, every=None, remove_end=True):
        if every is not None and (
            isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1
        ):
            raise ValueError(f"every must be a positive integer or None, got {every!r}")
        self.modules = None if modules is None else list(modules)
        self._given_modules = self.modules
        self.every = None if every is None else int(every)
        self.remove_end = bool(remove_end)
        self._handles = []
        self.stored = []

    def _due(self) -> bool:
        learn = self.learn
        if not getattr(learn, "training", False) or not getattr(learn, "_in_fit", False):
            return False
        return self.every is None or learn.train_iter % self.every == 0

    def _make_hook(self, index):
        def hook(module, inputs, output):
            if self._due():
                self.stored[index] = self.hook(module, inputs, _as_numpy(output))

        return hook

    def hook(self, module, inputs, output):
        raise NotImplementedError

    def before_fit(self):
        self.remove_hooks()
        model = self.learn.model
        self.modules = (
            leaf_modules_with_params(model)
            if self._given_modules is None
            else list(self._given_modules)
        )
        self.stored = [None] * len(self.modules)
        self._handles = [
            m.register_forward_hook(self._make_hook(i)) for i, m in enumerate(self.modules)
        ]

    def after_fit(self):
        if self.remove_end:
            self.remove_hooks()

    def teardown(self):
        if self.remove_end:
            self.remove_hooks()

    def remove_hooks(self) -> None:
        """Unregister every hook this callback placed."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


class ActivationStats(HookCallback):
    """Statistics of each parameterised layer's output on every training batch (order −20).

    Per hooked module and training batch, on the output ``o`` (in float64):

    - ``mean = o.mean()``, ``std = o.std(ddof=1)`` (unbiased, as ``torch.std``);
    - ``near_zero = count(o <= 0.05) / o.size``, compared in the output's dtype as torch
      does (negative values count: a conv output is taken before its ReLU);
    - with ``with_hist``, ``hist``: counts in 40 equal bins on [0, 10], values outside
      dropped and 10 in the last bin (as ``torch.histc(o, 40, 0, 10)``).

    Parameters
    ----------
    with_hist : bool, default False
        Also record the histograms (needed by :meth:`hist` and :meth:`color_dim`).
    every : int, optional
        Record every ``every``-th training batch only.
    modules : list of Module, optional
        Default: every leaf module with parameters (Conv2d, Linear, BatchNorm2d).

    Attributes
    ----------
    stats : list of list of dict
        ``stats[batch][layer]`` holds ``"mean"``, ``"std"``, ``"near_zero"`` (floats) and,
        with ``with_hist``, ``"hist"`` (int64 array of shape (40,)).

    Examples
    --------
    >>> learn = Learner(dls, simple_cnn(), cbs=ActivationStats(with_hist=True))
    >>> learn.fit_one_cycle(1, 0.06)
    >>> learn.activation_stats.plot_layer_stats(-2).savefig("layer.png")
    """

    order = -20

    def __init__(self, with_hist=False, every=None, modules=None):
        super().__init__(modules=modules, every=every)
        self.with_hist = bool(with_hist)
        self.stats = []

    def hook(self, module, inputs, output):
        o = output.astype(np.float64, copy=False)
        # torch compares in the output's dtype: float32(0.05) is near zero, as in fastai.
        threshold = output.dtype.type(NEAR_ZERO) if output.dtype.kind == "f" else NEAR_ZERO
        result = {
            "mean": float(o.mean()) if o.size else np.nan,
            "std": float(o.std(ddof=1)) if o.size > 1 else np.nan,
            "near_zero": (
                float(np.count_nonzero(output <= threshold) / o.size) if o.size else np.nan
            ),
        }
        if self.with_hist:
            result["hist"] = np.histogram(o, bins=HIST_BINS, range=HIST_RANGE)[0].astype(np.int64)
        return result

    def before_fit(self):
        super().before_fit()
        self.stats = []

    def after_batch(self):
        if self._due():
            self.stats.append(list(self.stored))
            self.stored = [None] * len(self.modules)

    # -- reading the records
    def _layer(self, idx) -> list:
        if not self.stats:
            raise ValueError("no activation statistics recorded yet; fit the Learner first")
        if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)):
            raise TypeError(f"idx must be an integer layer index, got {idx!r}")
        n_layers = len(self.stats[0])
        if not -n_layers <= idx < n_layers:
            raise IndexError(
                f"idx {idx} is out of range: {n_layers} layers are hooked "
                f"(valid indices {-n_layers}..{n_layers - 1})"
            )
        return [batch[idx] for batch in self.stats]

    def layer_stats(self, idx) -> LayerStats:
        """The per-batch ``mean``, ``std`` and ``near_zero`` of hooked layer ``idx``.

        Parameters
        ----------
        idx : int
            Position among the hooked modules; negative counts from the end.

        Returns
        -------
        LayerStats
            Named tuple of three float64 arrays of shape (n_batches,).
        """
        records = self._layer(idx)
        return LayerStats(
            *(np.array([r[key] for r in records], np.float64) for key in LayerStats._fields)
        )

    def hist(self, idx) -> np.ndarray:
        """``log1p`` of the stacked histograms of layer ``idx``.

        Returns
        -------
        ndarray of float64, shape (40, n_batches)
            Column ``b`` is batch ``b``'s histogram; row 0 is the bin [0, 0.25).
        """
        records = self._layer(idx)
        if not self.with_hist:
            raise ValueError("histograms were not recorded: create ActivationStats(with_hist=True)")
        return np.log1p(np.stack([r["hist"] for r in records]).T.astype(np.float64))

    def plot_layer_stats(self, idx):
        """Three panels (mean, std, % near zero) against the training batch, 12×3 inches.

        Returns
        -------
        matplotlib.figure.Figure
        """
        stats = self.layer_stats(idx)
        plt = _pyplot()
        fig, axs = plt.subplots(1, 3, figsize=(12, 3))
        for series, ax, title in zip(stats, axs, ("mean", "std", "% near zero")):
            ax.plot(series)
            ax.set_title(title)
        return fig

    def color_dim(self, idx, figsize=(10, 5), ax=None):
        """The "colorful dimension": :meth:`hist` as an image, batches along x.

        Drawn with ``imshow(origin="lower")`` and the axis hidden, with matplotlib's default
        colormap (fastai passes none).

        Parameters
        ----------
        idx : int
        figsize : (float, float), default (10, 5)
        ax : matplotlib Axes, optional
            Draw here instead of on a new figure.

        Returns
        -------
        matplotlib.figure.Figure
        """
        image = self.hist(idx)
        if ax is None:
            plt = _pyplot()
            _, ax = plt.subplots(figsize=figsize)
        ax.imshow(image, origin="lower")
        ax.axis("off")
        return ax.figure


class SummaryText(str):
    """A str whose repr is itself, so ``learn.summary()`` displays as text in a REPL."""

    def __repr__(self) -> str:
        return str(self)


def _shape_text(shape, bs) -> str:
    # fastai's _print_shapes: the batch axis shows the real batch size.
    return " x ".join([str(bs)] + [str(d) for d in shape[1:]])


def _sample_batch(learn):
    train = learn.dls.train
    one_batch = getattr(train, "one_batch", None)
    if callable(one_batch):  # does not consume the loader's shuffling state
        return one_batch()
    for batch in train:
        return batch
    raise ValueError("dls.train yields no batch; summary() needs one")


def summary(learn) -> SummaryText:
    """``learn.summary()``: the layer table as fastai prints it (chapter 13 §2.3), then the
    optimizer, the loss function and the callbacks.

    One training batch's first item goes through the model in eval mode (no statistics
    or gradients change); shapes are shown with the batch's size.

    Returns
    -------
    SummaryText
        A str (displayed as text in a REPL; ``print`` it in a script).
    """
    x = _sample_batch(learn)[0]
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    bs = x.shape[0]
    leaves = [m for m in learn.model.modules() if next(m.children(), None) is None]
    rows = []

    def make_hook(module):
        def hook(mod, inputs, output):
            params = list(mod.parameters())
            n_params = int(sum(p.data.size for p in params))
            trainable = any(p.requires_grad for p in params)
            rows.append((type(mod).__name__, tuple(output.shape), n_params, trainable))

        return hook

    handles = [m.register_forward_hook(make_hook(m)) for m in leaves]
    was_training = learn.model.training
    try:
        learn.model.eval()
        with no_grad():
            learn.model(Tensor(x[:1]))
    finally:
        learn.model.train(was_training)
        for handle in handles:
            handle.remove()
    width = 64
    input_shape = [_shape_text(x.shape, bs)]
    lines = [
        f"{type(learn.model).__name__} (Input shape: {input_shape})",
        "=" * width,
        f"{'Layer (type)':<20} {'Output Shape':<20} {'Param #':<10} {'Trainable':<10}",
        "=" * width,
    ]
    total = trainable_total = 0
    for type_name, shape, n_params, trainable in rows:
        total += n_params
        trainable_total += n_params if trainable else 0
        lines.append(
            f"{type_name:<20} {_shape_text(shape, bs)[:19]:<20} {n_params:<10,} {trainable!s:<10}"
        )
        lines.append("_" * width)
    lines += [
        "",
        f"Total params: {total:,}",
        f"Total trainable params: {trainable_total:,}",
        f"Total non-trainable params: {total - trainable_total:,}",
        "",
        f"Optimizer used: {learn.opt_func}",
        f"Loss function: {learn.loss_func}",
        "",
        "Callbacks:",
    ]
    lines += [f"  - {cb}" for cb in learn._sorted_cbs()]
    return SummaryText("\n".join(lines))
