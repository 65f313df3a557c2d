"""Acclaim ASF/AMC: the real HDM05 files (skipped when absent), small files the tests write, prepare mocap."""
import json
from pathlib import Path

import numpy as np
import pytest

from pgfa.cli.main import main
from pgfa.data.asf_amc import find_asf, read_amc, read_asf
from pgfa.data.errors import DataError
from pgfa.data.recording_io import read_sequence, recording_to_layout

AMC = {"bd_throw": "HDM_bd_throwBasketball_001_120.amc", "dg_throw": "HDM_dg_throwBasketball_007_120.amc",
       "bd_lie": "HDM_bd_lieDownFloor_001_120.amc"}
FRAMES = {"bd_throw": 281, "dg_throw": 321, "bd_lie": 701}
# (start joint, end joint) of long bones, and a plausible adult range in metres
BONES = {"femur": ("lhipjoint", "lfemur", 0.33, 0.55), "tibia": ("lfemur", "ltibia", 0.30, 0.50),
         "humerus": ("lclavicle", "lhumerus", 0.22, 0.38), "forearm": ("lhumerus", "lradius", 0.15, 0.32),
         "clavicle": ("thorax", "lclavicle", 0.12, 0.30)}  # Vicon's clavicle: neck base to shoulder joint


@pytest.fixture
def hdm05(shared_data) -> Path:
    folder = shared_data / "hdm05_samples"
    if not all((folder / name).is_file() for name in AMC.values()):
        pytest.skip(f"HDM05 samples not found in {folder}")
    return folder


@pytest.fixture(scope="module")
def recordings():
    """The three real motions, read once (each with the ASF found beside it)."""
    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "hdm05_samples"
    if not all((folder / name).is_file() for name in AMC.values()):
        pytest.skip(f"HDM05 samples not found in {folder}")
    return {key: read_amc(folder / name) for key, name in AMC.items()}


def _bone(rec, start, end):
    return np.linalg.norm(rec.joint(end)[0] - rec.joint(start)[0], axis=-1)  # (T,)


def test_each_amc_reads_with_its_asf(hdm05, recordings):
    assert find_asf(hdm05 / AMC["dg_throw"]) == hdm05 / "HDM_dg.asf"
    for key, rec in recordings.items():
        assert rec.points.shape == (1, FRAMES[key], 31, 3) and rec.layout == "acclaim"
        assert rec.rate == pytest.approx(120.0) and np.isfinite(rec.points).all()
    skeleton = read_asf(hdm05 / "HDM_bd.asf")
    assert skeleton.length_scale == pytest.approx(0.0254 / 0.45) and skeleton.degrees
    assert skeleton.root_order == ("tx", "ty", "tz", "rx", "ry", "rz") and len(skeleton.bones) == 30


def test_bone_lengths_constant_and_human(recordings):
    lengths = {}
    for key, rec in recordings.items():
        for bone, (start, end, low, high) in BONES.items():
            l = _bone(rec, start, end)
            assert l.std() < 1e-9, (key, bone)  # rigid bones: the same length in every frame
            assert low < l[0] < high, (key, bone, l[0])
            lengths[key, bone] = l[0]
    for bone in BONES:  # one actor: the same skeleton in both motions; two actors: similar people
        assert lengths["bd_throw", bone] == pytest.approx(lengths["bd_lie", bone], abs=1e-12)
        assert 0.8 < lengths["dg_throw", bone] / lengths["bd_throw", bone] < 1.25


def test_upright_with_feet_on_the_floor_at_the_start(recordings):
    for key, rec in recordings.items():
        head, root = rec.joint("head")[0, 0], rec.joint("root")[0, 0]
        feet = [rec.joint(j)[0, 0, 1] for j in ("lfoot", "rfoot", "ltoes", "rtoes")]
        assert 1.45 < head[1] < 2.0 and head[1] - root[1] > 0.5, key  # head (top) well above the hips
        assert min(feet) > -0.05 and min(feet) < 0.12, key  # on the floor (y = 0), not under it
        assert 0.8 < root[1] < 1.15, key
        assert 0.3 < np.linalg.norm(rec.joint("lclavicle")[0, 0] - rec.joint("rclavicle")[0, 0]) < 0.55, key


