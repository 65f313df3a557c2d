import pickle

import numpy as np
import pytest

from pgfa.data.formats import DataError, load_skeletons
from pgfa.data.preprocess import preprocess_sequence
from pgfa.data.skeletons import SkeletonSet
from pgfa.data.splits import make_zero_shot_split, parse_class_list


def _write_pair(folder, prefix, n=12, classes=4, joints=25, bodies=2, frames=10):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(n, 3, frames, joints, bodies)).astype(np.float32)
    labels = np.arange(n) % classes
    np.save(folder / f"{prefix}_data.npy", data)
    np.save(folder / f"{prefix}_label.npy", labels)
    return data, labels


def test_npy_pair_loads(tmp_path):
    data, labels = _write_pair(tmp_path, "x")
    s = load_skeletons(tmp_path / "x_data.npy")
    assert s.layout == "ntu25" and s.data.shape == data.shape
    assert np.array_equal(s.labels, labels) and np.array_equal(s.data, data)


def test_npy_folder_gives_official_split(tmp_path):
    _write_pair(tmp_path, "train", n=12)
    _write_pair(tmp_path, "test", n=8)
    s = load_skeletons(tmp_path)
    assert len(s) == 20
    assert s.subsets["train"].tolist() == list(range(12)) and s.subsets["test"].tolist() == list(range(12, 20))


def test_wrong_tensor_shape_is_reported_with_the_file(tmp_path):
    np.save(tmp_path / "x_data.npy", np.zeros((4, 3, 10, 25), dtype=np.float32))
    np.save(tmp_path / "x_label.npy", np.zeros(4, dtype=np.int64))
    with pytest.raises(DataError, match=r"x_data\.npy.*\(N, 3, T, V, M\)"):
        load_skeletons(tmp_path / "x_data.npy")


def test_label_count_mismatch_is_reported(tmp_path):
    _write_pair(tmp_path, "x", n=6)
    np.save(tmp_path / "x_label.npy", np.zeros(5, dtype=np.int64))
    with pytest.raises(DataError, match="5 labels .* 6 samples"):
        load_skeletons(tmp_path / "x_label.npy")


def test_nan_data_names_the_sample(tmp_path):
    data, _ = _write_pair(tmp_path, "x", n=6)
    data[3, 1, 2, 4, 0] = np.nan
    np.save(tmp_path / "x_data.npy", data)
    with pytest.raises(DataError, match="x_data.npy: sample 3 contains NaN"):
        load_skeletons(tmp_path / "x_data.npy")


def test_unknown_joint_count_is_refused(tmp_path):
    _write_pair(tmp_path, "x", joints=17)
    with pytest.raises(DataError, match="17 joints"):
        load_skeletons(tmp_path / "x_data.npy")


def _pickle(path, annotations, split=None):
    content = {"annotations": annotations}
    if split:
        content["split"] = split
    with open(path, "wb") as f:
        pickle.dump(content, f)


def _clip(i, label, frames=20):
    rng = np.random.default_rng(i)
    kp = rng.normal(size=(1, frames, 20, 3)).astype(np.float32)
    return {"frame_dir": f"clip{i}", "label": label, "keypoint": kp, "total_frames": frames}


def test_pyskl_pickle_is_preprocessed(tmp_path):
    _pickle(tmp_path / "d.pkl", [_clip(i, i % 3, frames=15 + i) for i in range(6)],
            {"train": ["clip0", "clip1", "clip2"], "test": ["clip3", "clip4", "clip5"]})
    s = load_skeletons(tmp_path / "d.pkl", frames=50)
    assert s.data.shape == (6, 3, 50, 20, 1) and s.layout == "kinect_v1_20"
    assert s.subsets["test"].tolist() == [3, 4, 5]
    # centred on shoulder_center (joint 2) in every frame
    assert np.allclose(s.data[:, :, :, 2, 0], 0, atol=1e-6)


