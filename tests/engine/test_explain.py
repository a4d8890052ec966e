"""explain: which images Fig 4 explains, Grad-CAM maps and their overlay (tiny model, seconds)."""

import matplotlib
import numpy as np
import pytest
import torch

from greenkd_lib import models
from greenkd_lib.engine import explain

TARGETS = [1, 0, 2, 1, 0, 2, 1]
CLASSES = ["0", "1", "2"]


def test_the_class_is_a_name_an_index_or_the_paper_s_default():
    assert explain.class_index(["plane", "bird", "cat"], None, "cifar10") == 1  # the paper's bird
    assert explain.class_index(CLASSES + list("3456789"), None, "digits") == 3
    assert explain.class_index(CLASSES, None, "other") == 0
    assert explain.class_index(CLASSES, "2") == 2 and explain.class_index(CLASSES, 1) == 1
    for wrong in (7, True, "dog"):
        with pytest.raises(ValueError, match="neither a class name nor an index 0..2"):
            explain.class_index(CLASSES, wrong)


def test_image_of_class_counts_within_the_class():
    assert explain.image_of_class(TARGETS, 1) == 0
    assert explain.image_of_class(TARGETS, 1, 2) == 6
    with pytest.raises(ValueError, match=r"image_index must be an integer in 0..2"):
        explain.image_of_class(TARGETS, 1, 3)


def test_gradcam_picks_the_image_then_one_of_each_following_class():
    assert explain.gradcam_picks(TARGETS, 6, 3, 3) == [6, 2, 1]  # class 1, then the first 2, then (cyclic) the first 0
    assert explain.gradcam_picks(TARGETS, 0, 1, 3) == [0]
    with pytest.raises(ValueError, match=r"gradcam_images must be an integer in 1..3"):
        explain.gradcam_picks(TARGETS, 0, 4, 3)
    with pytest.raises(ValueError, match="no image of class 2"):
        explain.gradcam_picks([0, 1], 0, 3, 3)


def test_overlay_blends_a_perceptual_colormap_over_the_image():
    image, heat = np.zeros((4, 4, 3)), np.linspace(0, 1, 16).reshape(4, 4)
    picture = explain.overlay(image, heat, weight=1.0)
    assert picture.dtype == np.uint8 and picture.shape == (4, 4, 3)
    expected = matplotlib.colormaps[explain.CAM_COLORMAP](heat)[..., :3] * 255
    np.testing.assert_allclose(picture, expected, atol=0.51)
    np.testing.assert_array_equal(explain.overlay(np.ones((4, 4, 3)), heat, weight=0.0), 255)


def test_gradcam_maps_are_in_zero_one_one_per_image(one_thread):
    torch.manual_seed(0)
    model = models.build("resnet18", num_classes=3, image_size=12)
    cams = explain.gradcam(model, torch.randn(2, 3, 12, 12), targets=[0, 2])
    assert cams.shape == (2, 12, 12) and cams.min() >= 0 and cams.max() <= 1
    with pytest.raises(ValueError, match="2 targets for 1 images"):
        explain.gradcam(model, torch.randn(1, 3, 12, 12), targets=[0, 1])
