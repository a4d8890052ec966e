"""The frozen teacher computes what the eager model computes, and falls back when it cannot freeze."""

from __future__ import annotations

import torch

from greenkd_lib import models


def _trained_like(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = models.build(name, 10, 12)
    with torch.no_grad():  # BatchNorm statistics away from their defaults, so folding them matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_frozen_model_matches_eager_for_any_batch_size():
    for name in ("resnet18", "mobilenetv2"):
        eager = _trained_like(name)
        frozen = models.frozen_for_inference(_trained_like(name).to(memory_format=torch.channels_last), 12)
        assert isinstance(frozen, torch.jit.ScriptModule)
        for batch in (1, 5, 32):
            x = torch.randn(batch, 3, 12, 12)
            with torch.no_grad():
                torch.testing.assert_close(frozen(x.contiguous(memory_format=torch.channels_last)), eager(x),
                                           rtol=1e-4, atol=1e-4)


def test_a_model_that_cannot_be_traced_stays_eager(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("tracing refused")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    model = _trained_like("shufflenetv2")
    assert models.frozen_for_inference(model, 12) is model
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_a_teacher_with_features_freezes_and_returns_what_its_hook_reads():
    """CMC's teacher: frozen like any teacher, its penultimate features an output of the traced graph."""
    for name in ("resnet18", "shufflenetv2"):
        eager = _trained_like(name)
        hooked = models.PenultimateFeatures(eager)
        frozen = models.frozen_for_inference(models.WithFeatures(_trained_like(name).to(
            memory_format=torch.channels_last)), 12)
        assert isinstance(frozen, torch.jit.ScriptModule)
        for batch in (1, 7):
            x = torch.randn(batch, 3, 12, 12)
            with torch.no_grad():
                logits, features = frozen(x.contiguous(memory_format=torch.channels_last))
                torch.testing.assert_close(logits, eager(x), rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(features, hooked.take(), rtol=1e-4, atol=1e-4)
            assert features.shape == (batch, models.feature_dim(eager))