def test_pickle_missing_key_names_the_record(tmp_path):
    bad = _clip(1, 0)
    del bad["keypoint"]
    _pickle(tmp_path / "d.pkl", [_clip(0, 0), bad])
    with pytest.raises(DataError, match=r"d\.pkl: annotation 1 .*keypoint"):
        load_skeletons(tmp_path / "d.pkl")


def test_pickle_nan_names_the_clip(tmp_path):
    bad = _clip(1, 0)
    bad["keypoint"][0, 3, 4, 1] = np.inf
    _pickle(tmp_path / "d.pkl", [_clip(0, 0), bad])
    with pytest.raises(DataError, match=r"annotation 1 \(clip1\): NaN or infinite"):
        load_skeletons(tmp_path / "d.pkl")


def test_shared_real_data_loads_through_the_pickle_path(shared_data):
    for name, classes in (("utd_mhad", 27), ("nw_ucla", 10), ("msr_action3d", 20)):
        s = load_skeletons(shared_data / name / f"{name}.pkl")
        assert s.layout == "kinect_v1_20" and s.num_classes == classes
        assert s.data.shape[1:] == (3, 50, 20, 1) and np.isfinite(s.data).all()
        assert set(s.subsets) == {"train", "test"}
        assert len(s.subsets["train"]) + len(s.subsets["test"]) == len(s)


def test_preprocess_rotates_shoulders_onto_x():
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(1, 30, 25, 3))
    out = preprocess_sequence(kp, "ntu25", frames=50)
    shoulder = out[:, :, 8, 0] - out[:, :, 4, 0]  # (3, T)
    assert np.allclose(shoulder[2], 0, atol=1e-5) and (shoulder[0] > 0).all()


def _set(n_per_class=6, classes=5, with_split=True):
    labels = np.repeat(np.arange(classes), n_per_class)
    data = np.zeros((len(labels), 3, 4, 25, 1), dtype=np.float32)
    subsets = {}
    if with_split:
        idx = np.arange(len(labels))
        subsets = {"train": idx[idx % 2 == 0], "test": idx[idx % 2 == 1]}
    return SkeletonSet(data, labels, "ntu25", subsets=subsets)


def test_split_never_puts_unseen_classes_in_training_or_validation():
    s = _set()
    split = make_zero_shot_split(s, [1, 3], val_fraction=0.34, seed=0)
    for part in (split.train, split.val):
        assert not np.isin(s.labels[part], [1, 3]).any()
    assert np.isin(s.labels[split.unseen_test], [1, 3]).all()
    assert set(split.unseen_test) <= set(s.subsets["test"])
    assert not set(split.train) & set(split.val)
    assert len(split.val) == 3  # one per seen class


def test_split_is_deterministic_per_seed():
    s = _set(n_per_class=20)
    a, b = (make_zero_shot_split(s, [0, 1], 0.2, seed=3) for _ in range(2))
    c = make_zero_shot_split(s, [0, 1], 0.2, seed=4)
    assert np.array_equal(a.val, b.val) and not np.array_equal(a.val, c.val)


def test_split_rejects_bad_class_lists():
    with pytest.raises(ValueError, match="outside"):
        make_zero_shot_split(_set(), [1, 9])
    with pytest.raises(ValueError, match="integers"):
        parse_class_list("1,a")


def test_random_unseen_is_seeded_and_sorted():
    from pgfa.data.splits import random_unseen

    a = random_unseen(27, 5, seed=0)
    assert a == random_unseen(27, 5, seed=0) and a == sorted(a) and len(set(a)) == 5
    assert a != random_unseen(27, 5, seed=1)
    with pytest.raises(ValueError, match="between 2 and"):
        random_unseen(5, 4, seed=0)


