"""The figures of issue 16 on one GPU, in one run: see ``benchmarks/gpu_check.sh`` (the entry point).

Sections, cheapest first, each bounded by a share of a global deadline (``--budget`` seconds, default
450) so the whole check ends in time even when something is slow; whatever a section could not do is
reported as skipped with the reason, never silently left out:

1. train samples/s, batch 128 of ``(3, 50, 25, 2)``: ST-GCN + projection to 384 + the SPEC loss + SGD
   step, for each implementation (``fast``, ``plain``) x float32 / bfloat16 autocast x eager /
   ``torch.compile``, and Shift-GCN eager; peak GPU memory of each row;
2. inference sequences/s (eval mode, batch 1024) for each implementation and precision;
3. GPU-vs-CPU output difference: the same weights and input on the CPU (fast implementation, the
   reference of the CPU tests) and on the GPU (each implementation) in float32 with TF32 off, eval and
   training mode;
4. a one-process ``torchrun`` smoke run over NCCL (``benchmarks/gpu_nccl_smoke.py``);
5. ``pgfa train`` on an NTU-60-size prepared folder (56,880 random clips from ``benchmarks/scale.py``;
   setting A: 5 unseen classes, ~37k seen-train clips, seen-class validation every epoch) for as many
   epochs as fit, then ``pgfa evaluate``; time per epoch and the 50-epoch wall time *extrapolated*.

``--dry-run`` does all of it on the CPU at tiny sizes (rows that need CUDA or take minutes on a CPU are
reported as skipped) so the script itself is tested without a GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pgfa.models.model import build_model  # noqa: E402
from pgfa.training.loss import soft_target_contrastive_loss  # noqa: E402

TEXT_DIM = 384


class Clock:
    """The global deadline and each section's share of it."""

    def __init__(self, budget: float):
        self.start = time.perf_counter()
        self.budget = budget

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.budget - self.elapsed()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(backbone: str, impl: str, device: torch.device, dry: bool):
    options = {"channels": (16, 32), "strides": (1, 2)} if dry else {}
    torch.manual_seed(0)
    return build_model(backbone, "ntu25", TEXT_DIM, dropout=0.5, options=options, impl=impl, device=device).to(device)


