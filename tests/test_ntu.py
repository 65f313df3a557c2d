import numpy as np
import pytest

from pgfa.data.formats import DataError
from pgfa.data.ntu import read_ntu_skeleton


def write_skeleton(path, frames):
    """Write NTU text format; ``frames`` is a list of per-frame lists of (25, 3) arrays."""
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for b, joints in enumerate(bodies):
            out.append(f"7205759403793{b} 0 1 1 1 1 0 0.1 0.2 2")
            out.append("25")
            out.extend(f"{x:.6f} {y:.6f} {z:.6f} 1 2 3 4 0 0 0 1 2" for x, y, z in joints)
    path.write_text("\n".join(out) + "\n")


def test_round_trip_one_and_two_bodies(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 25, 3)), rng.normal(size=(3, 25, 3))
    path = tmp_path / "S002C003P004R001A050.skeleton"
    write_skeleton(path, [[a[0]], [a[1], b[1]], [a[2], b[2]]])
    sample = read_ntu_skeleton(path)
    assert (sample.action, sample.setup, sample.camera, sample.performer) == (49, 2, 3, 4)
    assert sample.keypoints.shape == (2, 3, 25, 3)
    assert np.allclose(sample.keypoints[0], a, atol=1e-5)
    assert np.allclose(sample.keypoints[1, 1:], b[1:], atol=1e-5)
    assert not sample.keypoints[1, 0].any()  # frame 1 had one body
    assert sample.bodies_per_frame.tolist() == [1, 2, 2]


def test_truncated_file_is_reported(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    write_skeleton(path, [[np.zeros((25, 3))]] * 2)
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:-10]))
    with pytest.raises(DataError, match=r"S001C001P001R001A001.skeleton: file ends early .*truncated"):
        read_ntu_skeleton(path)


def test_wrong_joint_count_names_the_line(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    write_skeleton(path, [[np.zeros((25, 3))]])
    text = path.read_text().splitlines()
    text[3] = "20"
    path.write_text("\n".join(text))
    with pytest.raises(DataError, match="line 4: body has 20 joints, expected 25"):
        read_ntu_skeleton(path)


def test_nan_coordinate_and_unknown_action_are_reported(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    write_skeleton(path, [[np.zeros((25, 3))]])
    text = path.read_text().splitlines()
    text[6] = "nan 0 0 1 2 3 4 0 0 0 1 2"
    path.write_text("\n".join(text))
    with pytest.raises(DataError, match="line 7: NaN"):
        read_ntu_skeleton(path)
    bad = tmp_path / "S001C001P001R001A130.skeleton"
    bad.write_text("1\n0\n")
    with pytest.raises(DataError, match="unknown action id A130"):
        read_ntu_skeleton(bad)


def test_zero_frames_is_reported(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("0\n")
    with pytest.raises(DataError, match="zero frames"):
        read_ntu_skeleton(path)


def test_real_ntu_samples(shared_data):
    expected = {"S001C001P001R001A011": (10, 82, 1), "S001C003P008R002A058": (57, 70, 2),
                "S002C001P003R001A003": (2, 100, 1), "S003C001P015R001A034": (33, 71, 1),
                "S004C002P003R001A017": (16, 124, 1)}
    for stem, (action, frames, bodies) in expected.items():
        sample = read_ntu_skeleton(shared_data / "ntu_samples" / f"{stem}.skeleton")
        assert sample.action == action and sample.keypoints.shape[1] == frames
        assert (sample.bodies_per_frame == bodies).all()
        assert np.isfinite(sample.keypoints).all() and sample.keypoints[0].any()


def _raw_folder(tmp_path, actions=(1, 2, 3), performers=(1, 3)):
    rng = np.random.default_rng(1)
    raw = tmp_path / "raw"
    raw.mkdir()
    for a in actions:
        for p in performers:
            body = rng.normal(size=(25, 3))
            body[0] += 1.0  # joint 0 non-zero: frames are valid
            write_skeleton(raw / f"S001C001P{p:03d}R001A{a:03d}.skeleton", [[body + 0.01 * t] for t in range(5)])
    return raw


def test_prepare_then_load_gives_cross_subject_split(tmp_path):
    from pgfa.cli.main import main
    from pgfa.data.formats import load_skeletons

    raw = _raw_folder(tmp_path)
    out = tmp_path / "prepared"
    assert main(["prepare", "ntu", "--raw", str(raw), "--out", str(out), "--workers", "1"]) == 0
    s = load_skeletons(out)
    assert s.data.shape == (6, 3, 50, 25, 2) and sorted(s.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    assert s.class_names[0] == "drink water" and len(s.class_names) == 60
    train_ids = {s.sample_ids[i] for i in s.subsets["train"]}
    assert all("P001" in name for name in train_ids) and len(train_ids) == 3  # performer 3 is a test subject
    assert np.allclose(s.data[:, :, :, 20], 0, atol=1e-6)  # centred on spine shoulder


def test_prepare_refuses_bad_files_and_existing_output(tmp_path):
    from pgfa.data.prepare import prepare_ntu

    raw = _raw_folder(tmp_path, actions=(1, 2))
    (raw / "S001C001P001R001A009.skeleton").write_text("3\n1\n")  # truncated
    out = tmp_path / "prepared"
    with pytest.raises(DataError, match="1 bad file.*A009.skeleton: file ends early"):
        prepare_ntu(raw, out, workers=1, progress=False)
    assert not out.exists() and not list(tmp_path.glob(".prepared.partial-*"))
    manifest = prepare_ntu(raw, out, workers=1, skip_bad=True, progress=False)
    assert manifest["samples"] == 4 and manifest["skipped"][0]["file"] == "S001C001P001R001A009.skeleton"
    with pytest.raises(FileExistsError, match="--force"):
        prepare_ntu(raw, out, workers=1, progress=False)


def test_prepare_drops_listed_missing_skeleton_samples(tmp_path):
    from pgfa.data.prepare import missing_skeleton_list, prepare_ntu

    listed = missing_skeleton_list()
    # the dataset's published counts: 302 in NTU-60, 535 in all with NTU-120
    assert len(listed) == 535 and sum(int(name[-3:]) <= 60 for name in listed) == 302
    assert "S001C002P005R002A008" in listed and "S032C003P067R002A077" in listed
    raw = _raw_folder(tmp_path, actions=(1,))
    (raw / "S001C002P005R002A008.skeleton").write_text("1\n0\n")  # listed: dropped, not an error
    manifest = prepare_ntu(raw, tmp_path / "out", workers=1, progress=False)
    assert manifest["samples"] == 2 and manifest["dropped_missing_skeletons"] == ["S001C002P005R002A008"]
