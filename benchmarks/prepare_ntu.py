"""How fast `pgfa prepare ntu` reads raw .skeleton files, on synthetic files of real NTU size.

Writes N files in the real text format (by default 100 frames, one body in
80 % of files and two in 20 %, like NTU's mix of daily actions and
interactions; a real file is 180-360 kB), runs the prepare step with the given
workers, and prints files/s, the time that would take for all 114,480
NTU-120 files, and the peak resident memory of the main process and of the
largest worker (prepare streams clips to disk, so neither should grow with
--files). The last line is `files_per_s=X ntu120_minutes=Y`.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from pgfa.data.prepare import prepare_ntu

NTU120_FILES = 114_480


def write_file(path: Path, frames: int, bodies: int, rng: np.random.Generator) -> None:
    lines = [str(frames)]
    for _ in range(frames):
        lines.append(str(bodies))
        for b in range(bodies):
            lines.append(f"7205759403793{b} 0 1 1 1 1 0 -0.1159187 0.1413209 2")
            lines.append("25")
            joints = rng.normal(size=(25, 3)) + np.array([0.0, 0.0, 3.0])
            for x, y, z in joints:
                lines.append(f"{x:.7g} {y:.7g} {z:.7g} 276.0976 190.0662 1032.328 514.0889 -0.1705678 0.04232755 0.9718983 -0.1566168 2")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        for i in range(args.files):
            bodies = 2 if i % 5 == 0 else 1
            action = 50 + i % 10 if bodies == 2 else 1 + i % 49
            write_file(raw / f"S001C001P{1 + i % 40:03d}R{1 + i // 400 % 2:03d}A{action:03d}_{i}.skeleton",
                       args.frames, bodies, rng)
        size = sum(f.stat().st_size for f in raw.iterdir()) / args.files / 1e3
        start = time.perf_counter()
        manifest = prepare_ntu(raw, Path(tmp) / "out", workers=args.workers, progress=False)
        seconds = time.perf_counter() - start
    rate = manifest["samples"] / seconds
    print(f"{manifest['samples']} files of {size:.0f} kB, {args.workers} workers: {seconds:.1f} s")
    # ru_maxrss is in kB on Linux; RUSAGE_CHILDREN gives the largest finished worker
    main_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: main process {main_mb:.0f} MB, largest worker {worker_mb:.0f} MB")
    print(f"files_per_s={rate:.1f} ntu120_minutes={NTU120_FILES / rate / 60:.1f}")


if __name__ == "__main__":
    main()
