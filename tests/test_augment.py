"""Skeleton augmentation (issue 19): each augmentation does what it says, draws are seeded, training uses it."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pgfa.config import AUGMENTATIONS, ConfigError, TrainConfig
from pgfa.data.layouts import NTU25, Layout
from pgfa.data.skeletons import ClassText
from pgfa.experiments.report import _setup_section
from pgfa.training import augment as aug
from pgfa.training.loop import train

DATA = "synthetic:samples_per_class=6,seed=0"
N, T, V, M = 6, 20, 25, 2


def batch(seed: int = 0, second_body: bool = False) -> torch.Tensor:
    """``(N, 3, T, V, M)`` random poses; the second body zero (padding) unless asked for."""
    x = torch.randn(N, 3, T, V, M, generator=torch.Generator().manual_seed(seed))
    if not second_body:
        x[..., 1] = 0
    return x


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bone_lengths(x: torch.Tensor) -> torch.Tensor:
    child, parent = zip(*NTU25.bones)
    return (x[:, :, :, list(child)] - x[:, :, :, list(parent)]).norm(dim=1)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_each_augmentation_keeps_shape_dtype_device_and_zero_padding(name, device):
    x = batch().to(device)
    out = aug.augment_batch(x, [name], torch.Generator(device=device).manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert torch.equal(out[..., 1], torch.zeros_like(out[..., 1]))  # the absent second body stays zero
    assert not torch.equal(out, x)  # it did something
    assert torch.equal(x, batch().to(device))  # the input batch is not modified


def test_rotation_keeps_bone_lengths_and_the_vertical_coordinate():
    x = batch()
    out = aug.rotate(x, gen())
    assert torch.allclose(bone_lengths(out), bone_lengths(x), atol=1e-5)
    assert torch.equal(out[:, aug.VERTICAL], x[:, aug.VERTICAL])
    # the angle in the horizontal plane moved by at most ROTATE_DEGREES, the same for every joint of a sample
    before = torch.atan2(x[:, aug.DEPTH], x[:, aug.LATERAL])
    after = torch.atan2(out[:, aug.DEPTH], out[:, aug.LATERAL])
    turn = torch.rad2deg(torch.remainder(before - after + np.pi, 2 * np.pi) - np.pi)[..., 0]  # (N, T, V), body 0
    assert turn.abs().max() <= aug.ROTATE_DEGREES + 1e-3
    assert torch.allclose(turn, turn[:, :1, :1].expand_as(turn), atol=1e-3)


def test_scale_multiplies_each_sample_by_one_factor_in_range():
    x = batch()
    ratio = aug.scale(x, gen())[..., 0] / x[..., 0]
    per_sample = ratio.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-5)
    assert ((per_sample >= aug.SCALE_RANGE[0]) & (per_sample <= aug.SCALE_RANGE[1])).all()


def test_shear_is_identity_plus_bounded_off_diagonals():
    x = torch.zeros(N, 3, T, V, M)
    for axis in range(3):
        unit = x.clone()
        unit[:, axis] = 1.0
        column = aug.shear(unit, gen(7))[:, :, 0, 0, 0]  # (N, 3): column `axis` of each sample's matrix
        assert torch.allclose(column[:, axis], torch.ones(N))
        others = [a for a in range(3) if a != axis]
        assert (column[:, others].abs() <= aug.SHEAR).all() and (column[:, others] != 0).all()


def frame_clock(t: int = T) -> torch.Tensor:
    """A batch whose every coordinate equals its frame index: resampling shows which frame lands where."""
    return torch.arange(t, dtype=torch.float32).view(1, 1, t, 1, 1).expand(N, 3, t, V, 1).clone()


def test_crop_keeps_t_frames_of_a_contiguous_window():
    out = aug.crop(frame_clock(), gen())[:, 0, :, 0, 0]  # (N, T) source frame of each output frame
    assert out.shape == (N, T)
    steps = out.diff(dim=1)
    assert torch.allclose(steps, steps[:, :1].expand_as(steps), atol=1e-4)  # evenly spaced: one window
    span = out[:, -1] - out[:, 0]
    assert ((span >= aug.CROP_RANGE[0] * (T - 1) - 1e-4) & (span <= (T - 1) + 1e-4)).all()
    assert (out >= 0).all() and (out <= T - 1).all() and (span < T - 1).any()


def test_speed_changes_the_pace_and_holds_the_last_pose():
    out = aug.speed(frame_clock(), torch.Generator().manual_seed(3))[:, 0, :, 0, 0]
    assert out.shape == (N, T)
    pace = out[:, 1] - out[:, 0]
    assert ((pace >= aug.SPEED_RANGE[0] - 1e-4) & (pace <= aug.SPEED_RANGE[1] + 1e-4)).all()
    assert (out <= T - 1).all() and (out >= 0).all()
    faster = pace > 1
    if faster.any():  # past the end the last frame is held
        assert torch.allclose(out[faster, -1], torch.full_like(out[faster, -1], T - 1.0))
    many = aug.speed(frame_clock(), gen(5))[:, 0, :, 0, 0]
    assert ((many[:, 1] - many[:, 0]) != 1).all()


def test_noise_has_the_stated_scale_and_spares_absent_frames():
    x = batch(second_body=True).repeat(20, 1, 1, 1, 1)
    x[0, :, 5:, :, 1] = 0  # sample 0's second body leaves after frame 5
    diff = aug.noise(x, gen()) - x
    assert abs(diff[1:].std().item() - aug.NOISE_STD) < 0.05 * aug.NOISE_STD
    assert torch.equal(diff[0, :, 5:, :, 1], torch.zeros_like(diff[0, :, 5:, :, 1]))


def test_mirror_permutation_swaps_left_and_right_joints_of_ntu25():
    perm = aug.mirror_permutation(NTU25)
    names = NTU25.joints
    for i, j in enumerate(perm):
        assert names[j] == names[i].replace("left", "R").replace("right", "left").replace("R", "right")
    assert perm[4] == 8 and perm[21] == 23 and perm[0] == 0 and perm[20] == 20


def always_mirror(monkeypatch):
    monkeypatch.setattr(aug, "MIRROR_PROBABILITY", 1.1)


def test_mirror_swaps_pairs_negates_x_and_is_an_involution(monkeypatch):
    always_mirror(monkeypatch)
    x = batch(second_body=True)
    out = aug.mirror(x, gen())
    perm = list(aug.mirror_permutation(NTU25))
    assert torch.equal(out[:, aug.LATERAL], -x[:, aug.LATERAL][:, :, perm])
    assert torch.equal(out[:, 1:], x[:, 1:][:, :, :, perm])
    assert torch.equal(aug.mirror(out, gen()), x)


def test_mirror_leaves_masked_samples_untouched(monkeypatch):
    always_mirror(monkeypatch)
    x = batch()
    allowed = torch.tensor([True, False, True, False, False, True])
    out = aug.mirror(x, gen(), allowed)
    assert torch.equal(out[~allowed], x[~allowed])
    assert not torch.equal(out[allowed], x[allowed])


def test_classes_whose_texts_name_a_side_are_never_mirrored():
    texts = [ClassText("wave left hand"), ClassText("clap", "the Right hand meets the other"),
             ClassText("kick", "a left-footed kick"), ClassText("jump", "both feet leave the ground; leftover"),
             ClassText("bright light", "copyright")]
    assert aug.mirror_allowed(texts).tolist() == [False, False, False, True, True]


def test_a_layout_without_left_right_pairs_refuses_mirror():
    plain = Layout(name="plain3", joints=("a", "b", "c"), bones=((1, 0), (2, 1)), center=0, shoulders=(1, 2))
    with pytest.raises(ConfigError, match="mirror") as err:
        aug.BatchAugmenter(["mirror"], plain, [ClassText("x")], 0, "cpu")
    assert err.value.key == "augment"
    aug.BatchAugmenter(["rotate"], plain, [ClassText("x")], 0, "cpu")  # other augmentations are fine


def test_augmenter_mirrors_by_class_text(monkeypatch):
    always_mirror(monkeypatch)
    augmenter = aug.BatchAugmenter(["mirror"], "ntu25", [ClassText("wave left hand"), ClassText("clap")], 0, "cpu")
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    x = batch()
    out = augmenter.for_batch(0, 0)(x, labels)
    assert torch.equal(out[labels == 0], x[labels == 0]) and not torch.equal(out[labels == 1], x[labels == 1])
    assert "1 of 2 classes" in augmenter.describe()


def test_draws_depend_on_seed_epoch_step_only():
    names = list(AUGMENTATIONS)
    texts = [ClassText("clap")]

    def draw(seed, epoch, step):
        augmenter = aug.BatchAugmenter(names, "ntu25", texts, seed, "cpu")
        return augmenter.for_batch(epoch, step)(batch(), torch.zeros(N, dtype=torch.long))

    state = torch.get_rng_state()
    first = draw(0, 1, 2)
    assert torch.equal(torch.get_rng_state(), state)  # the global stream (dropout) is not touched
    assert torch.equal(first, draw(0, 1, 2))
    for other in (draw(0, 1, 3), draw(0, 2, 2), draw(1, 1, 2)):
        assert not torch.equal(first, other)


def test_the_order_of_names_does_not_matter_and_unknown_names_are_refused():
    a = aug.augment_batch(batch(), ["noise", "rotate", "crop"], gen())
    b = aug.augment_batch(batch(), ["crop", "rotate", "noise"], gen())
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="flip"):
        aug.augment_batch(batch(), ["flip"], gen())


def test_config_records_augment_and_names_the_field_on_a_bad_value(tmp_path):
    config = TrainConfig(augment=["mirror", "rotate"])
    config.save(tmp_path / "config.yaml")
    assert "augment" in (tmp_path / "config.yaml").read_text()
    assert TrainConfig.load(tmp_path / "config.yaml") == config
    TrainConfig().save(tmp_path / "plain.yaml")
    assert "augment" not in (tmp_path / "plain.yaml").read_text()  # paper runs keep the old format
    for bad in (["flip"], ["rotate", "rotate"], "rotate"):
        with pytest.raises(ConfigError, match="augment") as err:
            TrainConfig(augment=bad)
        assert err.value.key == "augment"


def test_the_report_setup_names_the_augmentation():
    def setup(augment):
        plan = SimpleNamespace(setting="demo", dataset=None, base=TrainConfig(augment=augment), methods=["pgfa"],
                               seeds=[0], splits=[("a", [1])], notes=[])
        return "\n".join(_setup_section(plan, {"selection": "seen validation", "wall_seconds": 1}))

    assert "augmentation of training batches: rotate, noise" in setup(["rotate", "noise"])
    assert "augmentation of training batches: none" in setup([])


def tiny(method: str, augment: list[str], **extra) -> TrainConfig:
    return TrainConfig(data=DATA, unseen=[4, 11], epochs=1, max_steps=2, batch_size=16, warmup_epochs=1,
                       method=method, augment=augment, device="cpu", **extra)


@pytest.mark.parametrize("method", ["pgfa", "two-stage"])
def test_training_augments_training_steps_only_and_records_it(tmp_path, monkeypatch, method):
    calls = []
    real = aug.augment_batch

    def counted(x, names, generator, mirror_ok=None, layout="ntu25"):
        calls.append(x.shape[0])
        return real(x, names, generator, mirror_ok, layout)

    monkeypatch.setattr(aug, "augment_batch", counted)
    lines = []
    config = tiny(method, ["rotate", "mirror", "noise"], bn_recalibration=8)
    run = train(config, tmp_path / "run", progress=False, log=lines.append)
    # two training steps of 16 samples; validation, BatchNorm recalibration and the projection stage see none
    assert calls == [16, 16]
    assert TrainConfig.load(run / "config.yaml").augment == ["rotate", "mirror", "noise"]
    # the log names them in the order they are applied
    assert any("augmentation: rotate, noise, mirror (mirror skipped for" in line for line in lines)
    assert (run / "best.pt").is_file()


@pytest.mark.parametrize("method", ["pgfa", "two-stage"])
def test_without_augment_the_training_step_is_called_as_before(tmp_path, monkeypatch, method):
    """``augment: []``: no augmenter, no generator, and every step gets exactly ``(idx, epoch)``."""
    def refuse(*args, **kwargs):
        raise AssertionError("augmentation path entered")

    monkeypatch.setattr(aug, "augment_batch", refuse)
    monkeypatch.setattr(aug, "batch_generator", refuse)
    monkeypatch.setattr(aug, "BatchAugmenter", refuse)
    from pgfa.training import loop, two_stage

    trainer_class = loop.PgfaTrainer if method == "pgfa" else two_stage.ClassifierTrainer
    seen = []
    real_step = trainer_class.step

    def spy(self, *args, **kwargs):
        seen.append((len(args), sorted(kwargs)))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(trainer_class, "step", spy)
    lines = []
    train(tiny(method, []), tmp_path / "run", progress=False, log=lines.append)
    assert seen == [(2, []), (2, [])]
    assert not any("augmentation" in line for line in lines)