def test_ctrgcn_npz_is_read_and_preprocessed(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(3, 40, 150)).astype(np.float32)
    x_train[:, 30:] = 0  # zero-padded tail, as in the CTR-GCN files
    x_test = rng.normal(size=(2, 40, 150)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x_train=x_train, y_train=np.eye(4)[[0, 1, 2]], x_test=x_test, y_test=np.array([3, 0]))
    s = load_skeletons(tmp_path / "d.npz")
    assert s.data.shape == (5, 3, 50, 25, 2) and s.labels.tolist() == [0, 1, 2, 3, 0]
    assert s.subsets["test"].tolist() == [3, 4]
    assert np.allclose(s.data[:, :, :, 20], 0, atol=1e-6)
    np.savez(tmp_path / "bad.npz", x_train=x_train)
    with pytest.raises(DataError, match="bad.npz: missing array"):
        load_skeletons(tmp_path / "bad.npz")


def test_kinect_v1_data_converts_to_the_ntu_layout(tmp_path):
    from pgfa.data.layouts import convert_layout

    rng = np.random.default_rng(0)
    v1 = rng.normal(size=(2, 3, 5, 20, 1)).astype(np.float32)
    v1[1] = 0  # an absent sample stays absent
    v2 = convert_layout(v1, "kinect_v1_20", "ntu25")
    assert v2.shape == (2, 3, 5, 25, 1)
    assert np.array_equal(v2[:, :, :, 20], v1[:, :, :, 2])  # shoulder_center -> spine_shoulder
    assert np.allclose(v2[:, :, :, 2], 0.5 * (v1[:, :, :, 3] + v1[:, :, :, 2]))  # neck between head and shoulders
    assert np.array_equal(v2[:, :, :, 23], v1[:, :, :, 11]) and not v2[1].any()
    with pytest.raises(ValueError, match="no conversion"):
        convert_layout(v2, "ntu25", "kinect_v1_20")


def test_training_config_can_convert_the_layout(tmp_path):
    from pgfa.cli.main import main

    _pickle(tmp_path / "d.pkl", [_clip(i, i % 4, frames=12) for i in range(16)])
    (tmp_path / "classes.txt").write_text("a\nb\nc\nd\n")
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "d.pkl"), "--unseen", "0,1", "--out", str(out), "--epochs", "1",
                 "--batch-size", "4", "--set", "layout=ntu25", "warmup_epochs=1"]) == 0
    assert main(["evaluate", str(out)]) == 0
    import torch

    state = torch.load(out / "best.pt", weights_only=True)
    assert state["signature"]["layout"] == "ntu25"


# ---------------------------------------------------------------------------------------------------------------
# Every reader refuses bad labels and values, naming the file, the record and the problem (issue 14, item 3).
# ---------------------------------------------------------------------------------------------------------------

# (labels written, the record the message must name, the problem it must name); sample 2 is the bad one.
BAD_LABELS = {
    "negative": (np.array([0, 1, -1, 0]), "negative label -1"),
    "fractional": (np.array([0.0, 1.0, 2.5, 0.0]), "label 2.5 is not an integer"),
    "nan": (np.array([0.0, 1.0, np.nan, 0.0]), "label nan is not an integer"),
    "out_of_range": (np.array([0, 1, 3, 0]), r"label 3 is out of range: .* names 3 classes"),
    "string": (np.array(["0", "1", "2", "0"]), "labels must be integers, got a <U1 array"),
    "bool": (np.array([True, False, True, False]), "labels must be integers, got a bool array"),
    "complex": (np.array([0, 1, 2, 0], dtype=complex), "labels must be integers, got a complex128 array"),
}


def _npy_sample_data(n=4, joints=25):
    return np.random.default_rng(1).normal(size=(n, 3, 6, joints, 1)).astype(np.float32)


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_npy_pair_refuses_bad_labels(tmp_path, case):
    labels, problem = BAD_LABELS[case]
    np.save(tmp_path / "x_data.npy", _npy_sample_data())
    np.save(tmp_path / "x_label.npy", labels)
    (tmp_path / "classes.txt").write_text("a\nb\nc\n")
    record = "" if "must be" in problem else "sample 2: "
    with pytest.raises(DataError, match=rf"x_label\.npy: {record}{problem}"):
        load_skeletons(tmp_path / "x_data.npy")


