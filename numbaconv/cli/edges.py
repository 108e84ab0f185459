"""``numbaconv edges``: fastbook chapter 13's hand-made edge kernels on a real MNIST '3'.

The digit and the four feature maps are printed as text (:func:`ascii_ink`,
:func:`ascii_signed`) and optionally saved as a PNG figure (:func:`save_edges_png`).
"""

from __future__ import annotations

import argparse

import numpy as np

from .common import _nonnegative_int

#: Fastbook chapter 13's hand-made 3x3 kernels, in the order of its ``edge_kernels`` stack.
EDGE_KERNELS = {
    "left_edge": ((-1, 1, 0), (-1, 1, 0), (-1, 1, 0)),
    "top_edge": ((-1, -1, -1), (0, 0, 0), (1, 1, 1)),
    "diag1_edge": ((0, -1, 1), (-1, 1, 0), (1, 0, 0)),
    "diag2_edge": ((1, -1, 0), (0, 1, -1), (0, 0, 1)),
}

# Ten grey levels from background to full ink; each pixel is printed twice so the picture keeps
# roughly its aspect ratio in a terminal, whose cells are about twice as tall as wide.
_INK_SHADES = " .:-=+*#%@"
# Signed maps: strong/weak negative, near zero, weak/strong positive, scaled by max |value|.
_SIGNED_SHADES = "=- +#"
_PNG_SCALE = 6


def edge_kernels() -> np.ndarray:
    """The four chapter-13 edge kernels as a conv2d weight.

    Returns
    -------
    ndarray of float32, shape (4, 1, 3, 3)
        ``left_edge``, ``top_edge``, ``diag1_edge``, ``diag2_edge`` (OIHW layout).
    """
    return np.array(list(EDGE_KERNELS.values()), dtype=np.float32)[:, None, :, :]


def ascii_ink(image: np.ndarray) -> list[str]:
    """Render a 2-D image with values in [0, 1] (1 = ink) as lines of text, darker = more ink."""
    levels = np.clip(np.rint(image * (len(_INK_SHADES) - 1)), 0, len(_INK_SHADES) - 1)
    return ["".join(_INK_SHADES[int(v)] * 2 for v in row) for row in levels]


def ascii_signed(feature_map: np.ndarray) -> list[str]:
    """Render a 2-D map of any sign as lines of text using :data:`_SIGNED_SHADES`.

    Values are scaled by the largest magnitude, so ``#``/``=`` mark the strongest positive and
    negative responses, ``+``/``-`` weaker ones and a blank values near zero.
    """
    half = len(_SIGNED_SHADES) // 2
    scale = float(np.max(np.abs(feature_map))) if feature_map.size else 0.0
    if not np.isfinite(scale) or scale == 0.0:
        scaled = np.zeros_like(feature_map, dtype=np.float64)
    else:
        scaled = feature_map / scale
    levels = np.clip(np.rint(scaled * half), -half, half) + half
    return ["".join(_SIGNED_SHADES[int(v)] * 2 for v in row) for row in levels]


def _add_edges_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "edges",
        help="apply chapter 13's four edge kernels to a real MNIST '3'",
        description=(
            "Apply fastbook chapter 13's edge kernels (left_edge, top_edge, diag1_edge, "
            "diag2_edge) with numbaconv.ops.conv2d to a '3' from the bundled MNIST sample "
            "(train split, pixels scaled to [0, 1]) and print the digit and the four "
            "26x26 feature maps as text."
        ),
    )
    parser.add_argument(
        "--index",
        type=_nonnegative_int,
        default=0,
        help="which '3' of the train split to use, counting from 0 (default: 0)",
    )
    parser.add_argument(
        "--output",
        metavar="PNG",
        help="also save the digit and the four maps as a PNG figure at this path",
    )
    parser.set_defaults(handler=_run_edges, parser=parser)


