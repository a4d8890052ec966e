"""Detection KD losses: the anchors SSD's classification loss uses, and tau^2 KL on them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from greenkd_lib.methods.detection.losses import kd_anchor_mask, matched_anchor_kd
from greenkd_lib.models.detection.ssd import build_detector, forward_parts, match_anchors, QUICK_WIDTHS, ssd_losses

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _tiny() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """B=2 images, A=5 anchors, C=3 classes: hand-made logits and a mask of 2 + 3 anchors."""
    student = torch.tensor([[[2.0, 0.5, -1.0], [0.0, 0.0, 0.0], [1.0, 3.0, 0.5], [-2.0, 1.0, 1.5], [0.3, 0.2, 0.1]],
                            [[0.5, -0.5, 2.5], [1.5, 1.5, -3.0], [0.0, 2.0, 0.0], [4.0, 0.0, 1.0], [-1.0, -1.0, 2.0]]],
                           requires_grad=True)
    teacher = torch.tensor([[[3.0, 0.0, -2.0], [1.0, 0.0, 0.0], [0.0, 4.0, 1.0], [-1.0, 0.5, 2.5], [2.0, 0.0, 0.0]],
                            [[0.0, 0.0, 3.0], [2.0, 1.0, -1.0], [1.0, 1.0, 1.0], [3.0, -1.0, 0.0], [0.0, -2.0, 1.0]]],
                           requires_grad=True)
    mask = torch.tensor([[True, False, True, False, False], [False, True, True, False, True]])
    return student, teacher, mask


def _reference(student, teacher, mask, taus, reduction):
    """Anchor by anchor: tau^2 * sum_c p_t (log p_t - log p_s), averaged over the selected anchors."""
    terms = []
    for b, a in mask.nonzero().tolist():
        tau = taus[b]
        log_p_s = F.log_softmax(student[b, a] / tau, dim=0)
        p_t = torch.softmax(teacher[b, a] / tau, dim=0)
        terms.append(tau ** 2 * F.kl_div(log_p_s, p_t, reduction="sum"))
    value = torch.stack(terms).mean()
    return value / student.shape[-1] if reduction == "mean" else value


@pytest.mark.parametrize("reduction", ["mean", "batchmean"])
@pytest.mark.parametrize("tau", [1.0, 4.0, torch.tensor([2.0, 5.0])])
def test_matched_anchor_kd_is_tau2_kl_over_the_masked_anchors(tau, reduction):
    student, teacher, mask = _tiny()
    taus = tau.tolist() if isinstance(tau, torch.Tensor) else [tau, tau]
    value = matched_anchor_kd(student, teacher, mask, tau, reduction)
    torch.testing.assert_close(value, _reference(student, teacher, mask, taus, reduction))
    value.backward()
    assert teacher.grad is None  # the teacher is detached
    assert (student.grad[~mask] == 0).all() and (student.grad[mask] != 0).any()


def test_per_image_tau_is_not_one_tau_for_all():
    student, teacher, mask = _tiny()
    per_image = matched_anchor_kd(student, teacher, mask, torch.tensor([1.0, 6.0]), "batchmean")
    assert not torch.allclose(per_image, matched_anchor_kd(student, teacher, mask, 1.0, "batchmean"))
    assert not torch.allclose(per_image, matched_anchor_kd(student, teacher, mask, 6.0, "batchmean"))


def test_an_empty_mask_gives_zero_with_a_graph():
    student, teacher, mask = _tiny()
    value = matched_anchor_kd(student, teacher, torch.zeros_like(mask), torch.tensor([2.0, 3.0]), "mean")
    assert value.item() == 0.0 and value.requires_grad
    value.backward()
    assert torch.isfinite(student.grad).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(tau=torch.tensor([1.0, 2.0, 3.0])), r"shape \(2,\)"),
    (dict(tau=0.0), "tau"),
    (dict(tau=torch.tensor([1.0, -1.0])), "tau"),
    (dict(reduction="sum"), "reduction"),
    (dict(mask=torch.ones(2, 4, dtype=torch.bool)), "mask"),
    (dict(mask=torch.ones(2, 5)), "bool"),
])
def test_bad_arguments_say_what_is_wrong(kwargs, message):
    student, teacher, mask = _tiny()
    args = dict(mask=mask, tau=2.0, reduction="mean") | kwargs
    with pytest.raises(ValueError, match=message):
        matched_anchor_kd(student, teacher, **args)


def _batch(n: int = 4, size: int = 64) -> tuple[torch.Tensor, list]:
    """Random images with 1-3 rectangles each (14-30 px); image 1 has none."""
    g = torch.Generator().manual_seed(3)
    images = torch.rand(n, 3, size, size, generator=g)
    targets = []
    for i in range(n):
        count = 0 if i == 1 else int(torch.randint(1, 4, (1,), generator=g))
        xy = torch.randint(0, size - 30, (count, 2), generator=g).float()
        wh = torch.randint(14, 31, (count, 2), generator=g).float()
        targets.append({"boxes": torch.cat([xy, xy + wh], dim=1), "labels": torch.randint(1, 11, (count,), generator=g)})
    return images, targets


def test_kd_anchor_mask_picks_the_anchors_of_ssds_classification_loss():
    torch.manual_seed(0)
    model = build_detector("ssdlite_mobilenetv2", 11, 64, QUICK_WIDTHS["ssdlite_mobilenetv2"]).train()
    assert model.neg_to_pos_ratio == 3.0
    images, targets = _batch()
    parts = forward_parts(model, images, targets)
    matched = match_anchors(model, parts.anchors, parts.targets)
    mask = kd_anchor_mask(parts.cls_logits, parts.targets, matched)
    assert mask.dtype == torch.bool and mask.shape == parts.cls_logits.shape[:2] and not mask.requires_grad

    cls_loss = F.cross_entropy(parts.cls_logits.flatten(0, 1), torch.zeros(mask.numel(), dtype=torch.long),
                               reduction="none").view(mask.shape)  # loss towards background
    num_pos = 0
    for i, m in enumerate(matched):
        positive = m >= 0
        num_pos += int(positive.sum())
        negatives = mask[i] & ~positive
        assert mask[i][positive].all()
        assert int(negatives.sum()) == min(3 * int(positive.sum()), int((~positive).sum()))
        if negatives.any():  # the hard ones: no unselected negative has a larger loss
            assert cls_loss[i][~mask[i]].max() <= cls_loss[i][negatives].min()
    assert not mask[1].any()  # no objects: no positives, no hard negatives

    # SSD's classification term is the cross-entropy summed over exactly these anchors.
    labels = torch.zeros(mask.shape, dtype=torch.long)
    for i, (m, target) in enumerate(zip(matched, parts.targets)):
        labels[i, m >= 0] = target["labels"][m[m >= 0]]
    ce = F.cross_entropy(parts.cls_logits[mask], labels[mask], reduction="sum") / max(1, num_pos)
    torch.testing.assert_close(ce, ssd_losses(model, parts.targets, parts, matched)["classification"])
