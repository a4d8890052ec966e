"""Tests of the device input path: greenkd_lib.data.device (splits on the device) and .augment (batch augmentation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision.transforms.v2 import functional as TF

from greenkd_lib.config.profiles import get_profile
from greenkd_lib.data import load
from greenkd_lib.data.augment import AugmentParams, BatchAugment
from greenkd_lib.data.device import on_device, shuffled
from greenkd_lib.engine import inputs as inputs_module
from greenkd_lib.engine.configs import method_config, student_config, teacher_config
from greenkd_lib.engine.evaluate import predict
from greenkd_lib.engine.inputs import precision_context
from greenkd_lib.engine.train import get_or_run
from greenkd_lib.methods import FixedTemperature
from greenkd_lib.runs import RunStore
from tests.helpers import datagen

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    datagen.write_cifar10(root)
    datagen.write_tinyimagenet(root)
    return root


def _images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ order and items
@pytest.mark.parametrize("n,batch", [(1, 4), (37, 8), (96, 16), (1293, 32)])
def test_shuffled_is_the_dataloaders_order(n, batch):
    order = [int(i) for b in DataLoader(list(range(n)), batch_size=batch, shuffle=True,
                                        generator=torch.Generator().manual_seed(n + 7)) for i in b]
    assert shuffled(n, torch.Generator().manual_seed(n + 7)).tolist() == order


def test_digits_batches_equal_the_dataloaders_with_indices():
    bundle = load("digits", image_size=12, subset=200)
    held = on_device(bundle.train, CPU)
    assert held is not None and held.form is None
    loader = DataLoader(inputs_module.WithIndex(bundle.train), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(3))
    got = list(held.epoch(torch.Generator().manual_seed(3), 32))
    want = list(loader)
    assert len(got) == len(want)
    for (x, y, i), (x0, y0, i0) in zip(got, want):
        assert torch.equal(x, x0) and torch.equal(y, y0) and torch.equal(i, i0)
    assert len(list(held.epoch(torch.Generator().manual_seed(3), 32, steps=2))) == 2


def test_eval_batches_equal_the_per_sample_transform(cifar):
    """CIFAR val/test (and Tiny ImageNet's, resized) on the device: the DataLoader's tensors, bit for bit."""
    for name, size in (("cifar10", 32), ("cifar10", 24), ("tinyimagenet", 64), ("tinyimagenet", 48)):
        bundle = load(name, cifar, image_size=size)
        for split in (bundle.val, bundle.test):
            held = on_device(split, CPU)
            assert held is not None and held.images.dtype == torch.uint8
            got = torch.cat([x for x, _ in held.in_order(7)])
            want = torch.cat([x for x, _ in DataLoader(split, batch_size=7)])
            assert torch.equal(got, want), (name, size)
            assert torch.equal(torch.cat([y for _, y in held.in_order(7)]), torch.as_tensor(split.targets))


def test_predict_takes_the_device_path_and_agrees(cifar):
    bundle = load("cifar10", cifar)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    fast = predict(model, bundle.test, CPU, batch_size=16)
    slow = predict(model, DataLoader(bundle.test, batch_size=16), CPU)
    np.testing.assert_allclose(fast.logits, slow.logits, rtol=0, atol=1e-6)
    assert (fast.y_true == slow.y_true).all()


def test_training_view_is_seeded_and_augmented(cifar):
    bundle = load("cifar10", cifar)
    held = on_device(bundle.train, CPU)
    assert held.form.augment == BatchAugment(padding=4, flip=True, degrees=15.0)
    a = [x for x, _, _ in held.epoch(torch.Generator().manual_seed(5), 16)]
    b = [x for x, _, _ in held.epoch(torch.Generator().manual_seed(5), 16)]
    c = [x for x, _, _ in held.epoch(torch.Generator().manual_seed(6), 16)]
    assert all(torch.equal(p, q) for p, q in zip(a, b))  # same (seed, epoch): same batches (resume)
    assert not all(torch.equal(p, q) for p, q in zip(a, c))
    plain = on_device(bundle.train, CPU, augment=False)
    assert plain.form.augment is None
    tiny = on_device(load("tinyimagenet", cifar).train, CPU)
    assert tiny.form.augment == BatchAugment(padding=0, flip=True, degrees=20.0)


def test_unknown_views_fall_back_to_a_dataloader():
    assert on_device([(torch.zeros(3, 4, 4), 0)], CPU) is None
    bundle = load("digits", image_size=12, subset=50)
    assert on_device(bundle.train, CPU, max_bytes=10) is None


# ------------------------------------------------------------------ augmentation = torchvision's, distribution too
def test_batch_augmentation_equals_torchvision_per_sample():
    """For the same offsets, flips and angles, each image equals torchvision's kernels applied to it alone."""
    for size, aug in ((32, BatchAugment(padding=4, flip=True, degrees=15.0)),
                      (64, BatchAugment(padding=0, flip=True, degrees=20.0))):
        x = _images(64, size)
        p = aug.draw(64, torch.Generator().manual_seed(size))
        out = aug.apply(x, p)
        mismatched = 0
        for i in range(len(x)):
            ref = x[i]
            if aug.padding:
                ref = TF.pad(ref, [aug.padding] * 4)
                ref = TF.crop(ref, int(p.top[i]), int(p.left[i]), size, size)
            if bool(p.flip[i]):
                ref = TF.horizontal_flip(ref)
            ref = TF.rotate(ref, float(p.angle[i]))  # nearest, zero fill: RandomRotation's defaults
            mismatched += int((out[i] != ref).sum())
        # Nearest-neighbour ties could round differently; none seen, and at most a pixel in 10,000 allowed.
        assert mismatched <= out.numel() // 10_000, mismatched


def test_crop_and_flip_alone_are_exact():
    aug = BatchAugment(padding=4, flip=True)
    x = _images(16, 32, seed=1)
    p = AugmentParams(top=torch.arange(16) % 9, left=(torch.arange(16) * 5) % 9,
                      flip=torch.arange(16) % 2 == 0, angle=torch.zeros(16, dtype=torch.float64))
    out = aug.apply(x, p)
    for i in range(16):
        ref = TF.crop(TF.pad(x[i], [4] * 4), int(p.top[i]), int(p.left[i]), 32, 32)
        ref = TF.horizontal_flip(ref) if bool(p.flip[i]) else ref
        assert torch.equal(out[i], ref)
    centred = AugmentParams(torch.full((16,), 4), torch.full((16,), 4), torch.zeros(16, dtype=torch.bool),
                            torch.zeros(16, dtype=torch.float64))
    assert torch.equal(aug.apply(x, centred), x)


@pytest.mark.parametrize("aug", [BatchAugment(padding=4, flip=True, degrees=15.0),
                                 BatchAugment(flip=True, degrees=20.0)])
def test_parameter_distributions_are_the_recipes(aug):
    """RandomCrop(padding): offsets uniform on 0..2*padding; flip p = 0.5; RandomRotation(d): uniform on [-d, d]."""
    n = 90_000
    p = aug.draw(n, torch.Generator().manual_seed(0))
    for offsets in (p.top, p.left):
        counts = torch.bincount(offsets, minlength=2 * aug.padding + 1).double()
        assert len(counts) == 2 * aug.padding + 1
        expected = n / len(counts)
        assert float(((counts - expected) ** 2 / expected).sum()) < 30  # chi-square, 8 dof: p < 1e-3 above 26
    assert abs(float(p.flip.double().mean()) - 0.5) < 0.01  # 6 sigma
    assert float(p.angle.abs().max()) <= aug.degrees
    bins = torch.histc(p.angle.float(), bins=10, min=-aug.degrees, max=aug.degrees)
    assert float((bins - n / 10).abs().max()) < 6 * (n / 10) ** 0.5
    # Independent: flipped and unflipped samples have the same mean angle and offset.
    assert abs(float(p.angle[p.flip].mean() - p.angle[~p.flip].mean())) < 0.2


def test_rotation_keeps_the_content_within_the_angle():
    """A bright dot at the corner moves along its circle by the drawn angle, counter-clockwise as torchvision's."""
    x = torch.zeros(1, 1, 33, 33, dtype=torch.uint8)
    x[0, 0, 16, 30] = 255  # 14 px right of the centre
    out = BatchAugment(degrees=90.0).apply(x, AugmentParams(torch.zeros(1, dtype=torch.long),
                                                            torch.zeros(1, dtype=torch.long),
                                                            torch.zeros(1, dtype=torch.bool),
                                                            torch.tensor([90.0], dtype=torch.float64)))
    assert out[0, 0, 2, 16] == 255 and int(out.sum()) == 255  # now 14 px above the centre


# ------------------------------------------------------------------ runs: same numbers as the DataLoader path
def _history(store: RunStore, cfg) -> pd.DataFrame:
    return store.run(cfg.to_dict()).history().drop(columns=["wall_s", "energy_kwh", "co2_g"])


def test_smoke_kd_and_cmc_runs_equal_the_dataloader_path(tmp_path, monkeypatch):
    """digits has no augmentation: the device path must give the old path's numbers, CMC's indices included."""
    profile = get_profile("smoke", epochs=2, max_batches=3, subset=96)
    teacher = teacher_config(profile, "resnet18", "digits", seed=0)
    cfgs = [teacher,
            student_config(profile, "mobilenetv2", teacher, FixedTemperature(4).config(), seed=0),
            method_config(profile, "cmc", "mobilenetv2", "digits", 0, teacher=teacher,
                          temperature=FixedTemperature(4).config())]
    histories = {}
    for device_input in (True, False):
        monkeypatch.setattr(inputs_module, "DEVICE_INPUT", device_input)
        store = RunStore(tmp_path / str(device_input))
        histories[device_input] = [(get_or_run(c, store=store, device="cpu", progress=False)["metrics"],
                                    _history(store, c)) for c in cfgs]
    for (m_new, h_new), (m_old, h_old) in zip(histories[True], histories[False]):
        pd.testing.assert_frame_equal(h_new, h_old, check_exact=True)
        assert {k: v for k, v in m_new.items() if k != "images_per_s"} == \
            {k: v for k, v in m_old.items() if k != "images_per_s"}


# ------------------------------------------------------------------ precision
def test_precision_is_checked_and_stored_only_when_not_the_default(monkeypatch):
    profile = get_profile("smoke")
    cfg = teacher_config(profile, "resnet18", "digits", seed=0)
    assert "precision" not in cfg.to_dict() and "channels_last" not in cfg.to_dict()  # stored hashes kept
    bf16 = teacher_config(profile.replace(precision="bf16", channels_last=False), "resnet18", "digits", seed=0)
    assert bf16.to_dict()["precision"] == "bf16" and bf16.to_dict()["channels_last"] is False
    with pytest.raises(ValueError, match="precision must be 'fp32' or 'bf16'"):
        profile.replace(precision="fp16")
    with pytest.raises(ValueError, match="precision='fp32'"):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "an old GPU")
        precision_context("bf16", torch.device("cuda"))
    with torch.no_grad(), precision_context("bf16", CPU)():
        assert torch.nn.Linear(4, 4)(torch.ones(1, 4)).dtype == torch.bfloat16


