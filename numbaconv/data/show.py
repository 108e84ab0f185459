"""Draw images and batches with matplotlib, as fastai's ``show_image`` and ``show_batch``.

matplotlib is optional (the ``plot`` extra) and imported only when something is drawn.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._validate import describe as _describe

__all__ = ["show_batch", "show_image"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            'drawing images needs matplotlib, which is not installed: pip install "numbaconv[plot]"'
        ) from exc
    return plt


def _to_numpy(value) -> np.ndarray:
    if not isinstance(value, np.ndarray) and callable(getattr(value, "numpy", None)):
        value = value.numpy()  # numbaconv Tensors and the like
    return np.asarray(value)


def _image_for_imshow(name: str, im) -> np.ndarray:
    """(H, W) or (H, W, 3) from (H, W), (1, H, W), (3, H, W), (H, W, 1) or (H, W, 3)."""
    arr = _to_numpy(im)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    elif arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got {_describe(arr)}")
    if arr.ndim == 3:
        # Channels first wins when both ends could be channels: NCHW is numbaconv's layout.
        if arr.shape[0] in (1, 3):
            arr = arr.transpose(1, 2, 0)
        elif arr.shape[-1] not in (1, 3):
            raise ValueError(
                f"{name} must have shape (H, W), (1, H, W), (3, H, W), (H, W, 1) or (H, W, 3), "
                f"got {_describe(arr)}"
            )
        if arr.shape[-1] == 1:
            arr = arr[..., 0]
    elif arr.ndim != 2:
        raise ValueError(
            f"{name} must have shape (H, W), (1, H, W), (3, H, W), (H, W, 1) or (H, W, 3), "
            f"got {_describe(arr)}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: {_describe(arr)}")
    return arr


def _fig_bound(pixels: int) -> int:
    # fastai's _fig_bounds: one inch per 32 pixels, between 1 and 5 inches.
    return min(5, max(1, pixels // 32))


def show_image(im, ax=None, figsize=None, title=None, cmap="Greys", **kwargs):
    """Show one image on a matplotlib Axes, axis lines hidden, as fastai's ``show_image``.

    Parameters
    ----------
    im : array_like
        Shape (H, W), (1, H, W), (3, H, W), (H, W, 1) or (H, W, 3) (a 3-D array whose first
        axis is 1 or 3 is taken as channels first); uint8, integer, bool or float. RGB floats
        should lie in [0, 1] and RGB integers in 0..255, as matplotlib expects.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    figsize : (float, float), optional
        Size in inches of the new figure; default one inch per 32 pixels, between 1 and 5 per
        side (fastai's rule: a 28x28 digit gets 1x1 inch, 72x72 pixels at 72 dpi).
    title : str, optional
    cmap : str or Colormap
        Colour map for single-channel images (fastai's ``"Greys"``: 0 is white). Ignored for
        RGB.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow` (e.g. ``vmin``, ``vmax``). Without
        ``vmin``/``vmax`` a single-channel image is scaled from its own minimum to its maximum,
        so signed maps such as edge-detector outputs show their full range.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ImportError
        If matplotlib is not installed (``pip install "numbaconv[plot]"``).
    TypeError, ValueError
        If ``im`` is not a real-valued array of one of the shapes above.
    """
    arr = _image_for_imshow("im", im)
    plt = _pyplot()
    if ax is None:
        if figsize is None:
            figsize = (_fig_bound(arr.shape[1]), _fig_bound(arr.shape[0]))
        _, ax = plt.subplots(figsize=figsize)
    if arr.ndim == 2:
        kwargs.setdefault("cmap", cmap)
    ax.imshow(arr, **kwargs)
    if title is not None:
        ax.set_title(title)
    ax.axis("off")
    return ax


def _batch_from(source):
    """(images, labels, vocab) from DataLoaders, a DataLoader or an (images, labels) pair."""
    from .loader import DataLoader, DataLoaders

    if isinstance(source, DataLoaders):
        vocab, source = source.vocab, source.train
    else:
        vocab = None
    if isinstance(source, DataLoader):
        x, y = source.one_batch()
        if source.normalize is not None:
            # Decoding rounds a few pixels just outside [0, 1]; matplotlib warns on RGB then.
            x = np.clip(_to_numpy(source.normalize.decode(x)), 0.0, 1.0)
        return x, y, vocab if vocab is not None else source.vocab
    if isinstance(source, (tuple, list)) and len(source) == 2:
        images, labels = _to_numpy(source[0]), source[1]
        if images.ndim not in (3, 4):
            raise ValueError(
                "the images of dls_or_arrays must have shape (N, H, W), (N, C, H, W) or "
                f"(N, H, W, C), got {_describe(images)}"
            )
        if labels is not None:
            labels = _to_numpy(labels)
            if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
                raise ValueError(
                    f"the labels of dls_or_arrays must have shape ({images.shape[0]},), got "
                    f"{_describe(labels)}"
                )
        return images, labels, None
    raise TypeError(
        "dls_or_arrays must be DataLoaders, a DataLoader or an (images, labels) pair, got "
        f"{_describe(source)}"
    )


def _positive_int(name: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {_describe(value)}")
    return int(value)


def show_batch(dls_or_arrays, max_n=9, nrows=None, ncols=None, figsize=(4, 4), vocab=None):
    """Show a grid of images titled with their labels, as fastai's ``dls.show_batch``.

    Parameters
    ----------
    dls_or_arrays : DataLoaders, DataLoader or (images, labels)
        DataLoaders show their training loader's :meth:`~DataLoader.one_batch` (as fastai),
        with :class:`Normalize` undone. Arrays: images of shape (N, H, W), (N, C, H, W) or
        (N, H, W, C) as :func:`show_image` takes them, labels of shape (N,) or None (no
        titles).
    max_n : int
        At most this many images (the first ones).
    nrows, ncols : int, optional
        Grid shape; default ``nrows = int(sqrt(n))`` and ``ncols = ceil(n / nrows)``, fastai's
        ``get_grid`` rule. Unused cells are removed.
    figsize : (float, float)
        Figure size in inches (fastai's chapter uses (4, 4): 288x288 pixels at 72 dpi).
    vocab : sequence of str, optional
        Class names for the titles; default the loaders' vocab, else the label numbers.

    Returns
    -------
    list of matplotlib.axes.Axes
        One per image shown, in order; ``axes[0].figure`` is the figure.

    Raises
    ------
    ImportError
        If matplotlib is not installed (``pip install "numbaconv[plot]"``).
    TypeError, ValueError
        Bad arguments, an empty batch, or a grid with fewer cells than images.
    """
    max_n = _positive_int("max_n", max_n)
    nrows = _positive_int("nrows", nrows, allow_none=True)
    ncols = _positive_int("ncols", ncols, allow_none=True)
    images, labels, default_vocab = _batch_from(dls_or_arrays)
    vocab = default_vocab if vocab is None else tuple(vocab)
    n = min(max_n, images.shape[0])
    if n == 0:
        raise ValueError("dls_or_arrays holds no image to show")
    nrows = nrows or max(1, int(math.sqrt(n)))
    ncols = ncols or math.ceil(n / nrows)
    if nrows * ncols < n:
        raise ValueError(f"a grid of nrows={nrows} x ncols={ncols} cannot hold {n} images")
    plt = _pyplot()
    fig, grid = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    cells = list(grid.ravel())
    for ax in cells[n:]:
        fig.delaxes(ax)
    axes = cells[:n]
    for i, ax in enumerate(axes):
        title = None
        if labels is not None:
            label = labels[i].item() if hasattr(labels[i], "item") else labels[i]
            in_vocab = vocab is not None and isinstance(label, numbers.Integral)
            title = vocab[label] if in_vocab and 0 <= label < len(vocab) else str(label)
        show_image(images[i], ax=ax, title=title)
    return axes
