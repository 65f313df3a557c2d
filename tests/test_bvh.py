"""BVH: files written by the tests from known poses; forward kinematics, units, frame rate, errors."""
import numpy as np
import pytest

from pgfa.data.bvh import read_bvh
from pgfa.data.errors import DataError
from pgfa.data.recording_io import read_sequence

# name, parent, offset (cm), rotation channel order
SKELETON = [
    ("Hips", None, (0.0, 0.0, 0.0), "ZXY"),
    ("Spine", "Hips", (0.0, 10.0, 0.0), "XYZ"),
    ("Spine1", "Spine", (0.0, 15.0, 0.0), "YZX"),
    ("Neck", "Spine1", (0.0, 20.0, 0.0), "ZYX"),
    ("Head", "Neck", (0.0, 10.0, 1.0), "XZY"),
    ("LeftShoulder", "Spine1", (3.0, 18.0, 0.0), "ZXY"),
    ("LeftArm", "LeftShoulder", (15.0, 0.0, 0.0), "ZXY"),
    ("LeftForeArm", "LeftArm", (28.0, 0.0, 0.0), "YXZ"),
    ("LeftHand", "LeftForeArm", (25.0, 0.0, 0.0), "ZXY"),
    ("RightShoulder", "Spine1", (-3.0, 18.0, 0.0), "ZXY"),
    ("RightArm", "RightShoulder", (-15.0, 0.0, 0.0), "ZXY"),
    ("RightForeArm", "RightArm", (-28.0, 0.0, 0.0), "XYZ"),
    ("RightHand", "RightForeArm", (-25.0, 0.0, 0.0), "ZXY"),
    ("LeftUpLeg", "Hips", (9.0, -5.0, 0.0), "ZXY"),
    ("LeftLeg", "LeftUpLeg", (0.0, -42.0, 0.0), "ZXY"),
    ("LeftFoot", "LeftLeg", (0.0, -40.0, 0.0), "ZXY"),
    ("LeftToeBase", "LeftFoot", (0.0, -8.0, 12.0), "ZXY"),
    ("RightUpLeg", "Hips", (-9.0, -5.0, 0.0), "ZXY"),
    ("RightLeg", "RightUpLeg", (0.0, -42.0, 0.0), "ZXY"),
    ("RightFoot", "RightLeg", (0.0, -40.0, 0.0), "ZXY"),
    ("RightToeBase", "RightFoot", (0.0, -8.0, 12.0), "ZXY"),
]


def _axis_angle(axis: str, degrees: float) -> np.ndarray:
    """Rodrigues' formula: rotation by ``degrees`` about a unit axis (independent of pgfa's code)."""
    k = np.eye(3)["XYZ".index(axis)]
    a = np.deg2rad(degrees)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


def _write(path, skeleton, frames, frame_time=1 / 60, scale=1.0):
    """A BVH file; ``frames``: ``(T, 3 + 3 * joints)`` root position then per joint its angles in its order."""
    children = {}
    for name, parent, _, _ in skeleton:
        children.setdefault(parent, []).append(name)
    info = {name: (offset, order) for name, _, offset, order in skeleton}
    lines = ["HIERARCHY"]

    def block(name, depth, root=False):
        pad = "  " * depth
        offset, order = info[name]
        lines.append(f"{pad}{'ROOT' if root else 'JOINT'} {name}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {' '.join(str(scale * v) for v in offset)}")
        channels = (["Xposition", "Yposition", "Zposition"] if root else []) + [f"{a}rotation" for a in order]
        lines.append(f"{pad}  CHANNELS {len(channels)} {' '.join(channels)}")
        for kid in children.get(name, []):
            block(kid, depth + 1)
        if name not in children:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 {scale * 5.0} 0", pad + "  }"])
        lines.append(pad + "}")

    block(skeleton[0][0], 0, root=True)
    lines += ["MOTION", f"Frames: {len(frames)}", f"Frame Time: {frame_time:.8f}"]
    lines += [" ".join(f"{v:.10f}" for v in row) for row in frames]
    path.write_text("\n".join(lines) + "\n")


