"""Frame rate: put recordings from 60, 100 or 120 Hz devices on NTU's 30 Hz time scale.

The models are trained on NTU RGB+D, recorded at 30 frames per second. SPEC
section 2 then resamples every clip's valid frames to T = 50, so what the
network sees depends on how many frames a motion spans; resampling a 120 Hz
recording to 30 Hz first makes its clips span as many frames as the same
motion at NTU's rate before that step. Irregular times (dropped frames in
body-tracking logs) are handled because resampling is by time stamps.
"""
from __future__ import annotations

import numpy as np

NTU_RATE = 30.0


def resample_to_rate(points: np.ndarray, times: np.ndarray, rate: float = NTU_RATE) -> np.ndarray:
    """Linearly interpolate ``(M, T, J, 3)`` joints sampled at ``times`` (seconds) onto a ``rate`` Hz grid.

    The grid starts at ``times[0]`` and ends at the last grid time not after
    ``times[-1]``. Between two samples where a body is tracked in one and not
    the other (all zeros), the tracked one is taken, so no joint is pulled
    towards the origin; between two untracked samples the body stays zeros. Returns ``(M, T', J, 3)`` float64.
    """
    points = np.asarray(points, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if points.ndim != 4 or points.shape[1] != len(times):
        raise ValueError(f"points {points.shape} must be (M, T, J, 3) with T = {len(times)} times")
    if len(times) > 1 and np.any(np.diff(times) <= 0):
        raise ValueError("frame times must increase")
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if len(times) < 2:
        return points.copy()
    grid = times[0] + np.arange(int(np.floor((times[-1] - times[0]) * rate + 1e-9)) + 1) / rate
    hi = np.clip(np.searchsorted(times, grid, side="right"), 1, len(times) - 1)
    lo = hi - 1
    w = np.clip((grid - times[lo]) / (times[hi] - times[lo]), 0.0, 1.0)  # (T',)
    present = np.any(points != 0, axis=(2, 3))  # (M, T)
    w = np.broadcast_to(w, present.shape[:1] + w.shape).copy()  # (M, T')
    w[~present[:, hi]] = 0.0  # one side untracked: take the tracked side (both untracked: zeros)
    w[~present[:, lo] & present[:, hi]] = 1.0
    w = w[:, :, None, None]
    return (1.0 - w) * points[:, lo] + w * points[:, hi]