def test_lying_down_ends_with_the_head_on_the_floor(recordings):
    rec = recordings["bd_lie"]
    head = rec.joint("head")[0, :, 1]
    assert head[0] > 1.45 and head[-1] < 0.25
    assert rec.points[0, -1, :, 1].max() < 0.5  # the whole body is low


def test_converted_ntu_sequence(hdm05, recordings):
    ntu = recording_to_layout(recordings["bd_lie"])
    assert ntu.shape == (1, 176, 25, 3)  # 701 frames at 120 Hz -> 5.83 s at 30 Hz
    x = read_sequence(hdm05 / AMC["bd_throw"], frames=50)
    assert x.shape == (3, 50, 25, 1) and x.dtype == np.float32
    assert np.abs(x[:, :, 20]).max() < 1e-6  # centred on the spine shoulder
    assert (x[1, 0, 3] > x[1, 0, 0]).all() and (x[1, 0, 0] > x[1, 0, 14]).all()  # head > spine base > ankle
    assert np.allclose(x[2, :, 4], x[2, :, 8], atol=1e-5) and (x[0, :, 8] > x[0, :, 4]).all()  # shoulders on +x


# ---------------------------------------------------------------- small files written by the tests

ASF = """# two-bone test skeleton
:version 1.10
:units
  mass 1.0
  length 1.0
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name up
     direction 0 1 0
     length 10
     axis 0 0 0 XYZ
    dof rz
  end
  begin
     id 2
     name side
     direction 1 0 0
     length 5
     axis 0 0 90 XYZ
    dof rx
  end
:hierarchy
  begin
    root up
    up side
  end
"""


def _amc(lines):
    return ":FULLY-SPECIFIED\n:DEGREES\n" + "\n".join(lines) + "\n"


def test_forward_kinematics_conventions(tmp_path):
    """Hand-checked: rz 90 turns +y to -x; a bone with axis (0 0 90) and rx 90 turns about the global y."""
    (tmp_path / "toy.asf").write_text(ASF)
    amc = tmp_path / "toy.amc"
    amc.write_text(_amc(["1", "root 0 0 0 0 0 0", "up 0", "side 0", "2", "root 1 2 3 0 0 0", "up 90", "side 0",
                         "3", "root 0 0 0 0 0 0", "up 0", "side 90"]))
    rec = read_amc(amc, rate=30)
    inch = 0.0254
    assert np.allclose(rec.joint("up")[0, 0], [0, 10 * inch, 0]) and np.allclose(rec.joint("side")[0, 0],
                                                                                [5 * inch, 10 * inch, 0])
    assert np.allclose(rec.joint("up")[0, 1], np.array([1 - 10, 2, 3]) * inch)  # +y turned to -x, root moved
    assert np.allclose(rec.joint("side")[0, 1], np.array([1 - 10, 2 + 5, 3]) * inch)  # child turns along: +x to +y
    assert np.allclose(rec.joint("side")[0, 2], np.array([0, 10, -5]) * inch)  # +x turned about y to -z
    assert rec.rate == pytest.approx(30.0)
    radians = tmp_path / "rad.amc"
    radians.write_text(":FULLY-SPECIFIED\n:RADIANS\n1\nroot 0 0 0 0 0 0\nup 1.5707963267948966\nside 0\n")
    assert np.allclose(read_amc(radians, asf=tmp_path / "toy.asf").joint("up")[0, 0], [-10 * inch, 0, 0])


