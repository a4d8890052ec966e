"""PT2E quantization: real int8 models of small networks, derived runs in the store, QAT resumes."""

import math

import pytest
import torch
from torch import nn

from greenkd_lib.methods import quantize as qz
from greenkd_lib.paper.lab import Lab
from greenkd_lib.engine.configs import teacher_config
from greenkd_lib.methods.quantize import pt2e


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def test_ptq_makes_an_int8_model_that_agrees_with_the_float_one():
    torch.manual_seed(0)
    model = _Tiny().eval()
    x = torch.randn(32, 3, 8, 8)
    prepared = pt2e.prepare_ptq(model, 8)
    assert pt2e.calibrate(prepared, x.split(8)) == 32
    converted = pt2e.convert(prepared)
    weights = [t for _, t in converted.named_buffers() if t.dtype == torch.int8]
    assert len(weights) == 2 and pt2e.float_layers(converted) == []  # conv and linear, both int8
    with torch.no_grad():
        float_out, int8_out = model(x), converted(x)
    assert (float_out.argmax(1) == int8_out.argmax(1)).float().mean() > 0.8
    assert not any(t.dtype == torch.float32 and t.numel() == 8 * 3 * 9 for _, t in converted.named_buffers())


def test_an_unquantized_layer_is_named():
    class Odd(_Tiny):
        def forward(self, x):  # a functional conv with a computed weight: the quantizer leaves it in float
            y = torch.nn.functional.conv2d(x, self.conv.weight * 2, padding=1)
            return self.head(y.mean((2, 3)))

    prepared = pt2e.prepare_ptq(Odd().eval(), 8)
    prepared(torch.randn(4, 3, 8, 8))
    with pytest.raises(pt2e.UnsupportedLayersError, match="left 1 layer\\(s\\) in float: .*allow_float_layers"):
        pt2e.convert(prepared)


def test_a_model_the_quantizer_refuses_is_named():
    from greenkd_lib import models

    with pytest.raises(pt2e.UnsupportedLayersError, match="cannot annotate ResNet.*residual block"):
        pt2e.prepare_ptq(models.build("resnet18", 10, 12), 12)


def test_qat_folds_batchnorm_and_trains_fake_quantized_weights():
    torch.manual_seed(0)
    model = _Tiny()
    prepared = pt2e.prepare_qat(model, 8)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.modules())
    before = [p.detach().clone() for p in prepared.parameters()]
    loss = prepared(torch.randn(8, 3, 8, 8)).sum()
    loss.backward()
    torch.optim.SGD(prepared.parameters(), lr=0.1).step()
    assert any(not torch.equal(a, b) for a, b in zip(before, prepared.parameters()))
    assert pt2e.float_layers(pt2e.convert(prepared)) == []


def test_the_int8_backend_is_probed_and_lowers_a_model():
    available, reason = pt2e.int8_backend()
    assert isinstance(available, bool) and reason
    if not available:
        pytest.skip(f"no int8 backend here: {reason}")
    model = _Tiny().eval()
    prepared = pt2e.prepare_ptq(model, 8)
    prepared(torch.randn(8, 3, 8, 8))
    converted = pt2e.convert(prepared)
    x = torch.randn(64, 3, 8, 8)
    labels = converted(x).argmax(1)
    assert qz.accuracy(converted, x, labels) > 90  # the lowered int8 kernels agree with the reference ops
    assert qz.latency_ms(converted, 8, 1, repeats=3, warmup=1) > 0


def test_settings_are_checked_and_name_only_what_a_scheme_uses():
    quick = qz.settings_for("quick")
    assert quick.calibration_images == 256 and quick.qat_epochs == 2
    assert qz.settings_for("quick", qat_epochs=5).qat_epochs == 5
    assert quick.for_scheme("ptq") == {"calibration_images": 256}
    assert "calibration_images" not in quick.for_scheme("qat")
    with pytest.raises(ValueError, match="calibration_images must be a whole number >= 1, got 0"):
        qz.settings_for("quick", calibration_images=0)
    with pytest.raises(ValueError, match="qat_lr must be a finite number > 0"):
        qz.settings_for("quick", qat_lr=math.nan)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    lab = Lab("smoke", output_root=tmp_path_factory.mktemp("q"), progress=False, workers=1)
    return lab, teacher_config(lab.profile, "mobilenetv2", lab.dataset, 0, lab.carbon)


def test_a_quantized_model_is_a_derived_run_with_its_own_cost(smoke):
    lab, parent = smoke
    assert lab.store.run(parent.to_dict()).result() is None  # the parent is trained first
    settings = qz.settings_for("smoke")
    result = qz.quantize(parent, "ptq", store=lab.store, settings=settings)
    run = lab.store.run_by_hash(result["hash"])
    assert run.config["kind"] == "quantized" and run.config["parent"] == parent.to_dict()
    assert lab.store.run(parent.to_dict()).result() is not None
    assert result["flops"]["samples_seen"] == settings.calibration_images
    assert result["footprint"]["energy_kwh"] > 0 and 0 <= result["metrics"]["test_acc"] <= 100
    assert result["metrics"]["agreement_with_float"] >= 75  # the int8 model predicts as its float parent does
    int8 = [t for _, t in qz.converted_model(lab.store, result["hash"]).named_buffers() if t.dtype == torch.int8]
    assert len(int8) == 53  # every convolution and the classifier hold int8 weights
    assert result["model"]["size_mb"] == pytest.approx((run.dir / qz.MODEL_FILE).stat().st_size / 1e6)
    again = qz.quantize(parent, "ptq", store=lab.store, settings=settings)  # read back, not made again
    assert again["finished_at"] == result["finished_at"]
    exported = qz.export_float(parent, store=lab.store)
    assert exported["model"]["size_mb"] >= 3 * result["model"]["size_mb"]  # int8 weights, and the graph besides
    with pytest.raises(ValueError, match="unknown quantization scheme 'int4'; choose one of ptq, qat"):
        qz.quantize(parent, "int4", store=lab.store, settings=settings)


def test_qat_resumes_from_its_last_checkpoint(smoke):
    lab, parent = smoke
    settings = qz.settings_for("smoke")
    first = qz.quantize(parent, "qat", store=lab.store, settings=settings)
    run = lab.store.run_by_hash(first["hash"])
    assert [h["observers"] for h in first["history"]] == [True, False]  # frozen after the first epoch
    # As if killed during epoch 2: its checkpoint, the model and the result never written.
    newest = sorted(run.checkpoint_dir.glob("epoch_*.pt"))[-1]
    newest.unlink()
    newest.with_name(newest.name + ".sha256").unlink()
    run.result_path.unlink()
    (run.dir / qz.MODEL_FILE).unlink()
    qz.derived._CONVERTED.clear()
    resumed = qz.quantize(parent, "qat", store=lab.store, settings=settings)
    assert resumed["history"][0] == first["history"][0]  # epoch 1 read from its checkpoint
    assert resumed["history"][1]["train_loss"] == pytest.approx(first["history"][1]["train_loss"], rel=1e-5)
    assert resumed["flops"] == first["flops"]
    rebuilt = qz.converted_model(lab.store, resumed["hash"])  # from the last checkpoint
    x = torch.randn(4, 3, 12, 12)
    assert torch.allclose(rebuilt(x), qz.load_program(lab.store, resumed["hash"])(x), atol=1e-4)
