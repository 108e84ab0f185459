"""Train the chapter's 10-class batch-norm CNN in numbaconv and in PyTorch from the same
initial weights on the same batches, and print both losses step by step.

fastai's Adam (mom 0.9, sqr_mom 0.99, eps 1e-5, decoupled weight decay 0.01 on the conv
weights only) is PyTorch's AdamW with betas (0.9, 0.99), eps 1e-5 and weight decay 0.01 on
the same parameters, so the two runs should agree to float32 rounding.

PyTorch is a benchmark-only dependency (``pip install torch==2.13.0`` gives the CPU build)::

    python scripts/compare_training_with_pytorch.py --steps 8 --bs 128
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import numbaconv
from numbaconv import datasets, models, optim
from numbaconv.nn import BatchNorm2d
from numbaconv.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_train import _torch_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--bs", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    images, labels = datasets.mnist("train")
    x_all = images[:, None].astype(np.float32) / 255

    ours = models.simple_cnn(bn=True, seed=args.seed)
    theirs = _torch_model(torch, "10bn")
    # Both state dicts list the same tensors in the same order (Sequential indices).
    state = theirs.state_dict()
    for (name, value), (torch_name, torch_value) in zip(
        ours.state_dict().items(), state.items(), strict=True
    ):
        if tuple(value.shape) != tuple(torch_value.shape):
            raise SystemExit(f"layout differs: {name} {value.shape} vs {torch_name}")
        torch_value.copy_(torch.from_numpy(np.asarray(value)).to(torch_value.dtype))

    named = [
        (f"{module_name}.{name}", param, isinstance(module, BatchNorm2d))
        for module_name, module in ours.named_modules()
        for name, param in module.named_parameters(recurse=False)
    ]
    opt = optim.Adam(optim.split_bn_bias(named), lr=args.lr)
    conv_weights = [p for n, p in theirs.named_parameters() if n.endswith("weight") and p.ndim == 4]
    others = [p for n, p in theirs.named_parameters() if not (n.endswith("weight") and p.ndim == 4)]
    torch_opt = torch.optim.AdamW(
        [{"params": conv_weights, "weight_decay": 0.01}, {"params": others, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.99),
        eps=1e-5,
    )

    rng = np.random.default_rng(args.seed)
    print(f"{'step':>4}  {'numbaconv':>10}  {'pytorch':>10}  {'|diff|':>8}")
    worst = 0.0
    for step in range(args.steps):
        idx = rng.choice(len(labels), args.bs, replace=False)
        x, y = x_all[idx], labels[idx].astype(np.int64)
        loss = F.cross_entropy(ours(numbaconv.Tensor(x)), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        torch_loss = torch.nn.functional.cross_entropy(
            theirs(torch.from_numpy(x)), torch.from_numpy(y)
        )
        torch_loss.backward()
        torch_opt.step()
        torch_opt.zero_grad()
        diff = abs(loss.item() - torch_loss.item())
        worst = max(worst, diff)
        print(f"{step:>4}  {loss.item():>10.6f}  {torch_loss.item():>10.6f}  {diff:>8.1e}")
    print(f"largest difference: {worst:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
