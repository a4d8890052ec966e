"""The contrastive parts of CMC (NCE loss, memory bank, embedding heads) and the penultimate-feature hook."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from greenkd_lib import models
from greenkd_lib.methods.contrast import ContrastMemory, Embedding, NCE_EPS, nce_loss
from greenkd_lib.models.features import PenultimateFeatures

N_DATA, K, DIM, B = 7, 3, 5, 2
T, MOMENTUM = 0.07, 0.5

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _reference_nce(scores: np.ndarray, n_data: int, eps: float = NCE_EPS) -> float:
    """RepDistiller's NCECriterion, one number at a time."""
    batch, width = scores.shape
    k = width - 1
    noise = k * (1.0 / n_data)  # k negatives, each drawn with probability 1 / n_data
    total = 0.0
    for b in range(batch):
        positive = float(scores[b, 0])
        total += math.log(positive / (positive + noise + eps))
        for j in range(1, width):
            total += math.log(noise / (float(scores[b, j]) + noise + eps))
    return -total / batch


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nce_loss_matches_a_loop_reference(seed):
    rng = np.random.default_rng(seed)
    # Normalised scores of the size real ones have (around 1 / n_data), and a few far from it.
    scores = rng.uniform(0.01, 2.0, size=(B, 1 + K)) / N_DATA
    scores[0, 0] = 5.0
    got = nce_loss(torch.from_numpy(scores), N_DATA)
    assert got.dim() == 0
    assert float(got) == pytest.approx(_reference_nce(scores, N_DATA), abs=1e-6, rel=1e-6)
    # float32, as in training
    got32 = nce_loss(torch.from_numpy(scores).float(), N_DATA)
    assert float(got32) == pytest.approx(_reference_nce(scores, N_DATA), abs=1e-5, rel=1e-6)


def test_nce_loss_rewards_a_high_positive_and_low_negatives():
    low = torch.tensor([[1e-3, 1.0, 1.0, 1.0]], dtype=torch.float64)
    high = torch.tensor([[1.0, 1e-3, 1e-3, 1e-3]], dtype=torch.float64)
    assert nce_loss(high, N_DATA) < nce_loss(low, N_DATA)


@pytest.mark.parametrize("shape", [(4,), (3, 1), (2, 3, 4)])
def test_nce_loss_rejects_scores_without_negatives(shape):
    with pytest.raises(ValueError, match="scores must be"):
        nce_loss(torch.ones(shape), N_DATA)


def _memory(n_data: int = N_DATA, k: int = K, dim: int = DIM, seed: int = 0) -> ContrastMemory:
    return ContrastMemory(dim, n_data, k, T, MOMENTUM, torch.Generator().manual_seed(seed))


def _embeddings(seed: int, batch: int = B, dim: int = DIM) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (F.normalize(torch.randn(batch, dim, generator=g), dim=1),
            F.normalize(torch.randn(batch, dim, generator=g), dim=1))


def test_negatives_exclude_the_sample_and_stay_in_range():
    memory = _memory()
    g = torch.Generator().manual_seed(0)
    index = torch.arange(N_DATA).repeat(3)  # every slot, several times
    counts = torch.zeros(N_DATA, N_DATA, dtype=torch.long)
    for _ in range(300):
        neg = memory.negatives(index, g)
        assert neg.shape == (len(index), K) and neg.dtype == torch.long
        assert int(neg.min()) >= 0 and int(neg.max()) < N_DATA
        assert not bool((neg == index[:, None]).any()), "a sample drew itself as a negative"
        counts.index_put_((index[:, None].expand_as(neg).reshape(-1), neg.reshape(-1)),
                          torch.ones(neg.numel(), dtype=torch.long), accumulate=True)
    # every other slot is drawn, about equally often (uniform over the n_data - 1 others)
    off_diagonal = counts[~torch.eye(N_DATA, dtype=torch.bool)].double()
    assert bool((off_diagonal > 0).all())
    assert torch.diagonal(counts).sum() == 0
    expected = 300 * 3 * K / (N_DATA - 1)
    assert float(off_diagonal.min()) > 0.7 * expected and float(off_diagonal.max()) < 1.3 * expected