def _edges_report(index: int, count: int, x: np.ndarray, maps: np.ndarray) -> str:
    names = list(EDGE_KERNELS)
    lines = [
        "numbaconv edges: fastbook chapter 13's edge kernels on a real MNIST '3'",
        f"digit: '3' number {index} of {count} in the mnist_sample train split",
        f"input: {x.shape} {x.dtype}, pixels / 255 in [0, 1]",
        f"kernels: {', '.join(names)} as weight {edge_kernels().shape}",
        f"conv2d: {x.shape} -> {maps.shape}",
        "",
        f"input digit ({x.shape[2]}x{x.shape[3]}), darker = more ink:",
        *ascii_ink(x[0, 0]),
        "",
        "feature maps: '#' strong and '+' weak positive, '=' strong and '-' weak negative",
    ]
    for channel, name in enumerate(names):
        feature_map = maps[0, channel]
        lines += [
            "",
            f"{name} ({feature_map.shape[0]}x{feature_map.shape[1]}): "
            f"min {float(feature_map.min()):+.6f}  max {float(feature_map.max()):+.6f}",
            *ascii_signed(feature_map),
        ]
    return "\n".join(lines)


def _greys(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """uint8 grey levels as matplotlib's 'Greys' colormap draws them: low white, high black."""
    span = high - low
    scaled = (values - low) / span if span > 0 else np.zeros_like(values, dtype=np.float64)
    return np.rint(255.0 * (1.0 - np.clip(scaled, 0.0, 1.0))).astype(np.uint8)


def save_edges_png(path, x: np.ndarray, maps: np.ndarray) -> None:
    """Save the input digit and each feature map side by side as a greyscale PNG.

    Parameters
    ----------
    path : str or path-like
        Where to write; the file is PNG whatever its suffix.
    x : ndarray, shape (1, 1, H, W)
        The input, values in [0, 1]; drawn with ink dark.
    maps : ndarray, shape (1, C, h, w)
        Feature maps; each is drawn from its own minimum (white) to maximum (black), as the
        chapter's ``show_image`` does.
    """
    from PIL import Image, ImageDraw

    titles = ["input", *EDGE_KERNELS]
    panels = [_greys(x[0, 0], 0.0, 1.0)]
    panels += [_greys(m, float(m.min()), float(m.max())) for m in maps[0]]
    cell = x.shape[3] * _PNG_SCALE
    margin, title_height = 8, 14
    figure = Image.new(
        "L", (margin + len(panels) * (cell + margin), title_height + cell + 2 * margin), 255
    )
    draw = ImageDraw.Draw(figure)
    for position, (title, panel) in enumerate(zip(titles, panels, strict=True)):
        image = Image.fromarray(panel)
        image = image.resize(
            (panel.shape[1] * _PNG_SCALE, panel.shape[0] * _PNG_SCALE), Image.Resampling.NEAREST
        )
        left = margin + position * (cell + margin)
        # Center the smaller maps under their titles so the panels line up with the input.
        offset = (cell - image.width) // 2
        draw.text((left, margin // 2), title, fill=0)
        figure.paste(image, (left + offset, title_height + margin + offset))
    figure.save(path, format="PNG")


def _run_edges(args: argparse.Namespace) -> int:
    from ..datasets import MNIST_SAMPLE_VOCAB, mnist_sample

    images, labels = mnist_sample("train")
    threes = images[labels == MNIST_SAMPLE_VOCAB.index("3")]
    if args.index >= len(threes):
        args.parser.error(
            f"argument --index: {args.index} is out of range; the train split has "
            f"{len(threes)} threes, so expected 0..{len(threes) - 1}"
        )
    # Imported here so that `numbaconv --help` and argument errors need no kernels compiled.
    from ..ops import conv2d

    x = (threes[args.index].astype(np.float32) / np.float32(255.0))[None, None, :, :]
    maps = np.asarray(conv2d(x, edge_kernels()))
    print(_edges_report(args.index, len(threes), x, maps))
    if args.output is not None:
        try:
            save_edges_png(args.output, x, maps)
        except OSError as exc:
            args.parser.error(f"argument --output: cannot write {args.output!r}: {exc}")
        print(f"\nsaved figure to {args.output}")
    return 0
