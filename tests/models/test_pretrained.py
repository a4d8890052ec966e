"""ImageNet VGG16 weights for the paper's detector backbone: from a file, from torch's cache, or not at all."""

from __future__ import annotations

import os

import pytest
import torch
from torchvision.models import vgg16, VGG16_Weights

from greenkd_lib.models.detection import archs
from greenkd_lib.models.detection.pretrained import load_vgg16_backbone


@pytest.fixture(scope="module")
def vgg_features(tmp_path_factory):
    """A torchvision vgg16's convolutions (the classifier left out: 59 MB, not 550)."""
    torch.manual_seed(0)
    state = {k: v for k, v in vgg16().state_dict().items() if k.startswith("features.")}
    path = tmp_path_factory.mktemp("weights") / "vgg16_features.pth"
    torch.save(state, path)
    return path, state


def _teacher():
    return archs.build("ssd_vgg16", 21, 300, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def test_a_vgg16_state_dict_fills_the_backbone_and_freezes_conv1(vgg_features):
    path, state = vgg_features
    model = _teacher()
    loaded, mean, std = load_vgg16_backbone(model, str(path))
    assert loaded.startswith("ImageNet VGG16") and mean is None and std is None
    backbone = model.backbone
    assert torch.equal(backbone.features[0].weight, state["features.0.weight"])  # conv1_1
    assert torch.equal(backbone.features[21].weight, state["features.21.weight"])  # conv4_3
    assert torch.equal(backbone.extra[0][1].weight, state["features.24.weight"])  # conv5_1
    assert torch.equal(backbone.extra[0][5].bias, state["features.28.bias"])  # conv5_3
    # torchvision's recipe trains 4 of the 5 stages: conv1_x is frozen, conv2_1 trains
    assert not backbone.features[0].weight.requires_grad and not backbone.features[2].weight.requires_grad
    assert backbone.features[5].weight.requires_grad


def test_a_weights_enum_is_read_from_the_cache_or_left_random(vgg_features, tmp_path, monkeypatch):
    path, state = vgg_features
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    model = _teacher()
    before = model.backbone.features[0].weight.clone()
    loaded, mean, _ = load_vgg16_backbone(model, "VGG16_Weights.IMAGENET1K_FEATURES")
    assert loaded.startswith("random") and "not in torch's cache" in loaded and mean is None
    assert torch.equal(model.backbone.features[0].weight, before)
    cached = tmp_path / "torch" / "hub" / "checkpoints" / os.path.basename(VGG16_Weights.IMAGENET1K_FEATURES.url)
    cached.parent.mkdir(parents=True)
    os.symlink(path, cached)
    loaded, mean, std = load_vgg16_backbone(model, "VGG16_Weights.IMAGENET1K_FEATURES")
    assert "IMAGENET1K_FEATURES" in loaded and torch.equal(model.backbone.features[0].weight, state["features.0.weight"])
    assert mean == pytest.approx((0.48235, 0.45882, 0.40784)) and std == pytest.approx((1 / 255,) * 3)


def test_bad_weights_are_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_vgg16_backbone(_teacher(), str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="IMAGENET1K_FEATURES"):
        load_vgg16_backbone(_teacher(), "VGG16_Weights.NOPE")
    other = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, other)
    with pytest.raises(ValueError, match="not a torchvision vgg16 state dict"):
        load_vgg16_backbone(_teacher(), str(other))


def test_only_the_paper_vgg16_detector_records_backbone_weights():
    from greenkd_lib.config.profiles import get_profile
    from greenkd_lib.engine.configs import teacher_config

    profile = get_profile("paper").for_detection()
    assert profile.backbone_weights == "VGG16_Weights.IMAGENET1K_FEATURES"
    assert teacher_config(profile, "ssd_vgg16", "voc", 0).backbone_weights == profile.backbone_weights
    assert teacher_config(profile, "ssdlite_mobilenetv2", "voc", 0).backbone_weights is None
    # a quick-profile run's dict (and hash) holds no such key
    quick = get_profile("quick").for_detection()
    assert "backbone_weights" not in teacher_config(quick, quick.teacher, "digit_scenes", 0).to_dict()
