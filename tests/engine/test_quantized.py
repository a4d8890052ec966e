"""Quantized models as derived runs of the store: settings, their own cost, QAT resumes."""

import math

import pandas as pd
import pytest
import torch

from greenkd_lib.engine import quantized
from greenkd_lib.engine.configs import teacher_config
from greenkd_lib.engine.emissions import emissions_path
from greenkd_lib.paper.lab import Lab


def test_settings_are_checked_and_name_only_what_a_scheme_uses():
    quick = quantized.settings_for("quick")
    assert quick.calibration_images == 256 and quick.qat_epochs == 2
    assert quantized.settings_for("quick", qat_epochs=5).qat_epochs == 5
    assert quick.for_scheme("ptq") == {"calibration_images": 256}
    assert "calibration_images" not in quick.for_scheme("qat")
    with pytest.raises(ValueError, match="calibration_images must be a whole number >= 1, got 0"):
        quantized.settings_for("quick", calibration_images=0)
    with pytest.raises(ValueError, match="qat_lr must be a finite number > 0"):
        quantized.settings_for("quick", qat_lr=math.nan)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    lab = Lab("smoke", output_root=tmp_path_factory.mktemp("q"), progress=False, workers=1)
    return lab, teacher_config(lab.profile, "mobilenetv2", lab.dataset, 0, lab.carbon)


def test_a_quantized_model_is_a_derived_run_with_its_own_cost(smoke):
    lab, parent = smoke
    assert lab.store.run(parent.to_dict()).result() is None  # the parent is trained first
    settings = quantized.settings_for("smoke")
    result = quantized.quantize(parent, "ptq", store=lab.store, settings=settings)
    run = lab.store.run_by_hash(result["hash"])
    assert run.config["kind"] == "quantized" and run.config["parent"] == parent.to_dict()
    assert lab.store.run(parent.to_dict()).result() is not None
    assert result["flops"]["samples_seen"] == settings.calibration_images
    assert result["footprint"]["energy_kwh"] > 0 and 0 <= result["metrics"]["test_acc"] <= 100
    assert result["metrics"]["agreement_with_float"] >= 75  # the int8 model predicts as its float parent does
    int8 = [t for _, t in quantized.converted_model(lab.store, result["hash"]).named_buffers() if t.dtype == torch.int8]
    assert len(int8) == 53  # every convolution and the classifier hold int8 weights
    assert result["model"]["size_mb"] == pytest.approx((run.dir / quantized.MODEL_FILE).stat().st_size / 1e6)
    again = quantized.quantize(parent, "ptq", store=lab.store, settings=settings)  # read back, not made again
    assert again["finished_at"] == result["finished_at"]
    exported = quantized.export_float(parent, store=lab.store)
    assert exported["model"]["size_mb"] >= 3 * result["model"]["size_mb"]  # int8 weights, and the graph besides
    # Metered like a training, so it has its row in codecarbon's emissions.csv (once); the export is not metered.
    logged = pd.read_csv(emissions_path(lab.store), dtype={"run_id": str})
    assert logged["run_id"].tolist() == [lab.store.run(parent.to_dict()).hash, result["hash"]]
    assert logged["energy_consumed"].iloc[1] == result["footprint"]["energy_kwh"]
    with pytest.raises(ValueError, match="unknown quantization scheme 'int4'; choose one of ptq, qat"):
        quantized.quantize(parent, "int4", store=lab.store, settings=settings)


def test_qat_resumes_from_its_last_checkpoint(smoke):
    lab, parent = smoke
    settings = quantized.settings_for("smoke")
    first = quantized.quantize(parent, "qat", store=lab.store, settings=settings)
    run = lab.store.run_by_hash(first["hash"])
    assert [h["observers"] for h in first["history"]] == [True, False]  # frozen after the first epoch
    # As if killed during epoch 2: its checkpoint, the model and the result never written.
    newest = sorted(run.checkpoint_dir.glob("epoch_*.pt"))[-1]
    newest.unlink()
    newest.with_name(newest.name + ".sha256").unlink()
    run.result_path.unlink()
    (run.dir / quantized.MODEL_FILE).unlink()
    quantized._CONVERTED.clear()
    resumed = quantized.quantize(parent, "qat", store=lab.store, settings=settings)
    assert resumed["history"][0] == first["history"][0]  # epoch 1 read from its checkpoint
    assert resumed["history"][1]["train_loss"] == pytest.approx(first["history"][1]["train_loss"], rel=1e-5)
    assert resumed["flops"] == first["flops"]
    rebuilt = quantized.converted_model(lab.store, resumed["hash"])  # from the last checkpoint
    x = torch.randn(4, 3, 12, 12)
    assert torch.allclose(rebuilt(x), quantized.load_program(lab.store, resumed["hash"])(x), atol=1e-4)


def test_ptq_calibrates_unaugmented_and_qat_draws_augmentation_every_epoch(smoke, monkeypatch):
    import dataclasses
    import types

    from greenkd_lib.data.bundle import TransformSubset

    lab, parent = smoke
    bundle = quantized.data_mod.load_for(parent, lab.data_root)
    own = bundle.train.transform

    def jitter(image):  # an augmentation: a fresh draw from the global RNG on every read
        x = own(image) if own is not None else image
        return x + torch.rand(())

    train = TransformSubset(bundle.train.base, bundle.train.indices, jitter, types.SimpleNamespace(augment="jitter"))
    augmented = dataclasses.replace(bundle, train=train)
    monkeypatch.setattr(quantized.data_mod, "load_for", lambda *args, **kwargs: augmented)
    reads, real = [], quantized.split_tensors

    def spy(bundle_, split, limit=None, unaugmented=False):
        images, labels = real(bundle_, split, limit, unaugmented)
        reads.append((split, unaugmented, float(images.mean())))
        return images, labels

    monkeypatch.setattr(quantized, "split_tensors", spy)
    # Settings of their own: new derived runs of the parent the other tests trained.
    base = quantized.settings_for("smoke")
    settings = quantized.settings_for("smoke", calibration_images=base.calibration_images - 1,
                                      qat_lr=base.qat_lr / 2)
    quantized.quantize(parent, "ptq", store=lab.store, settings=settings)
    calibration = [(s, u) for s, u, _ in reads if s == "train"]
    assert calibration == [("train", True)]  # the evaluation transform: no jitter
    plain = real(bundle, "train", settings.calibration_images, unaugmented=True)[0]
    assert reads[0][2] == pytest.approx(float(plain.mean()))
    reads.clear()
    quantized.quantize(parent, "qat", store=lab.store, settings=settings)
    epochs = [(s, u, m) for s, u, m in reads if s == "train"]
    assert len(epochs) == settings.qat_epochs and not any(u for _, u, _ in epochs)
    assert epochs[0][2] != epochs[1][2]  # a fresh draw each epoch