@pytest.mark.parametrize("case", ["negative", "out_of_range", "fractional"])
def test_npy_folder_refuses_bad_labels_in_either_part(tmp_path, case):
    labels, problem = BAD_LABELS[case]
    np.save(tmp_path / "train_data.npy", _npy_sample_data())
    np.save(tmp_path / "train_label.npy", np.array([0, 1, 2, 0]))
    np.save(tmp_path / "test_data.npy", _npy_sample_data())
    np.save(tmp_path / "test_label.npy", labels)
    (tmp_path / "classes.txt").write_text("a\nb\nc\n")
    with pytest.raises(DataError, match=rf"test_label\.npy: sample 2: {problem}"):
        load_skeletons(tmp_path)


@pytest.mark.parametrize("case", ["negative", "fractional", "out_of_range", "string", "bool", "none", "list"])
def test_pickle_refuses_bad_labels_naming_the_clip(tmp_path, case):
    value, problem = {
        "negative": (-1, "negative label -1"),
        "fractional": (2.5, "label 2.5 is not an integer"),
        "out_of_range": (3, "label 3 is out of range"),
        "string": ("2", "label must be an integer, got str"),
        "bool": (True, "label must be an integer, got bool"),
        "none": (None, "label must be an integer, got NoneType"),
        "list": ([1, 2], "label must be an integer, got list"),
    }[case]
    clips = [_clip(i, i % 3) for i in range(4)]
    clips[2]["label"] = value
    _pickle(tmp_path / "d.pkl", clips)
    (tmp_path / "classes.txt").write_text("a\nb\nc\n")
    with pytest.raises(DataError, match=rf"d\.pkl: annotation 2 \(clip2\): {problem}"):
        load_skeletons(tmp_path / "d.pkl")


def test_pickle_integral_float_labels_still_load(tmp_path):
    _pickle(tmp_path / "d.pkl", [_clip(i, float(i % 2)) for i in range(3)])
    assert load_skeletons(tmp_path / "d.pkl").labels.tolist() == [0, 1, 0]


@pytest.mark.parametrize("case", ["complex", "object", "string", "no_valid_frame", "no_body"])
def test_pickle_refuses_bad_keypoints_naming_the_clip(tmp_path, case):
    clips = [_clip(i, 0) for i in range(3)]
    kp = clips[1]["keypoint"]
    clips[1]["keypoint"], problem = {
        "complex": (kp.astype(np.complex64), "keypoint must hold real numbers, got a complex64 array"),
        "object": (kp.astype(object), "keypoint must hold real numbers, got a object array"),
        "string": (kp.astype(str), "keypoint must hold real numbers, got a <U"),
        "no_valid_frame": (np.zeros_like(kp), "sequence has no valid frame"),
        "no_body": (kp[:0], r"keypoint holds no body \(M = 0\)"),
    }[case]
    _pickle(tmp_path / "d.pkl", clips)
    with pytest.raises(DataError, match=rf"d\.pkl: annotation 1 \(clip1\): {problem}"):
        load_skeletons(tmp_path / "d.pkl")


@pytest.mark.parametrize("case", ["complex", "string", "no_valid_frame", "nan"])
def test_npy_pair_refuses_bad_coordinates(tmp_path, case):
    data = _npy_sample_data()
    if case == "complex":
        data, problem = data.astype(np.complex64), "x_data.npy: coordinates must be real numbers, got a complex64"
    elif case == "string":
        data, problem = data.astype("U8"), "x_data.npy: coordinates must be real numbers, got a <U8"
    elif case == "no_valid_frame":
        data[2] = 0
        problem = r"x_data.npy: sample 2 has no valid frame \(all coordinates are zero\)"
    else:
        data[2, 0, 3, 4] = np.nan
        problem = "x_data.npy: sample 2 contains NaN"
    np.save(tmp_path / "x_data.npy", data)
    np.save(tmp_path / "x_label.npy", np.array([0, 1, 2, 0]))
    with pytest.raises(DataError, match=problem):
        load_skeletons(tmp_path / "x_data.npy")
    np.save(tmp_path / "x_label.npy", np.array([0, 1, 2, 0], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="x_label.npy: cannot read as .npy"):
        load_skeletons(tmp_path / "x_data.npy")


def _npz(path, y_test, x_test=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 20, 150)).astype(np.float32)
    np.savez(path, x_train=x, y_train=np.array([0, 1, 2]), x_test=x if x_test is None else x_test, y_test=y_test)


