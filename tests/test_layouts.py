"""The joint-layout registry: source layouts map to NTU-25 by rule; the model layouts behave as before."""
import numpy as np
import pytest

from pgfa.cli.main import main
from pgfa.data.framerate import resample_to_rate
from pgfa.data.layouts import (KINECT_V1_20, NTU25, SOURCE_LAYOUTS, convert_layout, get_layout, layout_for_joints,
                               resolve_rules, source_to_layout)


def test_model_layouts_unchanged():
    assert set(get_layout(n).name for n in ("ntu25", "kinect_v1_20")) == {"ntu25", "kinect_v1_20"}
    assert layout_for_joints(25) is NTU25 and layout_for_joints(20) is KINECT_V1_20
    v1 = np.random.default_rng(0).normal(size=(2, 3, 4, 20, 2)).astype(np.float32)
    out = convert_layout(v1, "kinect_v1_20", "ntu25")
    assert out.shape == (2, 3, 4, 25, 2)
    assert np.array_equal(out[:, :, :, 2], 0.5 * (out[:, :, :, 3] + out[:, :, :, 20]))  # neck: head/spine shoulder
    assert np.array_equal(out[:, :, :, 21], v1[:, :, :, 7])  # left hand tip copies the hand
    with pytest.raises(ValueError, match="no conversion"):
        convert_layout(out, "ntu25", "kinect_v1_20")


@pytest.mark.parametrize("name", sorted(n for n in SOURCE_LAYOUTS if SOURCE_LAYOUTS[n].joints))
def test_every_source_layout_gives_every_ntu_joint(name):
    layout = SOURCE_LAYOUTS[name]
    groups = resolve_rules(layout, layout.joints)
    assert len(groups) == 25 and all(groups)
    # left joints come from left joints, right from right (the subject's own sides)
    def side(n):
        if "left" in n or "right" in n:
            return "left" if "left" in n else "right"
        mirror = {"l": "r", "r": "l"}.get(n[0], "") + n[1:]
        return {"l": "left", "r": "right"}[n[0]] if mirror in layout.joints else None  # acclaim: lfemur/rfemur

    for ntu_joint, group in zip(NTU25.joints, groups):
        sides = {side(layout.joints[i]) for i in group}
        if ntu_joint.endswith(("_left", "_right")):
            assert sides == {ntu_joint.rpartition("_")[2]}, (ntu_joint, [layout.joints[i] for i in group])


def test_missing_joint_rule_and_untracked_frames():
    """MediaPipe has no spine: mid-spine is the mean of hips and shoulders; an untracked body stays zero."""
    layout = SOURCE_LAYOUTS["mediapipe_pose_33"]
    points = np.random.default_rng(1).normal(size=(1, 3, 33, 3))
    points[0, 1] = 0.0  # frame 1: nobody tracked
    out = source_to_layout(points, layout.joints, layout)
    j = {n: i for i, n in enumerate(layout.joints)}
    expected = points[0, 0, [j["left_hip"], j["right_hip"], j["left_shoulder"], j["right_shoulder"]]].mean(0)
    assert np.allclose(out[0, 0, NTU25.joints.index("spine_mid")], expected)
    assert not out[0, 1].any()
    v1 = source_to_layout(points, layout.joints, layout, target="kinect_v1_20")
    assert v1.shape == (1, 3, 20, 3) and np.array_equal(v1[0, 0, 2], out[0, 0, 20])  # shoulder centre


def test_bvh_names_match_with_prefixes_and_fallbacks():
    names = ["mixamorig:Hips", "mixamorig:Spine", "mixamorig:Neck", "mixamorig:Head"]
    for side in ("Left", "Right"):
        names += [f"mixamorig:{side}{n}" for n in ("Shoulder", "Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot")]
    groups = resolve_rules("bvh", names)
    assert names[groups[NTU25.joints.index("spine_mid")][0]] == "mixamorig:Spine"  # no Spine1: falls back
    assert names[groups[NTU25.joints.index("hand_tip_left")][0]] == "mixamorig:LeftHand"
    with pytest.raises(ValueError, match="head"):
        resolve_rules("bvh", [n for n in names if not n.endswith("Head")])


def test_resample_to_30hz_by_time():
    times = np.arange(13) / 120.0  # 0.1 s at 120 Hz
    points = np.zeros((1, 13, 2, 3))
    points[0, :, :, 0] = times[:, None] + 1.0  # x grows linearly with time
    out = resample_to_rate(points, times, 30.0)
    assert out.shape == (1, 4, 2, 3)
    assert np.allclose(out[0, :, 0, 0], 1.0 + np.arange(4) / 30.0)
    irregular = np.array([0.0, 0.05, 0.06, 0.1])
    p = np.zeros((1, 4, 1, 3))
    p[0, :, 0, 1] = 1.0 + irregular
    assert np.allclose(resample_to_rate(p, irregular, 30.0)[0, :, 0, 1], 1.0 + np.arange(4) / 30.0)
    gap = p.copy()
    gap[0, 1] = 0.0  # untracked: the nearer tracked sample is used, never a pull towards zero
    assert resample_to_rate(gap, irregular, 30.0)[0, :, 0, 1].min() >= 1.0


def test_layouts_command_lists_every_layout(capsys):
    assert main(["layouts"]) == 0
    out = capsys.readouterr().out
    for name in ("ntu25", "kinect_v1_20", *SOURCE_LAYOUTS):
        assert f"`{name}`" in out
    assert main(["layouts", "azure_kinect_32"]) == 0
    assert "spine_mid       <- spine_navel" in capsys.readouterr().out


def test_readme_layout_table_is_current():
    from pathlib import Path

    from pgfa.cli.layouts import layout_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "\n".join(layout_table()) in readme
