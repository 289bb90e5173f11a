"""Token-level distillation losses against a NumPy reference written position by position."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import torch

from fedkd.losses.token import token_kd_loss, top_k_teacher, top_k_token_kd_loss

Array = npt.NDArray[np.float64]


def _randn(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def _softmax(z: Array) -> Array:
    e = np.exp(z - z.max())
    return e / e.sum()


def _batch(seed: int = 0, batch: int = 3, length: int = 6, vocab: int = 7) -> tuple[torch.Tensor, ...]:
    student, teacher = _randn(seed, batch, length, vocab, scale=2.0), _randn(seed + 1, batch, length, vocab, scale=2.0)
    ids = torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed + 2))
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, 4:] = 0  # right padding
    mask[2, :2] = 0  # left padding
    return student, teacher, ids, mask


def _reference(student: Array, teacher: Array, ids: Array, mask: Array, alpha: float, t: float,
               top_k: int | None = None) -> Array:
    """One loss per sequence: loop over positions whose token and next token are both real."""
    out = []
    for s_seq, t_seq, id_seq, m_seq in zip(student, teacher, ids, mask, strict=True):
        values = []
        for pos in range(len(id_seq) - 1):
            if not (m_seq[pos] and m_seq[pos + 1]):
                continue
            ce = -np.log(_softmax(s_seq[pos])[id_seq[pos + 1]])
            ps, pt = _softmax(s_seq[pos] / t), _softmax(t_seq[pos] / t)
            if top_k is not None:  # k kept tokens of the teacher, then one bucket for the rest
                kept = np.argsort(-pt)[:top_k]
                rest = np.setdiff1d(np.arange(len(pt)), kept)
                pt = np.append(pt[kept], pt[rest].sum())
                ps = np.append(ps[kept], ps[rest].sum())
                pt, ps = pt[pt > 0], ps[pt > 0]
            kl = float((pt * (np.log(pt) - np.log(ps))).sum())
            values.append(alpha * ce + (1 - alpha) * t**2 * kl)
        out.append(np.mean(values) if values else 0.0)
    return np.array(out)


@pytest.mark.parametrize(("alpha", "temperature"), [(0.0, 1.0), (0.5, 2.0), (1.0, 4.0), (0.3, 0.5)])
def test_token_kd_loss_padded_batch_matches_numpy_reference(alpha: float, temperature: float) -> None:
    # Prepare
    student, teacher, ids, mask = _batch()

    # Execute
    loss = token_kd_loss(student, teacher, ids, mask, alpha=alpha, temperature=temperature, reduction="none")

    # Assert
    expected = _reference(student.numpy(), teacher.numpy(), ids.numpy(), mask.numpy(), alpha, temperature)
    assert loss.shape == (3,)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_token_kd_loss_padding_logits_changed_loss_unchanged() -> None:
    # Prepare
    student, teacher, ids, mask = _batch()
    noisy_student, noisy_teacher, noisy_ids = student.clone(), teacher.clone(), ids.clone()
    noisy_student[1, 4:] += 50.0  # logits at padded positions
    noisy_teacher[2, :1] -= 30.0
    noisy_ids[1, 5] = (ids[1, 5] + 1) % 7  # a padded target

    # Execute
    clean = token_kd_loss(student, teacher, ids, mask, alpha=0.5, temperature=2.0, reduction="none")
    noisy = token_kd_loss(noisy_student, noisy_teacher, noisy_ids, mask, alpha=0.5, temperature=2.0, reduction="none")

    # Assert
    torch.testing.assert_close(clean, noisy)


def test_token_kd_loss_kl_term_scales_with_temperature_squared() -> None:
    # Prepare: the KL alone at T=3, and the same KL computed by hand without T^2
    student, teacher, ids, mask = _batch(seed=5)
    ones = torch.ones_like(mask)

    # Execute
    kd = token_kd_loss(student, teacher, ids, ones, alpha=0.0, temperature=3.0, reduction="mean")

    # Assert
    log_s = torch.log_softmax(student[:, :-1] / 3.0, -1)
    log_t = torch.log_softmax(teacher[:, :-1] / 3.0, -1)
    plain_kl = (log_t.exp() * (log_t - log_s)).sum(-1).mean()
    torch.testing.assert_close(kd, 9.0 * plain_kl)


def test_token_kd_loss_identical_logits_equal_alpha_times_ce() -> None:
    # Prepare
    student, _, ids, mask = _batch(seed=9)

    # Execute
    loss = token_kd_loss(student, student.clone(), ids, mask, alpha=0.25, temperature=2.0, reduction="none")
    ce_only = token_kd_loss(student, student.clone(), ids, mask, alpha=1.0, temperature=2.0, reduction="none")

    # Assert
    torch.testing.assert_close(loss, 0.25 * ce_only)


def test_token_kd_loss_fully_padded_sequence_gives_zero_and_no_nan() -> None:
    # Prepare
    student, teacher, ids, mask = _batch()
    mask[0] = 0
    mask[0, 3] = 1  # one real token: no next-token pair
    student.requires_grad_(True)

    # Execute
    loss = token_kd_loss(student, teacher, ids, mask, alpha=0.5, temperature=2.0, reduction="none")
    loss.sum().backward()

    # Assert
    assert loss[0].item() == 0.0
    assert student.grad is not None and torch.isfinite(student.grad).all()
    assert student.grad[0].abs().sum().item() == 0.0


def test_token_kd_loss_teacher_gets_no_gradient() -> None:
    # Prepare
    student, teacher, ids, mask = _batch()
    teacher.requires_grad_(True)

    # Execute
    token_kd_loss(student.requires_grad_(True), teacher, ids, mask, alpha=0.0, temperature=2.0).backward()

    # Assert
    assert teacher.grad is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"alpha": 1.5, "temperature": 1.0}, "alpha"), ({"alpha": 0.5, "temperature": 0.0}, "temperature")],
)
def test_token_kd_loss_bad_hyperparameter_raises_naming_it(kwargs: dict[str, float], message: str) -> None:
    student, teacher, ids, mask = _batch()
    with pytest.raises(ValueError, match=message):
        token_kd_loss(student, teacher, ids, mask, **kwargs)


def test_token_kd_loss_vocabulary_mismatch_raises() -> None:
    student, teacher, ids, mask = _batch()
    with pytest.raises(ValueError, match="vocabulary"):
        token_kd_loss(student, teacher[..., :-1], ids, mask, alpha=0.5, temperature=1.0)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_top_k_token_kd_loss_matches_numpy_bucket_reference(k: int) -> None:
    # Prepare
    student, teacher, ids, mask = _batch(seed=3)
    cache = top_k_teacher(teacher, k=k, temperature=2.0)

    # Execute
    loss = top_k_token_kd_loss(student, cache, ids, mask, alpha=0.4, temperature=2.0, reduction="none")

    # Assert
    expected = _reference(student.numpy(), teacher.numpy(), ids.numpy(), mask.numpy(), 0.4, 2.0, top_k=k)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_top_k_token_kd_loss_whole_vocabulary_equals_dense_loss() -> None:
    # Prepare
    student, teacher, ids, mask = _batch(seed=4)

    # Execute
    dense = token_kd_loss(student, teacher, ids, mask, alpha=0.2, temperature=1.5, reduction="none")
    sparse = top_k_token_kd_loss(student, top_k_teacher(teacher, k=7, temperature=1.5), ids, mask, alpha=0.2,
                                 temperature=1.5, reduction="none")

    # Assert
    torch.testing.assert_close(sparse, dense)


def test_top_k_token_kd_loss_small_k_never_exceeds_dense_kl() -> None:
    # Prepare: alpha=0 leaves the KL only; coarsening to k+1 buckets cannot increase it
    student, teacher, ids, mask = _batch(seed=6, vocab=11)

    # Execute
    dense = token_kd_loss(student, teacher, ids, mask, alpha=0.0, temperature=1.0, reduction="none")
    sparse = [top_k_token_kd_loss(student, top_k_teacher(teacher, k=k, temperature=1.0), ids, mask, alpha=0.0,
                                  temperature=1.0, reduction="none") for k in (1, 4, 10)]

    # Assert
    for values in sparse:
        assert bool((values <= dense + 1e-12).all())
        assert bool((values >= 0).all())


def test_top_k_token_kd_loss_gradient_is_finite_for_whole_vocabulary() -> None:
    student, teacher, ids, mask = _batch()
    student.requires_grad_(True)
    top_k_token_kd_loss(student, top_k_teacher(teacher, k=7, temperature=1.0), ids, mask, alpha=0.5,
                        temperature=1.0).backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()


def test_top_k_teacher_other_temperature_or_bad_k_raises() -> None:
    student, teacher, ids, mask = _batch()
    with pytest.raises(ValueError, match="kd-top-k"):
        top_k_teacher(teacher, k=0, temperature=1.0)
    with pytest.raises(ValueError, match="temperature 2.0"):
        top_k_token_kd_loss(student, top_k_teacher(teacher, k=2, temperature=2.0), ids, mask, alpha=0.5,
                            temperature=1.0)