@pytest.mark.parametrize("case", ["negative", "fractional", "string", "complex_x", "zero_clip", "empty_one_hot"])
def test_npz_refuses_bad_labels_and_values(tmp_path, case):
    x = np.random.default_rng(0).normal(size=(3, 20, 150)).astype(np.float32)
    y, x_test, problem = np.array([0, 1, 2]), None, ""
    if case == "negative":
        y, problem = np.array([0, -4, 2]), r"y_test\[1\]: negative label -4"
    elif case == "fractional":
        y, problem = np.array([0, 1.5, 2]), r"y_test\[1\]: label 1.5 is not an integer"
    elif case == "string":
        y, problem = np.array(["a", "b", "c"]), "labels must be integers, got a <U1 array"
    elif case == "complex_x":
        x_test, problem = x.astype(np.complex64), "x_test must hold real numbers, got a complex64 array"
    elif case == "zero_clip":
        x_test = x.copy()
        x_test[1] = 0
        problem = r"x_test\[1\]: sequence has no valid frame"
    else:
        y, problem = np.array([[0, 1], [0, 0], [1, 0]]), "sample 1: one-hot label row has no positive entry"
    _npz(tmp_path / "d.npz", y, x_test)
    with pytest.raises(DataError, match=rf"d\.npz: {problem}"):
        load_skeletons(tmp_path / "d.npz")


def _prepared_folder(tmp_path):
    from pgfa.data.prepare import prepare_ntu
    from test_ntu import _raw_folder

    out = tmp_path / "prepared"
    prepare_ntu(_raw_folder(tmp_path, actions=(1, 2)), out, workers=1, progress=False)
    return out


@pytest.mark.parametrize("case", ["negative", "out_of_range", "fractional", "no_valid_frame"])
def test_prepared_folder_refuses_bad_labels_and_values(tmp_path, case):
    out = _prepared_folder(tmp_path)
    labels, data = np.load(out / "label.npy"), np.load(out / "data.npy")
    if case == "negative":
        labels[1], problem = -1, r"label\.npy: sample 1: negative label -1"
    elif case == "out_of_range":
        labels[1], problem = 60, r"label\.npy: sample 1: label 60 is out of range: dataset ntu60 names 60 classes"
    elif case == "fractional":
        labels = labels.astype(np.float64)
        labels[1], problem = 0.5, r"label\.npy: sample 1: label 0.5 is not an integer"
    else:
        data[1], problem = 0, r"data\.npy: sample 1 has no valid frame"
    np.save(out / "label.npy", labels)
    np.save(out / "data.npy", data)
    with pytest.raises(DataError, match=problem):
        load_skeletons(out)


def test_prediction_inputs_refuse_bad_values(tmp_path):
    from pgfa.data.formats import load_sequences

    data = _npy_sample_data(n=2)
    data[1] = 0
    np.save(tmp_path / "seq.npy", data)
    with pytest.raises(DataError, match=r"seq\.npy: sample 1 has no valid frame"):
        load_sequences([tmp_path / "seq.npy"])
    np.save(tmp_path / "seq.npy", data.astype(object), allow_pickle=True)
    with pytest.raises(DataError, match=r"seq\.npy: cannot read as \.npy"):
        load_sequences([tmp_path / "seq.npy"])