def test_a_bf16_run_trains_and_records_its_precision(tmp_path):
    profile = get_profile("smoke", epochs=1, max_batches=2, subset=48, precision="bf16")
    cfg = teacher_config(profile, "mobilenetv2", "digits", seed=0)
    result = get_or_run(cfg, store=RunStore(tmp_path), device="cpu", progress=False)
    assert result["precision"] == "bf16" and result["channels_last"] is True
    assert np.isfinite(result["metrics"]["best_val_acc"])


def test_views_that_stay_off_the_device_use_the_profiles_workers(monkeypatch):
    bundle = load("digits", image_size=12, subset=40)
    monkeypatch.setattr(inputs_module, "DEVICE_INPUT", False)
    inputs = inputs_module.Inputs(bundle, CPU, 2, False, torch.channels_last)
    assert inputs.eval("val", 8).num_workers == 2
    paper_cfg = teacher_config(get_profile("paper"), "resnet18", "cifar10", seed=0)
    assert inputs_module.num_workers_for(paper_cfg) == 4  # the paper profile's num_workers
    assert inputs_module.num_workers_for(teacher_config(get_profile("quick"), "resnet18", "digits", seed=0)) == 0


def test_bf16_on_a_gpu_without_it_fails_before_the_run_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla V100")
    cfg = teacher_config(get_profile("smoke", precision="bf16"), "resnet18", "digits", seed=0)
    store = RunStore(tmp_path / "runs")
    with pytest.raises(ValueError, match=r"Tesla V100 does not: use precision='fp32'"):
        get_or_run(cfg, store=store, device="cuda", progress=False)
    assert not any((tmp_path / "runs").rglob("config.json"))
