"""Pickles are read without running code (issue 14): only containers, numbers, strings and numpy arrays."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from pgfa.data.errors import DataError
from pgfa.data.formats import load_sequences, load_skeletons
from pgfa.data.safe_pickle import load_pickle


class _Exploit:
    """Unpickling this calls ``exec``, which would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _clip(i, label, frames=12):
    kp = np.random.default_rng(i).normal(size=(1, frames, 20, 3)).astype(np.float32)
    return {"frame_dir": f"clip{i}", "label": label, "keypoint": kp, "total_frames": frames}


def _write(path, content, protocol=pickle.HIGHEST_PROTOCOL):
    with open(path, "wb") as f:
        pickle.dump(content, f, protocol=protocol)
    return path


@pytest.mark.parametrize("where", ["top", "annotation", "label"])
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, where):
    marker = tmp_path / "marker"
    annotations = [_clip(0, 0), _clip(1, 1)]
    content = {"annotations": annotations}
    if where == "top":
        content = _Exploit(marker)
    elif where == "annotation":
        annotations.append(_Exploit(marker))
    else:
        annotations[1]["label"] = _Exploit(marker)
    path = _write(tmp_path / "evil.pkl", content)
    for read in (lambda: load_skeletons(path), lambda: load_sequences([path])):
        with pytest.raises(DataError, match=r"evil\.pkl: refused to unpickle: the file names builtins\.exec"):
            read()
    assert not marker.exists()


def test_trust_pickle_opts_in_to_plain_pickle(tmp_path):
    marker = tmp_path / "marker"
    path = _write(tmp_path / "evil.pkl", {"annotations": [_clip(0, 0)], "extra": _Exploit(marker)})
    with pytest.raises(DataError, match="refused"):
        load_skeletons(path)
    assert not marker.exists()
    s = load_skeletons(path, trust_pickle=True)  # the user vouches for the file: plain pickle.load
    assert marker.exists() and len(s) == 1


def test_other_globals_are_refused_by_name(tmp_path):
    from collections import OrderedDict

    path = _write(tmp_path / "od.pkl", {"annotations": OrderedDict(a=1)})
    with pytest.raises(DataError, match=r"od\.pkl: .*collections\.OrderedDict.*--trust-pickle"):
        load_pickle(path)
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(DataError, match=r"junk\.pkl: cannot unpickle"):
        load_pickle(tmp_path / "junk.pkl")


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_content_round_trips_in_every_protocol(tmp_path, protocol):
    content = {
        "split": {"train": ["a", "b"], "test": ("c",)},
        "annotations": [
            {"keypoint": np.arange(24, dtype=np.float32).reshape(1, 2, 4, 3), "label": np.int64(3),
             "score": np.float32(0.5), "shape": (1080, 1920), "flag": True, "none": None, "raw": b"\x00\xff"},
            {"keypoint": np.zeros((2, 1, 4, 3), dtype=">f8"), "label": 2, "ids": np.array([1, 2], np.uint16),
             "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "dtype": np.dtype("i2")},
        ],
    }
    path = _write(tmp_path / "ok.pkl", content, protocol)
    safe = load_pickle(path)
    with open(path, "rb") as f:
        plain = pickle.load(f)
    assert pickle.dumps(safe, protocol=4) == pickle.dumps(plain, protocol=4)
    for key in ("keypoint", "ids", "fortran"):
        a, b = safe["annotations"][1][key], plain["annotations"][1][key]
        assert a.dtype == b.dtype and a.flags.f_contiguous == b.flags.f_contiguous and np.array_equal(a, b)


def test_numpy_1x_module_names_are_accepted(tmp_path):
    """A pickle written by numpy 1.x names numpy.core.multiarray, numpy 2.x numpy._core.multiarray."""
    data = pickle.dumps({"annotations": [{"keypoint": np.arange(3.0), "label": np.int32(1)}]}, protocol=0)
    for name in (b"numpy.core", b"numpy._core"):
        text = data.replace(b"numpy._core", name).replace(b"numpy.core", name)
        (tmp_path / "v.pkl").write_bytes(text)
        back = load_pickle(tmp_path / "v.pkl")
        assert np.array_equal(back["annotations"][0]["keypoint"], np.arange(3.0))
        assert back["annotations"][0]["label"] == 1


def test_real_pyskl_pickles_load_exactly_as_with_plain_pickle(shared_data):
    for name in ("utd_mhad", "nw_ucla", "msr_action3d"):
        path = shared_data / name / f"{name}.pkl"
        if not path.is_file():
            pytest.skip(f"{path} not found")
        with open(path, "rb") as f:
            plain = pickle.load(f)
        assert pickle.dumps(load_pickle(path), protocol=4) == pickle.dumps(plain, protocol=4)
        safe, trusted = load_skeletons(path), load_skeletons(path, trust_pickle=True)
        assert safe.data.tobytes() == trusted.data.tobytes() and np.array_equal(safe.labels, trusted.labels)
        assert safe.sample_ids == trusted.sample_ids
