"""Azure Kinect / Orbbec body tracking JSON and MediaPipe Pose JSON / CSV, on small files the tests write."""
import csv
import json

import numpy as np
import pytest

from pgfa.data.azure_kinect import read_azure_kinect
from pgfa.data.errors import DataError
from pgfa.data.layouts import AZURE_KINECT_32, MEDIAPIPE_POSE_33, NTU25
from pgfa.data.mediapipe_pose import HIP_HEIGHT, read_mediapipe
from pgfa.data.recording_io import read_recording, read_sequence, recording_to_layout


def _body(layout, rng, height=1.7):
    """Joints in metres, y up: a column of points from feet (y=0) to head, spread in x and z."""
    n = layout.num_joints
    y = rng.uniform(0.1, height - 0.2, size=n)
    pts = np.stack([rng.uniform(-0.3, 0.3, n), y, rng.uniform(2.0, 2.4, n)], axis=1)
    for name, h in (("head", height - 0.1), ("nose", height - 0.12), ("pelvis", 0.95)):
        if name in layout.joints:
            pts[layout.joints.index(name), 1] = h
    return pts


def _azure_file(path, frames, joint_names=True):
    """``frames``: list of ``{body_id: (32, 3) metres y up}``; written as the SDK does (mm, y down)."""
    flip = np.array([-1.0, -1.0, 1.0])
    content = {"frames": [{"frame_id": t, "timestamp_usec": 1_000_000 + 33_333 * t, "num_bodies": len(bodies),
                           "bodies": [{"body_id": bid, "joint_positions": (1000 * p * flip).tolist(),
                                       "joint_orientations": [[1, 0, 0, 0]] * len(p)} for bid, p in bodies.items()]}
                          for t, bodies in enumerate(frames)]}
    if joint_names:
        content["joint_names"] = [j.upper() for j in AZURE_KINECT_32.joints]
    path.write_text(json.dumps(content))


def test_azure_kinect_reads_metres_y_up_bodies_by_id(tmp_path):
    rng = np.random.default_rng(0)
    a, b = _body(AZURE_KINECT_32, rng), _body(AZURE_KINECT_32, rng)
    path = tmp_path / "k4abt.json"
    _azure_file(path, [{7: a}, {7: a + 0.01, 9: b}, {9: b}])  # body 7 leaves in frame 2
    rec = read_azure_kinect(path)
    assert rec.points.shape == (2, 3, 32, 3) and rec.layout == "azure_kinect_32"
    assert np.allclose(rec.points[0, 0], a) and np.allclose(rec.points[1, 1], b)
    assert not rec.points[0, 2].any() and not rec.points[1, 0].any()  # untracked: zeros
    assert rec.rate == pytest.approx(30.0, rel=1e-4)
    assert (rec.joint("head")[0, 0, 1] - rec.joint("pelvis")[0, 0, 1]) == pytest.approx(0.65)  # y up
    ntu = recording_to_layout(rec)
    assert ntu.shape[2] == 25 and np.allclose(ntu[0, 0, NTU25.joints.index("spine_mid")],
                                              a[AZURE_KINECT_32.joints.index("spine_navel")])
    assert read_sequence(path).shape == (3, 50, 25, 2)


def test_azure_kinect_missing_joints_name_frame_and_joints(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "short.json"
    body = _body(AZURE_KINECT_32, rng)
    _azure_file(path, [{1: body}, {1: body[:30]}])
    with pytest.raises(DataError, match=r"short\.json: frame 1: body 1: 30 joints, .*missing: eye_right, ear_right"):
        read_azure_kinect(path)
    _azure_file(path, [{1: body}], joint_names=False)
    content = json.loads(path.read_text())
    content["joint_names"] = [j.upper() for j in AZURE_KINECT_32.joints[:-1]]
    path.write_text(json.dumps(content))
    with pytest.raises(DataError, match="missing: EAR_RIGHT"):
        read_recording(path)


def _mediapipe_points(rng, t=4):
    """World landmarks as MediaPipe writes them: metres, hips' midpoint at the origin, y down."""
    pts = np.stack([_body(MEDIAPIPE_POSE_33, rng) for _ in range(t)])
    j = MEDIAPIPE_POSE_33.joints
    pts -= 0.5 * (pts[:, [j.index("left_hip")]] + pts[:, [j.index("right_hip")]])
    return pts * np.array([-1.0, -1.0, 1.0])


def test_mediapipe_json_and_csv_agree(tmp_path):
    rng = np.random.default_rng(2)
    raw = _mediapipe_points(rng)
    frames = [{"time_s": t / 25, "landmarks": [[*p, 0.9] for p in raw[t].tolist()]} for t in range(len(raw))]
    frames[2]["landmarks"] = None  # nobody in frame 2
    js = tmp_path / "pose.json"
    js.write_text(json.dumps({"format": "mediapipe_pose_world", "frames": frames}))
    cs = tmp_path / "pose.csv"
    with open(cs, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "time_s"] + [f"{n}_{a}" for n in MEDIAPIPE_POSE_33.joints for a in ("x", "y", "z", "visibility")])
        for t in range(len(raw)):
            cells = [] if t == 2 else [v for p in raw[t] for v in (*p, 0.9)]
            w.writerow([t, t / 25] + (cells or [""] * 4 * 33))
    a, b = read_recording(js), read_recording(cs)
    assert a.layout == b.layout == "mediapipe_pose_33" and a.rate == pytest.approx(25.0)
    assert np.allclose(a.points, b.points) and not a.points[0, 2].any()
    expected = raw[0] * np.array([-1.0, -1.0, 1.0]) + [0.0, HIP_HEIGHT, 0.0]
    assert np.allclose(a.points[0, 0], expected)
    x = read_sequence(js)
    assert x.shape == (3, 50, 25, 1) and np.isfinite(x).all()


def test_mediapipe_bad_files(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"fps": 30, "frames": [{"landmarks": [[0.1, 0.2, 0.3]] * 30}]}))
    with pytest.raises(DataError, match=r"p\.json: frame 0: 30 landmarks, .*missing: right_heel, left_foot_index"):
        read_mediapipe(path)
    path.write_text(json.dumps({"frames": [{"landmarks": [[0.1, 0.2, 0.3]] * 33}] * 2}))
    with pytest.raises(DataError, match="no time_s per frame and no fps"):
        read_mediapipe(path)
    assert read_mediapipe(path, rate=15).rate == pytest.approx(15.0)  # the flag supplies it
    bad = tmp_path / "p.csv"
    bad.write_text("time_s,nose_x,nose_y,nose_z\n0,1,2,3\n")
    with pytest.raises(DataError, match=r"p\.csv: no columns for landmark\(s\) left_eye_inner"):
        read_mediapipe(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"frames": [{"people": []}]}))
    with pytest.raises(DataError, match="neither Azure Kinect"):
        read_recording(other)
