"""One entry point for device and motion-capture files: pick the reader, convert, resample, preprocess.

=========  ==================================================  ===================
suffix     reader                                              source layout
=========  ==================================================  ===================
``.amc``   :func:`pgfa.data.asf_amc.read_amc` (+ its ``.asf``)  ``acclaim``
``.bvh``   :func:`pgfa.data.bvh.read_bvh`                       ``bvh``
``.json``  Azure Kinect / Orbbec body tracking, or MediaPipe    ``azure_kinect_32``,
           Pose (told apart by content)                         ``mediapipe_pose_33``
``.csv``   :func:`pgfa.data.mediapipe_pose.read_mediapipe`      ``mediapipe_pose_33``
=========  ==================================================  ===================

Every file then takes the same path: source joints -> model layout
(:func:`pgfa.data.layouts.source_to_layout`), resampled to NTU's 30 Hz
(:mod:`pgfa.data.framerate`), then SPEC section 2 preprocessing, so a model
trained on NTU takes it like an NTU ``.skeleton`` file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pgfa.data.framerate import NTU_RATE, resample_to_rate
from pgfa.data.layouts import source_to_layout
from pgfa.data.preprocess import preprocess_sequence
from pgfa.data.recording import DataError, Recording

RECORDING_SUFFIXES = (".amc", ".bvh", ".json", ".csv")
OPTION_NAMES = ("asf", "rate", "units", "max_bodies")


def read_recording(path: str | Path, asf: str | Path | None = None, rate: float | None = None,
                   units: str | float | None = None, max_bodies: int = 2) -> Recording:
    """Read one device / motion-capture file by its suffix (options that do not apply are ignored).

    Args:
        asf: ``.amc``: the skeleton file (default: found beside it by name).
        rate: frames per second, overriding what the file says or implies.
        units: ``.bvh``: ``auto`` (default), ``m``, ``cm``, ``mm``, ``in`` or metres per unit.
        max_bodies: body-tracking JSON: bodies kept (by first appearance).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if suffix == ".amc":
        from pgfa.data.asf_amc import read_amc

        return read_amc(path, asf=asf, rate=rate)
    if suffix == ".bvh":
        from pgfa.data.bvh import read_bvh

        return read_bvh(path, units=units, rate=rate)
    from pgfa.data.mediapipe_pose import is_mediapipe, read_mediapipe

    if suffix == ".csv":
        return read_mediapipe(path, rate=rate)
    if suffix == ".json":
        from pgfa.data.azure_kinect import is_azure_kinect, load_json, read_azure_kinect

        content = load_json(path)
        if is_azure_kinect(content):
            return read_azure_kinect(path, rate=rate, max_bodies=max_bodies)
        if is_mediapipe(content):
            return read_mediapipe(path, rate=rate)
        raise DataError(f"{path}: JSON is neither Azure Kinect body tracking ('frames' with 'bodies') nor "
                        "MediaPipe Pose ('frames' with 'landmarks')")
    raise DataError(f"{path}: not a recording file (give {', '.join(RECORDING_SUFFIXES)})")


def recording_to_layout(recording: Recording, layout: str = "ntu25", rate: float = NTU_RATE) -> np.ndarray:
    """``(M, T', V, 3)`` joints of a model layout at ``rate`` Hz (metres, y up, not yet preprocessed)."""
    try:
        points = source_to_layout(recording.points, recording.joint_names, recording.layout, layout)
        return resample_to_rate(points, recording.times, rate)
    except ValueError as err:
        raise DataError(f"{recording.source}: {err}") from None


def read_sequence(path: str | Path, frames: int = 50, layout: str = "ntu25", **options) -> np.ndarray:
    """One file -> the model's input ``(3, frames, V, M)`` float32 (SPEC section 2 preprocessing).

    ``options``: those of :func:`read_recording` (``asf``, ``rate``, ``units``, ``max_bodies``).
    """
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"unknown reader option(s) {unknown}; known: {', '.join(OPTION_NAMES)}")
    keypoints = recording_to_layout(read_recording(path, **options), layout)
    try:
        return preprocess_sequence(keypoints, layout, frames=frames)
    except ValueError as err:
        raise DataError(f"{path}: {err}") from None
