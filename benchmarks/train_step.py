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

By default the glibc allocator is tuned first on CPU (:func:`pgfa.runtime.tune_cpu_allocator`),
which speeds up *both* models; ``--no-malloc-tune`` measures without it.

The line before last gives the peak memory: the process's maximum resident
set on CPU (``resource.getrusage``; both models together), or
``torch.cuda.max_memory_allocated`` per model on CUDA. The last line printed
is ``train_samples_per_s=X eval_samples_per_s=Y`` for the fast model.

For a GPU: ``--device cuda`` (the equality check runs there too), ``--amp``
(autocast to bfloat16 where supported, else float16 with a gradient scaler;
the loss stays float32, as in training; ignored on CPU, as in training) and
``--compile`` (``torch.compile`` of the timed models; the warm-up steps
compile, so give ``--warmup 2`` or more).

``--backbone shiftgcn`` times the Shift-GCN backbone alone (it has no
textbook twin to compare with, so the equality check and the reference
column are skipped); its input is resampled to 64 frames inside the model.
"""
from __future__ import annotations

import argparse
import copy
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pgfa.models.model import BACKBONES, ZeroShotModel  # noqa: E402
from pgfa.models.stgcn import STGCN  # noqa: E402
from pgfa.runtime import tune_cpu_allocator  # noqa: E402
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
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1 ...")
    p.add_argument("--amp", action="store_true", help="autocast (CUDA: bfloat16, else float16 + scaler; CPU: bfloat16)")
    p.add_argument("--compile", action="store_true", help="torch.compile the timed models")
    p.add_argument(
        "--backbone",
        choices=sorted(n for n in BACKBONES if n != "identity"),  # identity takes features, not skeletons
        default="stgcn",
        help="backbone to time (default stgcn; others are timed alone, without a reference)",
    )
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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(model: ZeroShotModel, x, labels, text, amp_dtype: torch.dtype | None = None):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    scaler = torch.amp.GradScaler(x.device.type, enabled=amp_dtype == torch.float16)

    def step() -> float:
        model.train()
        _sync(x.device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            features = model(x)
        loss = soft_target_contrastive_loss(features.float(), text[labels], labels)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        _sync(x.device)
        return time.perf_counter() - t0

    return step


def make_eval(model: ZeroShotModel, x, amp_dtype: torch.dtype | None = None):
    def run() -> float:
        model.eval()
        _sync(x.device)
        t0 = time.perf_counter()
        with torch.no_grad(), torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            model(x)
        _sync(x.device)
        return time.perf_counter() - t0

    return run


def amp_dtype_for(device: torch.device, amp: bool) -> torch.dtype | None:
    """The training loop's rule: bfloat16 where supported, else float16; nothing on CPU."""
    if not amp:
        return None
    if device.type != "cuda":
        # The fused ST-GCN Functions run float32 under autocast (tests/test_amp.py); the convolutions
        # between them in bfloat16. The training loop itself still ignores --amp on CPU.
        print("--amp on CPU: bfloat16 autocast (the training loop ignores --amp on CPU)")
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def peak_memory_line(device: torch.device, cuda_peaks: dict[str, int]) -> str:
    if device.type == "cuda":
        return "peak memory (torch.cuda.max_memory_allocated, one step): " + ", ".join(
            f"{name} {peak / 2**20:.0f} MiB" for name, peak in cuda_peaks.items())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return f"peak memory (max RSS of the process, all models): {rss / 1024:.0f} MiB"


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tuned = False if args.no_malloc_tune or device.type != "cpu" else tune_cpu_allocator()
    torch.manual_seed(0)
    amp_dtype = amp_dtype_for(device, args.amp)

    has_reference = args.backbone == "stgcn"  # the only backbone with a textbook twin
    if has_reference:
        fast = ZeroShotModel(STGCN("ntu25"), TEXT_DIM)
    else:
        fast = ZeroShotModel(BACKBONES[args.backbone]("ntu25"), TEXT_DIM)
    if has_reference:
        ref = ZeroShotModel(ReferenceSTGCN("ntu25"), TEXT_DIM)
        ref.load_state_dict(fast.state_dict())

    x = torch.randn(args.batch, 3, args.frames, 25, 2)
    labels = torch.randint(0, NUM_CLASSES, (args.batch,))
    text = F.normalize(torch.randn(NUM_CLASSES, TEXT_DIM), dim=-1)
    x, labels, text = x.to(device), labels.to(device), text.to(device)
    fast.to(device)
    if has_reference:
        ref.to(device)

    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
        f"backbone {args.backbone}, input (3, {args.frames}, 25, 2), allocator tuned: {tuned}, "
        f"device {device}, amp {str(amp_dtype).removeprefix('torch.') if amp_dtype else 'off'}, "
        f"compile {args.compile}"
    )
    if has_reference:
        diffs = check_equal(fast, ref, x)
        print(
            f"max abs diff fast vs reference: eval {diffs['eval']:.2e}, "
            f"train (dropout 0) {diffs['train_no_dropout']:.2e}"
        )

    if has_reference and not args.skip_reference:
        models = {"reference": ref, "fast": fast}
    else:
        models = {"fast": fast}
    if args.compile:
        models = {name: torch.compile(m) for name, m in models.items()}
    steps = {name: make_step(m, x, labels, text, amp_dtype) for name, m in models.items()}
    evals = {name: make_eval(m, x, amp_dtype) for name, m in models.items()}
    cuda_peaks = {name: 0 for name in models}
    train_t = {name: [] for name in models}
    eval_t = {name: [] for name in models}
    # Alternate the models so that load from other jobs hits both alike.
    for i in range(args.warmup + args.steps):
        for name, step in steps.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            t = step()
            if device.type == "cuda":
                cuda_peaks[name] = max(cuda_peaks[name], torch.cuda.max_memory_allocated(device))
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
    print(peak_memory_line(device, cuda_peaks))
    print(f"train_samples_per_s={rate['fast'][0]:.1f} eval_samples_per_s={rate['fast'][1]:.1f}")


if __name__ == "__main__":
    main()