def test_negatives_follow_the_generator():
    memory = _memory()
    index = torch.tensor([0, 6])
    a = memory.negatives(index, torch.Generator().manual_seed(5))
    b = memory.negatives(index, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_scores_shape_values_and_fixed_normaliser():
    memory = _memory()
    index = torch.tensor([1, 4])
    negatives = memory.negatives(index, torch.Generator().manual_seed(0))
    student, teacher = _embeddings(0)
    before_s, before_t = memory.memory_student.clone(), memory.memory_teacher.clone()
    assert float(memory.z_student) < 0 and float(memory.z_teacher) < 0  # not fixed yet

    scores_s, scores_t = memory(student, teacher, index, negatives)
    assert scores_s.shape == (B, 1 + K) and scores_t.shape == (B, 1 + K)
    assert bool((scores_s > 0).all()) and bool((scores_t > 0).all())

    # Independently: the student embedding against the teacher's memory (positive = own slot), and back.
    slots = torch.cat([index[:, None], negatives], dim=1)
    raw_s = torch.stack([torch.stack([torch.exp(before_t[j] @ student[b] / T) for j in slots[b]])
                         for b in range(B)])
    raw_t = torch.stack([torch.stack([torch.exp(before_s[j] @ teacher[b] / T) for j in slots[b]])
                         for b in range(B)])
    z_s, z_t = float(raw_s.mean()) * N_DATA, float(raw_t.mean()) * N_DATA
    assert float(memory.z_student) == pytest.approx(z_s, rel=1e-5)
    assert float(memory.z_teacher) == pytest.approx(z_t, rel=1e-5)
    torch.testing.assert_close(scores_s, raw_s / z_s, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(scores_t, raw_t / z_t, rtol=1e-5, atol=1e-7)

    # Z stays what the first batch made it
    fixed = memory.z_student.clone(), memory.z_teacher.clone()
    for seed in (1, 2, 3):
        other_index = torch.tensor([seed, 6 - seed])
        memory(*_embeddings(seed), other_index, memory.negatives(other_index, torch.Generator().manual_seed(seed)))
        assert torch.equal(memory.z_student, fixed[0]) and torch.equal(memory.z_teacher, fixed[1])


def test_scores_carry_gradients_to_the_embeddings_only():
    memory = _memory()
    index = torch.tensor([2, 3])
    student, teacher = (e.clone().requires_grad_(True) for e in _embeddings(0))
    scores_s, scores_t = memory(student, teacher, index, memory.negatives(index, torch.Generator().manual_seed(0)))
    (nce_loss(scores_s, N_DATA) + nce_loss(scores_t, N_DATA)).backward()
    assert student.grad is not None and bool(student.grad.abs().sum() > 0)
    assert teacher.grad is not None and bool(teacher.grad.abs().sum() > 0)
    assert not memory.memory_student.requires_grad and not memory.memory_teacher.requires_grad


def test_memory_moves_towards_the_batch_and_stays_unit_norm():
    memory = _memory()
    index = torch.tensor([0, 5])
    student, teacher = _embeddings(1)
    before = {"student": memory.memory_student.clone(), "teacher": memory.memory_teacher.clone()}
    memory(student, teacher, index, memory.negatives(index, torch.Generator().manual_seed(0)))
    after = {"student": memory.memory_student, "teacher": memory.memory_teacher}
    others = torch.tensor([i for i in range(N_DATA) if i not in index.tolist()])
    for side, embedding in (("student", student), ("teacher", teacher)):
        old, new = before[side], after[side]
        assert torch.equal(new[others], old[others]), f"{side} rows outside the batch changed"
        moved = new[index]
        torch.testing.assert_close(moved.norm(dim=1), torch.ones(B))
        expected = F.normalize(MOMENTUM * old[index] + (1 - MOMENTUM) * embedding, dim=1)
        torch.testing.assert_close(moved, expected)
        # closer to the embedding than before (cosine similarity up)
        cos_old = F.cosine_similarity(old[index], embedding, dim=1)
        cos_new = F.cosine_similarity(moved, embedding, dim=1)
        assert bool((cos_new > cos_old).all())


def test_memory_initialisation_follows_the_generator():
    a, b, c = _memory(seed=0), _memory(seed=0), _memory(seed=1)
    assert torch.equal(a.memory_student, b.memory_student) and torch.equal(a.memory_teacher, b.memory_teacher)
    assert not torch.equal(a.memory_student, c.memory_student)
    assert not torch.equal(a.memory_student, a.memory_teacher)  # two banks, not one


@pytest.mark.parametrize("k", [N_DATA, N_DATA + 10, 0])
def test_too_many_or_no_negatives_raise(k):
    with pytest.raises(ValueError, match="nce_k"):
        _memory(k=k)


def test_largest_k_works():
    memory = _memory(k=N_DATA - 1)
    index = torch.tensor([3, 0])
    negatives = memory.negatives(index, torch.Generator().manual_seed(0))
    assert not bool((negatives == index[:, None]).any())
    scores, _ = memory(*_embeddings(0), index, negatives)
    assert scores.shape == (B, N_DATA)


def test_out_of_range_indices_raise():
    memory = _memory()
    index = torch.tensor([0, N_DATA])
    with pytest.raises(ValueError, match="sample indices"):
        memory(*_embeddings(0), index, torch.zeros(B, K, dtype=torch.long))


def test_embedding_is_unit_norm_and_flattens():
    head = Embedding(12, 4)
    out = head(torch.randn(3, 3, 2, 2))
    assert out.shape == (3, 4)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))


