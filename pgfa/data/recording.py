"""What every device / motion-capture reader returns: joints in metres, y up, with times.

A :class:`Recording` is one file's skeletons before any model-specific step:
the source's own joints (names given), in the right-handed y-up frame and in
metres (each reader applies its source layout's units and axis change once),
and the time of every frame. :mod:`pgfa.data.recording_io` turns it into
the model's layout, 30 Hz and the SPEC section 2 preprocessing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pgfa.data.errors import DataError  # noqa: F401  (re-exported for the readers)


@dataclass
class Recording:
    """One file's skeleton sequence in the source's own joints.

    Attributes:
        points: ``(M, T, J, 3)`` float64 joint positions in metres, y up,
            right-handed; a body not tracked in a frame is all zeros there.
        joint_names: ``J`` names, in the order of ``points``' joint axis.
        times: ``(T,)`` seconds from the first frame (increasing).
        layout: name of the source layout in :data:`pgfa.data.layouts.SOURCE_LAYOUTS`.
        source: the file, for messages.
    """

    points: np.ndarray
    joint_names: tuple[str, ...]
    times: np.ndarray
    layout: str
    source: str = ""

    @property
    def rate(self) -> float:
        """Mean frames per second (``nan`` for a single frame)."""
        if len(self.times) < 2:
            return float("nan")
        return float((len(self.times) - 1) / (self.times[-1] - self.times[0]))

    def joint(self, name: str) -> np.ndarray:
        """``(M, T, 3)`` positions of one joint by name."""
        try:
            return self.points[:, :, self.joint_names.index(name)]
        except ValueError:
            raise KeyError(f"{self.source}: no joint {name!r}") from None


def frame_times(count: int, rate: float, where: str) -> np.ndarray:
    """``(count,)`` times of frames recorded at ``rate`` Hz; ``where`` names the file in errors."""
    if not np.isfinite(rate) or rate <= 0:
        raise DataError(f"{where}: frame rate must be a positive number, got {rate}")
    return np.arange(count, dtype=np.float64) / float(rate)
