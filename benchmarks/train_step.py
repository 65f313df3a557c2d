"""Training-step and inference throughput: fast ST-GCN vs the textbook one.

Why this exists: the fast backbone (:mod:`pgfa.models.stgcn`) is only worth
its complexity if it is both *equal* to the reference (checked first, in
evaluation mode and in training mode without dropout) and *faster* on the
machine at hand. The CPU is shared with other jobs, so absolute figures are
noisy: the two models are timed in alternation within one run, and the
median over several steps is reported.

What a step is: ST-GCN + projection 256 -> 768, a batch of random
``(N, 3, 50, 25, 2)`` input, the contrastive loss of SPEC section 6 against
random unit text features of random labels among 40 classes, backward, and
an SGD step (momentum 0.9, weight decay 5e-4).

Under heavy load from other processes the figures are not meaningful: both
models slow down, the fast one more (it issues more, smaller operations, and
each waits for a descheduled OpenMP thread); ``--threads 1`` is more robust
then.

By default the glibc allocator is tuned first (:func:`pgfa.models.stgcn.tune_cpu_allocator`),
which speeds up *both* models; ``--no-malloc-tune`` measures without it.

The last line printed is ``train_samples_per_s=X eval_samples_per_s=Y`` for
the fast model.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pgfa.models.model import ZeroShotModel  # noqa: E402
from pgfa.models.stgcn import STGCN, tune_cpu_allocator  # noqa: E402
from pgfa.models.stgcn_reference import ReferenceSTGCN  # noqa: E402
from pgfa.training.loss import soft_target_contrastive_loss  # noqa: E402

TEXT_DIM = 768
NUM_CLASSES = 40


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=128, help="samples per step (default 128)")
    p.add_argument("--steps", type=int, default=4, help="timed training steps per model (default 4)")
    p.add_argument("--warmup", type=int, default=1, help="untimed training steps per model (default 1)")
    p.add_argument("--eval-steps", type=int, default=3, help="timed inference batches per model")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--frames", type=int, default=50, help="T of the input (default 50)")
    p.add_argument("--no-malloc-tune", action="store_true", help="leave glibc's allocator as it is")
    p.add_argument("--skip-reference", action="store_true", help="time the fast model only")
    return p.parse_args(argv)


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def check_equal(fast: ZeroShotModel, ref: ZeroShotModel, x: torch.Tensor) -> dict[str, float]:
    """Max abs output difference in eval mode and in train mode without dropout.

    Works on copies so that the train-mode check does not move the timed
    models' BatchNorm running statistics.
    """
    fast, ref = copy.deepcopy(fast), copy.deepcopy(ref)
    out = {}
    with torch.no_grad():
        fast.eval(), ref.eval()
        out["eval"] = max_abs_diff(fast(x), ref(x))
        for model in (fast, ref):
            model.train()
            for m in model.modules():
                if isinstance(m, torch.nn.Dropout):
                    m.p = 0.0
        small = x[: min(16, len(x))]
        out["train_no_dropout"] = max_abs_diff(fast(small), ref(small))
    return out


def make_step(model: ZeroShotModel, x, labels, text):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step() -> float:
        model.train()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = soft_target_contrastive_loss(model(x), text[labels], labels)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    return step


def make_eval(model: ZeroShotModel, x):
    def run() -> float:
        model.eval()
        t0 = time.perf_counter()
        with torch.no_grad():
            model(x)
        return time.perf_counter() - t0

    return run


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tuned = False if args.no_malloc_tune else tune_cpu_allocator()
    torch.manual_seed(0)

    fast = ZeroShotModel(STGCN("ntu25"), TEXT_DIM)
    ref = ZeroShotModel(ReferenceSTGCN("ntu25"), TEXT_DIM)
    ref.load_state_dict(fast.state_dict())

    x = torch.randn(args.batch, 3, args.frames, 25, 2)
    labels = torch.randint(0, NUM_CLASSES, (args.batch,))
    text = F.normalize(torch.randn(NUM_CLASSES, TEXT_DIM), dim=-1)

    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
        f"input (3, {args.frames}, 25, 2), allocator tuned: {tuned}"
    )
    diffs = check_equal(fast, ref, x)
    print(
        f"max abs diff fast vs reference: eval {diffs['eval']:.2e}, "
        f"train (dropout 0) {diffs['train_no_dropout']:.2e}"
    )

    models = {"fast": fast} if args.skip_reference else {"reference": ref, "fast": fast}
    steps = {name: make_step(m, x, labels, text) for name, m in models.items()}
    evals = {name: make_eval(m, x) for name, m in models.items()}
    train_t = {name: [] for name in models}
    eval_t = {name: [] for name in models}
    # Alternate the models so that load from other jobs hits both alike.
    for i in range(args.warmup + args.steps):
        for name, step in steps.items():
            t = step()
            if i >= args.warmup:
                train_t[name].append(t)
    for i in range(1 + args.eval_steps):
        for name, run in evals.items():
            t = run()
            if i >= 1:
                eval_t[name].append(t)

    rate = {
        name: (
            args.batch / statistics.median(train_t[name]),
            args.batch / statistics.median(eval_t[name]),
        )
        for name in models
    }
    print(f"{'samples/s (median)':<20}{'reference':>12}{'fast':>10}{'ratio':>8}")
    for col, label in ((0, "train step"), (1, "eval (no_grad)")):
        f = rate["fast"][col]
        if "reference" in rate:
            r = rate["reference"][col]
            print(f"{label:<20}{r:>12.1f}{f:>10.1f}{f / r:>8.2f}")
        else:
            print(f"{label:<20}{'-':>12}{f:>10.1f}{'-':>8}")
    print(f"train_samples_per_s={rate['fast'][0]:.1f} eval_samples_per_s={rate['fast'][1]:.1f}")


if __name__ == "__main__":
    main()