def test_bad_amc_files_name_file_line_and_problem(tmp_path):
    (tmp_path / "toy.asf").write_text(ASF)
    lonely = tmp_path / "HDM_xx_wave_001_120.amc"
    lonely.write_text(_amc(["1", "root 0 0 0 0 0 0", "up 0", "side 0"]))
    with pytest.raises(DataError, match=r"HDM_xx_wave_001_120\.amc: no ASF skeleton found beside it "
                                        r"\(looked for HDM_xx\.asf, HDM_xx_wave_001_120\.asf\); give it with --asf"):
        read_amc(lonely)
    extra = tmp_path / "toy.amc"
    extra.write_text(_amc(["1", "root 0 0 0 0 0 0", "up 0", "side 0", "lfemur 1 2 3"]))
    with pytest.raises(DataError, match=r"toy\.amc:7: frame 1: bone 'lfemur' is not in the skeleton toy\.asf"):
        read_amc(extra)
    extra.write_text(_amc(["1", "root 0 0 0 0 0 0", "up 0", "side 0", "2", "root 0 0 0 0 0 0", "up 0 1", "side 0"]))
    with pytest.raises(DataError, match=r"toy\.amc:9: frame 2: bone 'up' has 2 values, its dof in toy\.asf needs 1"):
        read_amc(extra)
    extra.write_text(_amc(["1", "root 0 0 0 0 0 0", "side 0"]))
    with pytest.raises(DataError, match=r"toy\.amc:3: frame 1 has no line for 'up' \(the file is :FULLY-SPECIFIED\)"):
        read_amc(extra)
    (tmp_path / "toy.asf").write_text(ASF.replace("direction 1 0 0", "direction 1 0"))
    with pytest.raises(DataError, match=r"toy\.asf:\d+: bone side direction needs 3 numbers, got 2"):
        read_amc(extra)


def test_amc_reader_flags_on_the_command_line(tmp_path, capsys):
    (tmp_path / "toy.asf").write_text(ASF)
    amc = tmp_path / "take.amc"
    amc.write_text(_amc(["1", "root 0 0 0 0 0 0", "up 0", "side 0"]))
    assert main(["show", str(amc), "--out", str(tmp_path / "x.png")]) != 0
    assert "no ASF skeleton" in capsys.readouterr().err
    # with --asf the skeleton is read; this toy one lacks the joints NTU needs, and the error says which
    assert main(["show", str(amc), "--asf", str(tmp_path / "toy.asf"), "--fps", "30", "--out", str(tmp_path / "x.png")]) != 0
    assert "take.amc: acclaim skeleton lacks joints for NTU spine_mid (needs upperback or root+thorax)" in (
        capsys.readouterr().err)


# ---------------------------------------------------------------- commands on HDM05-style files


