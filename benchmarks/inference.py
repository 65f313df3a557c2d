"""Inference latency and throughput of the zero-shot model on CPU (or GPU if present).

Batch 1 latency (median of many single-sequence calls, the live use case)
and batch 256 throughput, ST-GCN + projection to 384 (MiniLM) dims, input
(3, 50, 25, 2). The last line is `batch1_ms=X batch256_samples_per_s=Y`.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from pgfa.models.model import build_model
from pgfa.runtime import tune_cpu_allocator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = build_model("stgcn", "ntu25", 384).to(device).eval()
    one = torch.randn(1, 3, 50, 25, 2, device=device)
    many = torch.randn(256, 3, 50, 25, 2, device=device)
    times = []
    with torch.inference_mode():
        for _ in range(5):
            model(one)
        for _ in range(args.repeats):
            start = time.perf_counter()
            model(one)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        model(many)
        start = time.perf_counter()
        for _ in range(3):
            model(many)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rate = 3 * len(many) / (time.perf_counter() - start)
    ms = 1000 * statistics.median(times)
    print(f"torch {torch.__version__}, {device}, threads {torch.get_num_threads()}")
    print(f"batch 1: median {ms:.2f} ms (p90 {1000 * sorted(times)[int(0.9 * len(times))]:.2f} ms)")
    print(f"batch1_ms={ms:.2f} batch256_samples_per_s={rate:.1f}")


if __name__ == "__main__":
    main()
