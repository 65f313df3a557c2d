import numpy as np
import pytest

from pgfa.data.formats import DataError, load_skeletons
from pgfa.data.pku import read_pku_labels, read_pku_skeleton


def _video(path, frames, bodies=1, seed=0):
    rng = np.random.default_rng(seed)
    data = np.zeros((frames, 2, 25, 3))
    data[:, :bodies] = rng.normal(size=(frames, bodies, 25, 3))
    data[:, :bodies, 0] += 1.0
    path.write_text("\n".join(" ".join(f"{v:.5f}" for v in row) for row in data.reshape(frames, 150)) + "\n")
    return data


def test_prepare_pku_cuts_clips_by_label_rows(tmp_path):
    from pgfa.cli.main import main

    raw, labels = tmp_path / "skeleton", tmp_path / "label"
    raw.mkdir()
    labels.mkdir()
    _video(raw / "0002-L.txt", 120, bodies=2)
    (labels / "0002-L.txt").write_text("3,0,39,1\n51,40,119,2\n")
    _video(raw / "0003-M.txt", 50, seed=1)
    (labels / "0003-M.txt").write_text("1,10,30,1\n")
    out = tmp_path / "prepared"
    assert main(["prepare", "pku", "--raw", str(raw), "--labels", str(labels), "--out", str(out), "--workers", "1"]) == 0
    s = load_skeletons(out)
    assert s.data.shape == (3, 3, 50, 25, 2) and s.labels.tolist() == [2, 50, 0]
    assert s.sample_ids == ["0002-L_000", "0002-L_001", "0003-M_000"] and len(s.class_names) == 51
    assert s.data[0, ..., 1].any() and not s.data[2, ..., 1].any()  # second body only where the video had one


def test_prepared_pku_folder_carries_the_cross_subject_split(tmp_path):
    from pgfa.data.prepare import prepare_pku, pku_cross_subject_test_videos

    test_videos = pku_cross_subject_test_videos()
    assert len(test_videos) == 132 and test_videos[0] == "0291-L" and test_videos[-1] == "0334-R"
    raw, labels = tmp_path / "skeleton", tmp_path / "label"
    raw.mkdir()
    labels.mkdir()
    for i, name in enumerate(["0002-L", "0291-R", "0334-M"]):
        _video(raw / f"{name}.txt", 60, seed=i)
        (labels / f"{name}.txt").write_text(f"{i + 1},0,29,1\n{i + 4},30,59,1\n")
    manifest = prepare_pku(raw, labels, tmp_path / "out", workers=1, progress=False)
    assert manifest["split_column"] == "video" and "2 test videos of 3" in manifest["split"]
    s = load_skeletons(tmp_path / "out")
    assert [s.sample_ids[i] for i in s.subsets["train"]] == ["0002-L_000", "0002-L_001"]
    assert [s.sample_ids[i] for i in s.subsets["test"]] == ["0291-R_000", "0291-R_001", "0334-M_000", "0334-M_001"]
    # all videos on one side of the list: no split rather than an empty side
    for name in ("0291-R", "0334-M"):
        (raw / f"{name}.txt").unlink()
    only_train = prepare_pku(raw, labels, tmp_path / "out2", workers=1, skip_bad=True, progress=False)
    assert only_train["split_column"] is None and only_train["split"].startswith("none")
    assert load_skeletons(tmp_path / "out2").subsets == {}


def test_label_row_outside_the_sequence_names_file_and_line(tmp_path):
    path = tmp_path / "0002-L.txt"
    path.write_text("3,0,39,1\n4,100,130,1\n")
    with pytest.raises(DataError, match=r"0002-L.txt: line 2: frames 100-130 lie outside the sequence of 120 frames"):
        read_pku_labels(path, 120)
    path.write_text("52,0,3,1\n")
    with pytest.raises(DataError, match="unknown action id 52"):
        read_pku_labels(path, 120)


def test_skeleton_row_of_the_wrong_length_is_reported(tmp_path):
    path = tmp_path / "v.txt"
    _video(path, 5)
    lines = path.read_text().splitlines()
    lines[2] = " ".join(lines[2].split()[:75])
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match="v.txt: line 3: 75 values, expected 150"):
        read_pku_skeleton(path)