def _expected(skeleton, row):
    """Global joint positions of one frame, in file units, by the test's own kinematics."""
    pos, rot, out = {}, {}, []
    angles = iter(row[3:])
    for name, parent, offset, order in skeleton:
        local = np.eye(3)
        for axis in order:  # R = R_a1 R_a2 R_a3 for channels a1 a2 a3 (first listed outermost)
            local = local @ _axis_angle(axis, next(angles))
        if parent is None:
            pos[name], rot[name] = np.asarray(row[:3], float), local
        else:
            pos[name] = pos[parent] + rot[parent] @ np.asarray(offset, float)
            rot[name] = rot[parent] @ local
        out.append(pos[name])
    return np.array(out)


@pytest.fixture
def motion():
    rng = np.random.default_rng(0)
    frames = rng.uniform(-60, 60, size=(5, 3 + 3 * len(SKELETON)))
    frames[:, :3] = [[0.0, 90.0, 0.0]] * 5 + rng.normal(size=(5, 3))
    return frames


def test_forward_kinematics_matches_known_pose(tmp_path, motion):
    path = tmp_path / "take.bvh"
    _write(path, SKELETON, motion)
    rec = read_bvh(path, units="m")  # keep file units to compare exactly
    names = [j for j in rec.joint_names if not j.endswith("_End")]
    assert names == [s[0] for s in SKELETON]
    got = rec.points[0][:, [rec.joint_names.index(n) for n in names]]
    for t, row in enumerate(motion):
        assert np.abs(got[t] - _expected(SKELETON, row)).max() < 1e-5


def test_right_angles_by_hand(tmp_path):
    """Hips turned 90 degrees about y: the left hip's offset +x goes to -z (right-handed, y up)."""
    frames = np.zeros((1, 3 + 3 * len(SKELETON)))
    frames[0, 3:6] = [0.0, 0.0, 90.0]  # Hips channels Z X Y: Y rotation last listed
    path = tmp_path / "turn.bvh"
    _write(path, SKELETON, frames)
    rec = read_bvh(path, units="m")
    assert np.allclose(rec.joint("LeftUpLeg")[0, 0], [0.0, -5.0, -9.0], atol=1e-9)


@pytest.mark.parametrize("scale, unit", [(1.0, 0.01), (0.01, 1.0), (10.0, 0.001), (1 / 2.54, 0.0254)])
def test_units_from_the_skeleton_size(tmp_path, motion, scale, unit):
    """The same body written in cm, m, mm and inches reads back in metres."""
    m = motion.copy()
    m[:, :3] *= scale
    path = tmp_path / "u.bvh"
    _write(path, SKELETON, m, scale=scale)
    rec = read_bvh(path)
    ref = read_bvh(path, units=unit)
    assert np.allclose(rec.points, ref.points)
    assert np.allclose(read_bvh(path, units=str(unit)).points, ref.points)  # metres per unit as a number
    femur = np.linalg.norm(rec.joint("LeftLeg") - rec.joint("LeftUpLeg"), axis=-1)
    assert np.allclose(femur, 0.42)


def test_frame_rate_and_ntu_conversion(tmp_path, motion):
    path = tmp_path / "r.bvh"
    long = np.repeat(motion, 6, axis=0)  # 30 frames at 60 Hz = 0.5 s
    _write(path, SKELETON, long, frame_time=1 / 60)
    rec = read_bvh(path)
    assert rec.rate == pytest.approx(60.0)
    x = read_sequence(path, frames=50)
    assert x.shape == (3, 50, 25, 1) and np.isfinite(x).all()
    assert np.abs(x[:, :, 20]).max() < 1e-6  # centred on the spine shoulder (mean of the clavicles)


def test_bad_bvh_files_name_the_line(tmp_path, motion):
    path = tmp_path / "bad.bvh"
    _write(path, SKELETON, motion)
    text = path.read_text()
    path.write_text(text.replace("CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS 3 Xrotation Xrotation Zrotation", 1))
    with pytest.raises(DataError, match=r"bad\.bvh:\d+: joint Spine: unknown rotation order 'XXZ'"):
        read_bvh(path)
    path.write_text(text.replace("Zrotation Xrotation Yrotation", "Wrotation Xrotation Yrotation", 1))
    with pytest.raises(DataError, match=r"bad\.bvh:\d+: joint Hips: unknown channel"):
        read_bvh(path)
    lines = text.splitlines()
    lines[-2] = " ".join(lines[-2].split()[:-1])  # one value short
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"bad\.bvh:{len(lines) - 1}: frame 3: {motion.shape[1] - 1} values"):
        read_bvh(path)
