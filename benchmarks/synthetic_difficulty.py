"""Difficulty probe of the synthetic benchmark: how well cheap classifiers do.

``python benchmarks/synthetic_difficulty.py [--seed S] [--samples-per-class N] [--noise σ]``
generates a set and prints the cross-performer accuracy of a nearest-class-mean
and a logistic-regression classifier on the flattened sequences, and the
smallest distance between two class means (docs/SYNTHETIC.md, "Difficulty").
"""
from __future__ import annotations

import argparse
import time
from typing import Sequence

import numpy as np

from pgfa.data.skeletons import SkeletonSet
from pgfa.data.synthetic import DEFAULT_NOISE, generate



def difficulty_proxy(dataset: SkeletonSet, l2: float = 1e-3) -> dict[str, float]:
    """Cross-performer accuracy of two cheap classifiers on flattened sequences.

    Why: the benchmark must be hard enough that model quality shows. If a
    nearest-class-mean or a linear classifier on raw coordinates were near
    100 %, every method would be too. Both are trained on the ``train``
    subset (all classes, supervised) and scored on ``test``.

    Returns ``{"ncm": ..., "logreg": ..., "min_mean_distance": ...}``, the
    last being the smallest distance between two class-mean sequences.
    """
    import torch

    x = dataset.data.reshape(len(dataset), -1).astype(np.float64)
    y = dataset.labels
    tr, te = dataset.subsets["train"], dataset.subsets["test"]
    classes = np.unique(y)
    means = np.stack([x[tr][y[tr] == c].mean(axis=0) for c in classes])
    d2 = (x[te] ** 2).sum(1)[:, None] - 2.0 * x[te] @ means.T + (means**2).sum(1)[None]
    ncm = float((classes[d2.argmin(1)] == y[te]).mean())
    dist = np.sqrt(((means[:, None] - means[None]) ** 2).sum(-1))
    min_dist = float(dist[~np.eye(len(classes), dtype=bool)].min()) if len(classes) > 1 else 0.0

    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-3
    xa = torch.tensor((x[tr] - mu) / sd, dtype=torch.float32)
    xb = torch.tensor((x[te] - mu) / sd, dtype=torch.float32)
    ya = torch.tensor(np.searchsorted(classes, y[tr]))
    gen = torch.Generator().manual_seed(0)
    weight = torch.zeros(xa.shape[1], len(classes), requires_grad=True)
    bias = torch.zeros(len(classes), requires_grad=True)
    with torch.no_grad():
        weight.normal_(0.0, 0.01, generator=gen)
    opt = torch.optim.LBFGS([weight, bias], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xa @ weight + bias, ya) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = classes[(xb @ weight + bias).argmax(1).numpy()]
    return {"ncm": ncm, "logreg": float((pred == y[te]).mean()), "min_mean_distance": min_dist}


def _main(argv: Sequence[str] | None = None) -> None:
    """Generate a synthetic set and print the difficulty proxies."""
    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("--samples-per-class", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-performers", type=int, default=10)
    parser.add_argument("--noise", type=float, default=DEFAULT_NOISE)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    dataset = generate(
        samples_per_class=args.samples_per_class, seed=args.seed,
        num_performers=args.num_performers, noise=args.noise,
    )
    elapsed = time.perf_counter() - start
    print(f"{dataset.source}: {len(dataset)} samples, {dataset.num_classes} classes, {elapsed:.2f} s")
    print(f"train {len(dataset.subsets['train'])} / test {len(dataset.subsets['test'])} samples (cross-performer)")
    proxy = difficulty_proxy(dataset)
    print(
        f"nearest class mean {proxy['ncm']:.3f}  logistic regression {proxy['logreg']:.3f}  "
        f"min class-mean distance {proxy['min_mean_distance']:.2f}"
    )


if __name__ == "__main__":
    _main()
