"""Using a trained run on new data: the Python API (README example) and `pgfa predict`."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from pgfa.cli.main import main

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("predict") / "run"
    assert main(["train", "--data", "synthetic:samples_per_class=6,seed=0", "--unseen", "4,11", "--out", str(out),
                 "--epochs", "1", "--batch-size", "16", "--set", "warmup_epochs=1"]) == 0
    return out


def test_readme_python_example_runs(run, capsys):
    block = re.search(r"From Python:\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    exec(block.replace('"runs/demo/fixed"', repr(str(run))), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("[") for line in lines)


def test_api_shapes_and_unit_features(run):
    import pgfa

    model = pgfa.load(run)
    x = np.random.default_rng(0).normal(size=(3, 3, 50, 25, 2)).astype(np.float32)
    f = model.encode_skeletons(x)
    assert f.shape == (3, 384) and np.allclose(np.linalg.norm(f, axis=1), 1, atol=1e-5)
    preds = model.predict(x, ["a\tone person waves", "b", "c"], top_k=2, align=True)
    assert len(preds) == 3 and all(len(p.labels) == 2 and p.scores[0] >= p.scores[1] for p in preds)
    with pytest.raises(ValueError, match="NaN"):
        model.encode_skeletons(np.full((1, 3, 50, 25, 2), np.nan, dtype=np.float32))


def test_predict_cli_on_raw_ntu_files_and_arrays(run, shared_data, tmp_path, capsys):
    arrays = tmp_path / "x.npy"
    np.save(arrays, np.random.default_rng(1).normal(size=(2, 3, 50, 25, 2)).astype(np.float32))
    assert main(["predict", str(run), str(shared_data / "ntu_samples"), str(arrays),
                 "--classes", "drink water,shake hands,reading", "--format", "json", "--top-k", "3"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in rows][:1] == ["S001C001P001R001A011"] and len(rows) == 7
    assert all(sorted(r["labels"]) == ["drink water", "reading", "shake hands"] for r in rows)


def test_show_renders_png_strip_and_gif(run, tmp_path):
    from PIL import Image

    seq = tmp_path / "seq.npy"
    data = np.zeros((3, 20, 25, 2), dtype=np.float32)
    data[1, :, 3, 0] = 0.3  # a head above the centre
    data[0, :, 8, 0] = np.linspace(0.1, 0.4, 20)  # a moving right shoulder
    np.save(seq, data)
    png, gif = tmp_path / "s.png", tmp_path / "s.gif"
    assert main(["show", str(seq), "--out", str(png), "--run", str(run), "--classes", "a,b"]) == 0
    assert Image.open(png).size == (1600, 260)  # 8 panels of 2 x 2.6 inches at 100 dpi
    assert main(["show", str(seq), "--out", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 20 and im.size[0] > 100
    assert main(["show", str(seq), "--out", str(png)]) == 2  # exists: refused without --force


def test_online_prediction_ranks_each_input_against_the_stream_so_far(run, tmp_path, capsys):
    """`pgfa predict --online`: the first input sees only itself, the last input sees them all (= batch)."""
    import pgfa

    model = pgfa.load(run)
    x = np.random.default_rng(2).normal(size=(4, 3, 50, 25, 2)).astype(np.float32)
    classes = ["wave", "kick", "squat"]
    online = model.predict(x, classes, online=True, top_k=3)
    batch = model.predict(x, classes, align=True, top_k=3)
    first_alone = model.predict(x[:1], classes, align=True, top_k=3)
    for a, b in ((online[0], first_alone[0]), (online[-1], batch[-1])):
        assert a.labels == b.labels and np.allclose(a.scores, b.scores, atol=1e-3)
    arrays = tmp_path / "x.npy"
    np.save(arrays, x)
    assert main(["predict", str(run), str(arrays), "--classes", ",".join(classes), "--online",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["labels"][0] for r in rows] == [p.labels[0] for p in online]
