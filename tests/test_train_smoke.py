"""Training smoke test: the chapter's 3-vs-7 simple_cnn learns a synthetic two-class
problem with plain SGD, and a seeded run repeats exactly."""

from __future__ import annotations

import numpy as np

from numbaconv import random as nc_random
from numbaconv.autograd import Tensor, no_grad
from numbaconv.nn import Conv2d, Flatten, ReLU, Sequential
from numbaconv.nn import functional as F


def conv(ni, nf, ks=3, act=True):
    layer = Conv2d(ni, nf, stride=2, kernel_size=ks, padding=ks // 2)
    return Sequential(layer, ReLU()) if act else layer


def simple_cnn():
    return Sequential(
        conv(1, 4), conv(4, 8), conv(8, 16), conv(16, 32), conv(32, 2, act=False), Flatten()
    )


def blob_images(n=128, seed=0):
    """Class 0: a bright 6x6 blob in the top half; class 1: in the bottom half; plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.normal(0.0, 0.1, size=(n, 1, 28, 28)).astype(np.float32)
    for i, label in enumerate(labels):
        row = rng.integers(1, 8) + (14 if label else 0)
        col = rng.integers(1, 21)
        images[i, 0, row : row + 6, col : col + 6] += 1.0
    # normalised as the chapter's Normalize does; raw inputs leave SGD on a long plateau
    return (images - images.mean()) / images.std(), labels


def accuracy(model, images, labels):
    with no_grad():
        return float((model(Tensor(images)).argmax(axis=1).data == labels).mean())


def train(seed, steps=40, lr=0.3, bs=32):
    nc_random.manual_seed(seed)
    model = simple_cnn()
    images, labels = blob_images()
    order = np.random.default_rng(seed).permutation(len(labels))
    initial_accuracy = accuracy(model, images, labels)
    losses = []
    for step in range(steps):
        batch = order[(step * bs) % len(labels) :][:bs]
        loss = F.cross_entropy(model(Tensor(images[batch])), labels[batch])
        model.zero_grad()
        loss.backward()
        with no_grad():
            for p in model.parameters():
                p.data -= lr * p.grad
        losses.append(loss.item())
    return losses, initial_accuracy, accuracy(model, images, labels)


def test_simple_cnn_learns_and_repeats_exactly():
    losses, initial_accuracy, final_accuracy = train(seed=3)
    # ln 2 = 0.693 is chance level for two classes
    assert np.mean(losses[:5]) > 0.6
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert initial_accuracy < 0.8
    assert final_accuracy > 0.95
    assert train(seed=3) == (losses, initial_accuracy, final_accuracy)