# -- penultimate features ---------------------------------------------------------------------------

def _last_linear(model: nn.Module) -> nn.Linear:
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


@pytest.mark.parametrize("name", models.MODELS)
def test_penultimate_features_of_every_model(name):
    torch.manual_seed(0)
    size = models.MIN_IMAGE_SIZE[name]
    model = models.build(name, 10, size).eval()
    features = PenultimateFeatures(model)
    classifier = _last_linear(model)
    assert features.dim == classifier.in_features

    seen = []
    handle = classifier.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        logits = model(x)
    handle.remove()
    got = features.take()
    assert got.shape == (3, features.dim)
    # exactly what the classifier read (in eval mode dropout is the identity), and it gives the logits
    with pytest.raises(RuntimeError, match="no features recorded"):
        features.take()
    torch.testing.assert_close(got, torch.flatten(seen[0], 1))
    features.remove()
    torch.testing.assert_close(classifier(got), logits)


def test_penultimate_features_keep_the_graph_and_can_be_removed():
    model = models.build("wrn_16_1", 10, 8)
    features = PenultimateFeatures(model)
    with pytest.raises(RuntimeError, match="no features recorded"):
        features.take()  # before any forward
    model(torch.randn(2, 3, 8, 8))
    got = features.take()
    assert got.requires_grad
    got.sum().backward()
    assert model.conv1.weight.grad is not None
    features.remove()
    model(torch.randn(2, 3, 8, 8))
    with pytest.raises(RuntimeError):
        features.take()


def test_penultimate_features_need_a_linear_head():
    with pytest.raises(ValueError, match="no nn.Linear"):
        PenultimateFeatures(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))


def test_exact_mode_draws_negatives_of_other_classes_only():
    memory = _memory()
    labels = torch.arange(N_DATA) % 3  # three classes
    g = torch.Generator().manual_seed(0)
    index = torch.arange(N_DATA).repeat(4)
    for _ in range(50):
        neg = memory.negatives(index, g, labels)
        assert neg.shape == (len(index), K) and int(neg.min()) >= 0 and int(neg.max()) < N_DATA
        assert not bool((labels[neg] == labels[index][:, None]).any()), "a negative shares the anchor's class"
    # relax mode (no labels) does draw same-class samples: about 1/3 of them here
    relax = memory.negatives(index, torch.Generator().manual_seed(0))
    share = float((labels[relax] == labels[index][:, None]).double().mean())
    assert 0.15 < share < 0.45


def test_exact_mode_follows_the_generator_and_refuses_one_class():
    memory = _memory()
    labels = torch.arange(N_DATA) % 2
    index = torch.tensor([0, 1, 6])
    a = memory.negatives(index, torch.Generator().manual_seed(5), labels)
    b = memory.negatives(index, torch.Generator().manual_seed(5), labels)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="relax"):
        memory.negatives(index, torch.Generator(), torch.zeros(N_DATA, dtype=torch.long))
    with pytest.raises(ValueError, match="class of each"):
        memory.negatives(index, torch.Generator(), labels[:-1])
