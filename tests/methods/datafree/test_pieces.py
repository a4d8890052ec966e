"""Data-free pieces on tiny tensors: the BN-statistics hook, the synthesizers' losses, the generators."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from greenkd_lib.methods.datafree.generators import (check_generator_size, Generator, LargeGenerator,
                                                     reset_generator)
from greenkd_lib.methods.datafree.hooks import bn_layers, BNStatistics
from greenkd_lib.methods.datafree.losses import activation, adversarial_kl, balance, jsdiv, onehot, total_variation

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _bn_net(seed: int = 0) -> nn.Module:
    """Two conv+BN layers with non-trivial running statistics, in eval mode."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5))
    for bn in bn_layers(net):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    return net.eval().requires_grad_(False)


def _by_hand(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    total, h = torch.zeros(()), x
    for layer in net:
        if isinstance(layer, nn.BatchNorm2d):
            mean = h.mean(dim=(0, 2, 3))
            var = ((h - mean.view(1, -1, 1, 1)) ** 2).mean(dim=(0, 2, 3))  # biased
            total = total + (layer.running_var - var).norm() + (layer.running_mean - mean).norm()
        h = layer(h)
    return total


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_bn_hook_is_the_sum_of_l2_distances_over_layers(layout):
    net = _bn_net()
    x = torch.randn(6, 3, 5, 5).contiguous(memory_format=layout)
    with BNStatistics(net) as hook:
        net(x)
        distance = hook.take()
    torch.testing.assert_close(distance, _by_hand(net, x))
    assert len(hook.layers) == 2


def test_bn_hook_exists_only_inside_its_context():
    net = _bn_net()
    with BNStatistics(net) as hook:
        pass
    net(torch.randn(2, 3, 4, 4))
    assert all(not layer._forward_hooks for layer in hook.layers)
    assert float(BNStatistics(nn.Linear(2, 2)).__enter__().take()) == 0.0  # no BN layer: distance 0


def test_a_few_adam_steps_on_pixels_lower_the_bn_distance():
    net = _bn_net()
    x = torch.randn(8, 3, 6, 6, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=0.1)
    with BNStatistics(net) as hook:
        distances = []
        for _ in range(20):
            net(x)
            distance = hook.take()
            distances.append(float(distance.detach()))
            optimizer.zero_grad()
            distance.backward()
            optimizer.step()
    assert distances[-1] < 0.8 * distances[0]


def test_balance_is_minus_log_classes_for_uniform_predictions():
    torch.testing.assert_close(balance(torch.zeros(4, 10)), torch.tensor(-math.log(10)))
    assert float(balance(torch.tensor([[9.0, 0.0, 0.0]] * 4))) > -0.1  # one class: entropy near 0


def test_onehot_activation_and_total_variation_on_hand_made_inputs():
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    torch.testing.assert_close(onehot(logits), F.cross_entropy(logits, torch.tensor([0, 1])))
    torch.testing.assert_close(activation(torch.tensor([[1.0, -3.0]])), torch.tensor(-2.0))
    assert float(total_variation(torch.full((2, 3, 5, 5), 0.7))) == 0.0
    stripes = torch.zeros(1, 1, 2, 2)
    stripes[..., 1] = 1.0  # columns 0 | 1: right and both diagonals differ by 1, down does not
    torch.testing.assert_close(total_variation(stripes), torch.tensor(3.0))


def test_adversarial_kl_is_tau_squared_kl_and_reaches_both_logits():
    s = torch.randn(4, 5, requires_grad=True)
    t = torch.randn(4, 5, requires_grad=True)
    value = adversarial_kl(s, t, T=2.0)
    expected = F.kl_div(F.log_softmax(s / 2, 1), F.softmax(t / 2, 1), reduction="batchmean") * 4
    torch.testing.assert_close(value, expected)
    value.backward()
    assert s.grad.abs().sum() > 0 and t.grad.abs().sum() > 0  # the target is not detached
    assert float(adversarial_kl(t.detach(), t.detach())) == pytest.approx(0.0, abs=1e-6)


def test_jsdiv_is_symmetric_zero_on_equal_inputs_and_has_no_tau_squared():
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    torch.testing.assert_close(jsdiv(a, b), jsdiv(b, a))
    assert float(jsdiv(a, a)) == pytest.approx(0.0, abs=1e-6)
    p, q = F.softmax(a / 3, 1), F.softmax(b / 3, 1)
    m = (0.5 * (p + q)).clamp(0.01, 0.99)
    by_hand = 0.5 * sum((m * (m.log() - r.clamp(0.01, 0.99).log())).sum() / 3 for r in (p, q))
    torch.testing.assert_close(jsdiv(a, b, T=3.0), by_hand)


@pytest.mark.parametrize("size", [12, 16, 32])
@pytest.mark.parametrize("cls, widths", [(LargeGenerator, (32, 16, 8)), (Generator, (16, 16, 8))])
def test_generators_draw_images_in_unit_range_at_sizes_divisible_by_4(cls, widths, size):
    g = cls(nz=7, ngf=8, image_size=size)
    with torch.no_grad():
        x = g(torch.randn(3, 7))
    assert x.shape == (3, 3, size, size) and float(x.min()) >= 0 and float(x.max()) <= 1
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [widths[1], widths[2], 3]
    assert g.project.out_features == widths[0] * (size // 4) ** 2
    assert [c.bias is None for c in convs] == [True, True, False]  # CMI's convs before BN have no bias


@pytest.mark.parametrize("size", [10, 3, 12.0, True])
def test_a_size_not_divisible_by_4_is_a_clear_error(size):
    with pytest.raises(ValueError, match="divisible|size 4k"):
        check_generator_size(size, "dafl")
    with pytest.raises(ValueError, match="image_size"):
        LargeGenerator(nz=4, ngf=4, image_size=size)


def test_reset_draws_cmis_initialisation_from_the_given_rng():
    g = Generator(nz=16, ngf=16, image_size=12)
    reset_generator(g, torch.Generator().manual_seed(0))
    conv = [m for m in g.modules() if isinstance(m, nn.Conv2d)][0]
    w = conv.weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002
    bn = bn_layers(g)[0]
    assert abs(float(bn.weight.detach().mean()) - 1) < 0.01 and float(bn.bias.detach().abs().sum()) == 0
    again = Generator(nz=16, ngf=16, image_size=12)
    reset_generator(again, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(), again.state_dict().values()))