def test_predict_and_show_accept_amc(hdm05, mocap_run, tmp_path, capsys):
    run = mocap_run[1]
    files = [str(hdm05 / AMC["bd_throw"]), str(hdm05 / AMC["bd_lie"])]
    assert main(["predict", str(run), *files, "--classes", "throw a ball,lie down on the floor,wave",
                 "--format", "json", "--top-k", "3"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in rows] == [Path(f).stem for f in files]
    assert all(sorted(r["labels"]) == ["lie down on the floor", "throw a ball", "wave"] for r in rows)
    png = tmp_path / "lie.png"
    assert main(["show", files[1], "--out", str(png), "--run", str(run), "--classes", "throw,lie down"]) == 0
    from PIL import Image

    assert Image.open(png).size[0] > Image.open(png).size[1]  # a strip of frames


def _hdm05_style_folder(hdm05: Path, folder: Path, frames: int = 120) -> None:
    """Four 'motions' x 3 takes in HDM05 naming, made from the real files (arm and leg angles shifted)."""
    folder.mkdir()
    (folder / "HDM_bd.asf").symlink_to(hdm05 / "HDM_bd.asf")
    sources = {"throwBasketball": AMC["bd_throw"], "lieDownFloor": AMC["bd_lie"],
               "raiseArm": AMC["bd_throw"], "kickLeg": AMC["bd_throw"]}
    shifts = {"raiseArm": ("lhumerus", 60.0), "kickLeg": ("rfemur", -50.0)}
    for motion, name in sources.items():
        lines = (hdm05 / name).read_text(encoding="latin-1").splitlines()
        header = [l for l in lines[:5] if l.startswith((":", "#"))]
        body = lines[len(header):][: frames * 30]
        for take in range(1, 4):
            out = []
            for line in body:
                words = line.split()
                if motion in shifts and words[0] == shifts[motion][0]:
                    words[1] = str(float(words[1]) + shifts[motion][1] + 3 * take)
                out.append(" ".join(words))
            (folder / f"HDM_bd_{motion}_{take:03d}_120.amc").write_text("\n".join(header + out) + "\n")


HDM05_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "hdm05_samples"


@pytest.fixture(scope="module")
def mocap_run(tmp_path_factory):
    """``pgfa prepare mocap`` on HDM05-style files, then a one-epoch ``pgfa train`` on the prepared folder."""
    if not all((HDM05_DIR / name).is_file() for name in AMC.values()):
        pytest.skip(f"HDM05 samples not found in {HDM05_DIR}")
    tmp = tmp_path_factory.mktemp("mocap")
    raw, prepared, run = tmp / "raw", tmp / "prepared", tmp / "run"
    _hdm05_style_folder(HDM05_DIR, raw)
    assert main(["prepare", "mocap", "--raw", str(raw), "--out", str(prepared), "--workers", "1",
                 "--label-from-name", "HDM_[a-z]+_(.+)_[0-9]+_120"]) == 0
    assert main(["train", "--data", str(prepared), "--unseen", "1,3", "--out", str(run), "--epochs", "1",
                 "--batch-size", "4", "--set", "warmup_epochs=1"]) == 0
    return prepared, run


def test_prepare_mocap_then_train_and_evaluate(mocap_run, capsys):
    prepared, run = mocap_run
    classes = (prepared / "classes.txt").read_text().splitlines()
    assert classes == ["kickLeg", "lieDownFloor", "raiseArm", "throwBasketball"]  # alphabetical
    data, labels = np.load(prepared / "data.npy"), np.load(prepared / "label.npy")
    assert data.shape == (12, 3, 50, 25, 2) and data.dtype == np.float32 and not data[..., 1].any()
    assert sorted(np.bincount(labels)) == [3, 3, 3, 3]
    rows = (prepared / "samples.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:3] == ["name", "file", "subject"] and rows[1].split("\t")[2] == "HDM_bd"
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert manifest["dataset"] == "mocap" and manifest["samples"] == 12 and manifest["classes"] == classes
    from pgfa.data.formats import load_skeletons

    s = load_skeletons(prepared)
    assert s.class_names == classes and s.layout == "ntu25" and len(s) == 12
    assert main(["evaluate", str(run), "--no-align"]) == 0
    assert "unseen classes: 2, test samples: 6" in capsys.readouterr().out


def test_prepare_mocap_labels_and_classes_files(hdm05, tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in AMC.values():
        (raw / name).symlink_to(hdm05 / name)
    for asf in ("HDM_bd.asf", "HDM_dg.asf"):
        (raw / asf).symlink_to(hdm05 / asf)
    labels = tmp_path / "labels.tsv"
    labels.write_text(f"{AMC['bd_lie']}\tlie down\n{AMC['bd_throw']}\tthrow\nHDM_dg_throwBasketball_007_120\tthrow\n")
    out = tmp_path / "a"
    assert main(["prepare", "mocap", "--raw", str(raw), "--out", str(out), "--labels", str(labels),
                 "--workers", "1"]) == 0
    assert (out / "classes.txt").read_text().splitlines() == ["lie down", "throw"]  # the labels file's order
    texts = tmp_path / "classes.tsv"
    texts.write_text("throw\tthrow a basketball\nlie down\tlie down on the floor\n")
    assert main(["prepare", "mocap", "--raw", str(raw), "--out", str(out), "--labels", str(labels),
                 "--classes", str(texts), "--workers", "1", "--force"]) == 0
    assert (out / "classes.txt").read_text().splitlines() == ["throw\tthrow a basketball",
                                                              "lie down\tlie down on the floor"]
    assert list(np.load(out / "label.npy")) == [1, 0, 0]  # files in name order: bd_lie, bd_throw, dg_throw
    capsys.readouterr()
    labels.write_text("nosuchfile.amc\tthrow\n")
    assert main(["prepare", "mocap", "--raw", str(raw), "--out", str(tmp_path / "b"), "--labels", str(labels)]) != 0
    assert "'nosuchfile.amc' names no recording file" in capsys.readouterr().err
