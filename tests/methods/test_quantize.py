"""PT2E quantization: real int8 models of small networks (derived runs: tests/engine/test_quantized.py)."""

import pytest
import torch
from torch import nn

from greenkd_lib.methods import quantize as qz
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