def train_rate(backbone, impl, dtype, compiled, device, size, steps) -> dict:
    """Samples/s of full training steps (after warm-up) and the peak GPU memory of the row."""
    batch, frames = size
    module = _model(backbone, impl, device, batch < 64)
    model = torch.compile(module) if compiled else module
    opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(batch, 3, frames, 25, 2, generator=g).to(device)
    labels = torch.randint(0, 55, (batch,), generator=g).to(device)
    text = torch.nn.functional.normalize(torch.randn(55, TEXT_DIM, generator=g), dim=1).to(device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
            features = model(x)
        loss = soft_target_contrastive_loss(features.float(), text[labels], labels, scale=1 / 0.07)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(3):
        step()
    _sync(device)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    _sync(device)
    seconds = time.perf_counter() - start
    row = {"samples_per_s": round(steps * batch / seconds, 1), "warmup_s": round(warm, 2),
           "loss_finite": bool(torch.isfinite(loss).item())}
    if device.type == "cuda":
        row["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 3)
    return row


def infer_rate(impl, dtype, device, size, steps) -> dict:
    batch, frames = size
    model = _model("stgcn", impl, device, batch < 64).eval()
    x = torch.randn(batch, 3, frames, 25, 2, device=device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
        for _ in range(2):
            model(x)
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        _sync(device)
    return {"sequences_per_s": round(steps * batch / (time.perf_counter() - start), 1)}


def section_train(args, device, clock, out) -> None:
    size = (4, 20) if args.dry_run else (128, 50)
    steps = 1 if args.dry_run else 20
    rows = [(b, i, d, c) for c in (False, True) for b, i in (("stgcn", "plain"), ("stgcn", "fast"), ("shiftgcn", "-"))
            for d in ("fp32", "bf16") if not (c and b == "shiftgcn")]
    compile_deadline = clock.elapsed() + args.compile_budget
    for backbone, impl, dtype, compiled in rows:
        key = f"{backbone}/{impl}/{dtype}/{'compiled' if compiled else 'eager'}"
        if compiled and args.dry_run:
            out["train"][key] = {"skipped": "dry run: torch.compile takes minutes on a CPU"}
        elif compiled and clock.elapsed() > compile_deadline:
            out["train"][key] = {"skipped": f"compile budget ({args.compile_budget} s) used up"}
        elif clock.left() < args.reserve:
            out["train"][key] = {"skipped": "global time budget"}
        else:
            try:
                out["train"][key] = train_rate(backbone, "auto" if impl == "-" else impl, dtype, compiled,
                                               device, size, steps)
            except Exception as err:  # a failing row is a finding, not the end of the check
                out["train"][key] = {"failed": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
            if device.type == "cuda":
                torch.cuda.empty_cache()
        print(f"  train {key}: {out['train'][key]}", flush=True)


def section_infer(args, device, clock, out) -> None:
    size = (8, 20) if args.dry_run else (1024, 50)
    for impl in ("plain", "fast"):
        for dtype in ("fp32", "bf16"):
            key = f"stgcn/{impl}/{dtype}/eager"
            try:
                out["inference"][key] = infer_rate(impl, dtype, device, size, 3 if args.dry_run else 10)
            except Exception as err:
                out["inference"][key] = {"failed": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
            print(f"  inference {key}: {out['inference'][key]}", flush=True)


def section_difference(args, device, out) -> None:
    """Max |GPU - CPU| of the projected features, float32, TF32 off (eval and train mode, dropout 0)."""
    if device.type != "cuda":
        out["difference"] = {"skipped": "needs CUDA (compares the GPU with this CPU)"}
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    cpu = build_model("stgcn", "ntu25", TEXT_DIM, dropout=0.0, impl="fast")
    x = torch.randn(8, 3, 50, 25, 2)
    for mode in ("eval", "train"):
        cpu.train(mode == "train")
        with torch.no_grad():
            ref = cpu(x)
        for impl in ("plain", "fast"):
            gpu = build_model("stgcn", "ntu25", TEXT_DIM, dropout=0.0, impl=impl)
            gpu.load_state_dict(cpu.state_dict())
            gpu = gpu.to(device).train(mode == "train")
            with torch.no_grad():
                diff = (gpu(x.to(device)).cpu() - ref).abs().max().item()
            out["difference"][f"{impl}/{mode}"] = {"max_abs": diff, "max_abs_rel": diff / ref.abs().max().item()}
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    print(f"  difference: {out['difference']}", flush=True)


def section_nccl(args, device, work, out) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
           str(ROOT / "benchmarks" / "gpu_nccl_smoke.py"), "--device", "cuda" if device.type == "cuda" else "cpu"]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    out["nccl"] = {"rc": done.returncode, "seconds": round(time.perf_counter() - start, 1),
                   "backend": "nccl" if device.type == "cuda" else "gloo (dry run)", "tail": tail}
    print(f"  torchrun smoke: {out['nccl']}", flush=True)


def _watch_training(cmd: list[str], run: Path, deadline: float, log: Path) -> dict:
    """Run ``pgfa train``; note when each epoch's history line appears; stop it at ``deadline`` (perf_counter)."""
    start = time.perf_counter()
    ends: list[float] = []
    history = run / "history.jsonl"
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        while proc.poll() is None and time.perf_counter() < deadline:
            time.sleep(0.2)
            lines = len(history.read_text().splitlines()) if history.is_file() else 0
            ends.extend([time.perf_counter() - start] * (lines - len(ends)))
        stopped = proc.poll() is None
        if stopped:
            proc.terminate()
            proc.wait(timeout=60)
    lines = len(history.read_text().splitlines()) if history.is_file() else 0
    ends.extend([time.perf_counter() - start] * (lines - len(ends)))
    return {"rc": proc.returncode, "stopped_at_deadline": stopped, "epoch_end_s": [round(e, 2) for e in ends],
            "wall_s": round(time.perf_counter() - start, 2)}


def section_ntu(args, device, clock, work, out) -> None:
    from scale import write_prepared

    clips, epochs = (600, 2) if args.dry_run else (args.clips, 50)
    start = time.perf_counter()
    folder = work / "ntu60_size"
    write_prepared(folder, clips)
    out["ntu60"]["write_s"] = round(time.perf_counter() - start, 1)
    run = work / "run"
    cmd = [sys.executable, "-m", "pgfa", "train", "--data", str(folder), "--unseen-count", "5", "--out", str(run),
           "--device", device.type, "--epochs", str(epochs), "--batch-size", "128",
           "--set", f"text_features={folder / 'text_features.npy'}", *args.train_set]
    if args.dry_run:
        cmd += ["backbone_options={channels: [16, 32], strides: [1, 2]}", "max_steps=4"]
    out["ntu60"]["command"] = " ".join(cmd[1:])
    deadline = time.perf_counter() + max(30.0, clock.left() - args.evaluate_reserve)
    train = _watch_training(cmd, run, deadline, work / "train.log")
    out["ntu60"]["train"] = train
    ends = train["epoch_end_s"]
    if not ends:
        out["ntu60"]["failed"] = "no epoch finished; see train.log: " + " | ".join(
            (work / "train.log").read_text().strip().splitlines()[-3:])
        return
    per_epoch = float(np.mean(np.diff(ends))) if len(ends) > 1 else ends[0]
    startup = ends[0] - per_epoch if len(ends) > 1 else 0.0
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pgfa", "evaluate", str(run), "--device", device.type], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    evaluate_s = time.perf_counter() - start
    (work / "evaluate.log").write_text(done.stdout + done.stderr)
    out["ntu60"].update({
        "epochs_done": len(ends), "seconds_per_epoch": round(per_epoch, 2), "startup_s": round(startup, 2),
        "evaluate_rc": done.returncode, "evaluate_s": round(evaluate_s, 2),
        "measured_wall_s": round(train["wall_s"] + evaluate_s, 1),
        "extrapolated_50_epochs_wall_s": None if len(ends) >= 50 else round(startup + 50 * per_epoch + evaluate_s, 1),
    })
    print(f"  ntu60: {out['ntu60']}", flush=True)


def print_table(out: dict) -> None:
    rows = []
    for key, row in out["train"].items():
        value = row.get("samples_per_s", row.get("skipped", row.get("failed")))
        extra = f"peak {row['peak_gpu_gb']} GB" if "peak_gpu_gb" in row else ""
        rows.append(("train samples/s", key, value, extra))
    for key, row in out["inference"].items():
        rows.append(("inference seq/s", key, row.get("sequences_per_s", row.get("failed")), "batch 1024"))
    diff = out["difference"]
    if "skipped" in diff:
        rows.append(("|GPU - CPU|", "-", diff["skipped"], ""))
    for key, row in diff.items():
        if key != "skipped":
            rows.append(("|GPU - CPU|", key, f"{row['max_abs']:.2e}", f"relative {row['max_abs_rel']:.2e}"))
    n = out["ntu60"]
    if "seconds_per_epoch" in n:
        rows.append(("NTU-60 train", f"{n['epochs_done']} epochs measured", f"{n['seconds_per_epoch']} s/epoch",
                     f"start-up {n['startup_s']} s"))
        rows.append(("NTU-60 evaluate", "pgfa evaluate", f"{n['evaluate_s']} s", f"rc {n['evaluate_rc']}"))
        label = ("measured", n["measured_wall_s"]) if n["extrapolated_50_epochs_wall_s"] is None else \
            ("EXTRAPOLATED", n["extrapolated_50_epochs_wall_s"])
        rows.append(("NTU-60 50 epochs", label[0], f"{label[1]} s", "train + evaluate wall"))
    else:
        rows.append(("NTU-60 train", "-", n.get("failed", n.get("skipped", "not run")), ""))
    rows.append(("torchrun smoke", out["nccl"].get("backend", "-"), f"rc {out['nccl'].get('rc')}",
                 f"{out['nccl'].get('seconds', '')} s"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    print("\n" + "  ".join(h.ljust(w) for h, w in zip(("figure", "configuration", "value", "note"), widths)))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="issue 16 GPU figures (see benchmarks/gpu_check.sh)")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: test the script itself")
    parser.add_argument("--out", help="folder for gpu_check.json (default $OUT, else the current folder)")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for the whole check (default 450)")
    parser.add_argument("--compile-budget", type=float, default=150.0, help="seconds for the compiled rows")
    parser.add_argument("--reserve", type=float, default=200.0,
                        help="seconds kept for the NTU-60 run and smoke test when timing rows (default 200)")
    parser.add_argument("--evaluate-reserve", type=float, default=40.0)
    parser.add_argument("--clips", type=int, default=56_880, help="clips of the NTU-60-size folder")
    parser.add_argument("--train-set", nargs="*", default=None,
                        help="extra KEY=VALUE for pgfa train's --set (default on CUDA: amp=true)")
    args = parser.parse_args(argv)
    device = torch.device("cpu" if args.dry_run else "cuda")
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible to this torch; use --dry-run to test the script on a CPU",
              file=sys.stderr)
        return 2
    if args.train_set is None:
        args.train_set = [] if args.dry_run else ["amp=true"]
    if args.dry_run:
        # One thread: the tiny models gain nothing from more, and on a loaded small CPU every
        # parallel region waits for a descheduled worker (the test suite does the same).
        args.reserve, args.evaluate_reserve = 0.0, 0.0
        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"
    clock = Clock(args.budget)
    out_dir = Path(args.out or os.environ.get("OUT") or ".")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = {"dry_run": args.dry_run, "torch": torch.__version__, "python": platform.python_version(),
           "device": torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
           "train": {}, "inference": {}, "difference": {}, "nccl": {}, "ntu60": {}}
    print(f"gpu_check: {out['device']}, torch {out['torch']}, budget {args.budget:.0f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="pgfa-gpu-check-") as tmp:
        work = Path(tmp)
        section_train(args, device, clock, out)
        section_infer(args, device, clock, out)
        section_difference(args, device, out)
        section_nccl(args, device, work, out)
        section_ntu(args, device, clock, work, out)
    out["wall_s"] = round(clock.elapsed(), 1)
    print_table(out)
    (out_dir / "gpu_check.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwall {out['wall_s']} s; figures written to {out_dir / 'gpu_check.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
