"""Models: shapes, sizes, FLOPs and the Grad-CAM layer, through the public API."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from greenkd_lib.models import (build, count_parameters, forward_flops, gradcam_layer, model_size_bytes, MODELS,
                                UnknownModelError)

SIZES = (16, 32, 64)


@functools.lru_cache(maxsize=None)
def _model(name: str, size: int = 32, classes: int = 100) -> nn.Module:
    torch.manual_seed(0)
    return build(name, classes, size)


def _output_shape(model: nn.Module, layer: nn.Module, size: int) -> torch.Size:
    captured = []
    handle = layer.register_forward_hook(lambda m, a, out: captured.append(out.shape))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, size, size))
    finally:
        handle.remove()
    return captured[0]


@pytest.mark.parametrize("name, classes, expected, rel", [
    ("resnet18", 100, 11.2e6, 0.01),
    ("mobilenetv2", 100, 2.36e6, 0.01),
    ("shufflenetv2", 100, 1.3e6, 0.05),
    ("wrn_40_2", 10, 2.2e6, 0.03),
    ("wrn_16_1", 10, 0.175e6, 0.03),
])
def test_parameter_counts_match_the_cifar_variants(name, classes, expected, rel):
    assert count_parameters(_model(name, 32, classes)) == pytest.approx(expected, rel=rel)


def test_vgg16_has_the_cifar_classifier():
    model = _model("vgg16")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 100)]
    assert count_parameters(model) == pytest.approx(14.8e6, rel=0.01)


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_attributes_at_every_size(name):
    for size in SIZES:
        model = _model(name, size)
        assert (model.arch_name, model.image_size, model.num_classes) == (name, size, 100)
        with torch.no_grad():
            out = model.eval()(torch.randn(2, 3, size, size))
        assert out.shape == (2, 100) and torch.isfinite(out).all()


def test_build_makes_fresh_trainable_models_and_accepts_other_spellings():
    a, b = build("ResNet18", 10), build("resnet18", 10)
    assert a.arch_name == "resnet18" and a.image_size == 32
    assert a.conv1.weight.data_ptr() != b.conv1.weight.data_ptr()
    assert build("wrn-16-1", 7).arch_name == "wrn_16_1"
    from_numpy = build("wrn_16_1", np.int64(7), np.int64(16))  # sizes read from data set metadata
    assert type(from_numpy.num_classes) is int and type(from_numpy.image_size) is int
    model = build("shufflenetv2", 5, 16).train()
    model(torch.randn(2, 3, 16, 16)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_cifar_stems_keep_stride_one():
    assert _model("resnet18").conv1.stride == (1, 1) and isinstance(_model("resnet18").maxpool, nn.Identity)
    assert _model("mobilenetv2").features[0][0].stride == (1, 1)
    assert _model("shufflenetv2").conv1[0].stride == (1, 1)
    # Total stride 8: a 4x4 map before pooling at 32x32.
    assert _output_shape(_model("resnet18"), _model("resnet18").layer4, 32)[-2:] == (4, 4)
    assert _output_shape(_model("mobilenetv2"), _model("mobilenetv2").features[-1], 32)[-2:] == (4, 4)


def test_unknown_model_lists_the_choices_with_a_hint():
    with pytest.raises(UnknownModelError) as err:
        build("resnet19", 10)
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    assert all(name in message for name in MODELS) and "did you mean 'resnet18'" in message
    with pytest.raises(UnknownModelError):
        build(None, 10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="resnet18", num_classes=0), "num_classes"),
    (dict(name="resnet18", num_classes=2.0), "num_classes"),
    (dict(name="vgg16", num_classes=10, image_size=8), "vgg16 needs image_size"),
    (dict(name="resnet18", num_classes=10, image_size=4), "resnet18 needs image_size"),
])
def test_bad_build_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


def _hook_flops(model: nn.Module, size: int) -> int:
    """Independent count: 2 x multiply-adds of every conv and linear layer, from their output shapes."""
    macs = []

    def hook(m, args, out):
        if isinstance(m, nn.Conv2d):
            macs.append(out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
        else:
            macs.append(out.numel() * m.in_features)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return 2 * sum(macs)


@pytest.mark.parametrize("name", MODELS)
def test_forward_flops_equal_an_independent_count_and_grow_with_size(name):
    flops = [forward_flops(_model(name, s)) for s in SIZES]
    assert 0 < flops[0] < flops[1] < flops[2]
    assert flops[1] == _hook_flops(_model(name, 32), 32)
    # Fully convolutional up to global pooling: 4x the pixels, about 4x the FLOPs.
    assert flops[2] / flops[1] == pytest.approx(4, rel=0.02)


def test_resnet18_flops_are_of_the_known_order():
    # ~0.56 G multiply-adds for the CIFAR ResNet18 at 32x32 -> ~1.1e9 FLOPs; 4x at 64x64.
    assert 1.0e9 < forward_flops(_model("resnet18", 32)) < 1.25e9
    assert 4.0e9 < forward_flops(_model("resnet18", 32), image_size=64) < 5.0e9
    assert forward_flops(_model("resnet18", 32), image_size=64) == forward_flops(_model("resnet18", 64))


def test_forward_flops_restores_mode_and_needs_a_size():
    model = build("wrn_16_1", 10, 16).train()
    forward_flops(model)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    forward_flops(model, image_size=24)
    assert not model.training
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    with pytest.raises(ValueError, match="image_size"):
        forward_flops(plain)
    assert forward_flops(plain, image_size=5) == 2 * (4 * 3 * 3 * 3 * 3 * 3)
    with pytest.raises(ValueError, match="positive integer"):
        forward_flops(model, image_size=0)


def test_count_parameters_trainable_only():
    model = build("wrn_16_1", 10)
    total = count_parameters(model)
    assert total == sum(p.numel() for p in model.parameters())
    model.fc.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == total - (64 * 10 + 10)
    assert count_parameters(model) == total


def test_model_size_bytes_is_the_serialized_state_dict():
    model = _model("wrn_16_1")
    floats = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    size = model_size_bytes(model)
    assert floats < size < floats * 1.1 + 100_000
    assert model_size_bytes(_model("resnet18")) > 4 * 11e6


@pytest.mark.parametrize("name", MODELS)
def test_gradcam_layer_map_is_at_least_2x2_at_every_size(name):
    for size in SIZES:
        model = _model(name, size)
        layer = gradcam_layer(model)
        shape = _output_shape(model, layer, size)
        assert len(shape) == 4 and min(shape[-2:]) >= 2, (name, size, shape)


def test_gradcam_layer_is_the_deepest_block_with_a_2x2_map():
    resnet = _model("resnet18", 32)
    assert gradcam_layer(resnet) is resnet.layer4[-1]
    vgg32, vgg16 = _model("vgg16", 32), _model("vgg16", 16)
    relus = [m for m in vgg32.features if isinstance(m, nn.ReLU)]
    assert gradcam_layer(vgg32) is relus[-1]
    # At 16x16 the last stage is 1x1, so the block before the fourth pool (2x2) is chosen.
    assert _output_shape(vgg16, [m for m in vgg16.features if isinstance(m, nn.ReLU)][-1], 16)[-2:] == (1, 1)
    chosen = gradcam_layer(vgg16)
    assert chosen is not [m for m in vgg16.features if isinstance(m, nn.ReLU)][-1]
    assert _output_shape(vgg16, chosen, 16)[-2:] == (2, 2)
    small = build("resnet18", 10, 8)  # layer4 is 1x1 at 8x8
    assert gradcam_layer(small) is small.layer3[-1]


def test_gradcam_layer_leaves_the_model_as_it_was():
    model = build("mobilenetv2", 10, 16).train()
    gradcam_layer(model)
    assert model.training
    assert not any(m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="build"):
        gradcam_layer(nn.Sequential(nn.Conv2d(3, 4, 3)))
