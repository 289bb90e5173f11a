"""Device placement, the frozen teacher's logits on the student's device, and the cached site teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from fedkd.llm.devices import model_device, plan_devices, teacher_logits
from fedkd.llm.evaluation import evaluate_lm
from fedkd.llm.teacher import (
    TeacherRecipe,
    cached_teacher_report,
    fine_tune_teacher,
    freeze,
    load_site_teacher,
    split_holdout,
)
from fedkd.llm.text import TokenBlocks
from tests.optional_data import needs_llm

pytestmark = needs_llm


def _cuda(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


@pytest.mark.parametrize(
    ("count", "student", "teacher", "expected"),
    [
        (0, "auto", "auto", ("cpu", "cpu")),
        (1, "auto", "auto", ("cuda:0", "cuda:0")),
        (2, "auto", "auto", ("cuda:0", "cuda:1")),
        (2, "cuda:1", "auto", ("cuda:1", "cuda:1")),
        (2, "auto", "cpu", ("cuda:0", "cpu")),
        (0, "cpu", "cpu", ("cpu", "cpu")),
    ],
)
def test_plan_devices_gpu_count_and_names_give_expected_devices(
    monkeypatch: pytest.MonkeyPatch, count: int, student: str, teacher: str, expected: tuple[str, str]
) -> None:
    # Prepare
    _cuda(monkeypatch, count)

    # Execute
    plan = plan_devices(student, teacher)

    # Assert
    assert (str(plan.student), str(plan.teacher)) == expected


def test_plan_devices_absent_gpu_raises_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _cuda(monkeypatch, 1)
    with pytest.raises(ValueError, match="cuda:1"):
        plan_devices("auto", "cuda:1")
    with pytest.raises(ValueError, match="not a torch device"):
        plan_devices("gpu0", "auto")


class _Recorder(torch.nn.Module):
    """A stand-in teacher that records where its inputs arrive and answers on its own device."""

    def __init__(self, device: str) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.device_name = device
        self.seen: list[str] = []

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        self.seen.append(str(input_ids.device))
        logits = torch.ones(*input_ids.shape, 5, requires_grad=True) * self.weight
        return type("Out", (), {"logits": logits})()


def test_teacher_logits_other_device_inputs_follow_teacher_outputs_follow_student(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare: a teacher claiming to sit on cuda:1 (mocked: tensors stay on the CPU)
    teacher = _Recorder("cuda:1")
    monkeypatch.setattr("fedkd.llm.devices.model_device", lambda model: torch.device("cpu"))
    moves: list[str] = []
    original = torch.Tensor.to

    def spy(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        moves.append(str(args[0]) if args else str(kwargs.get("device")))
        return original(self, "cpu")

    monkeypatch.setattr(torch.Tensor, "to", spy)
    ids = torch.zeros(2, 3, dtype=torch.long)

    # Execute
    logits = teacher_logits(teacher, ids, torch.ones_like(ids), device=torch.device("cuda", 0))

    # Assert: inputs went to the teacher's device, logits to the student's, and no graph was kept
    assert moves == ["cpu", "cpu", "cuda:0"]
    assert not logits.requires_grad
    assert logits.shape == (2, 3, 5)


def test_teacher_logits_two_cpu_devices_match_plain_forward(tiny_llama: Any, blocks: TokenBlocks) -> None:
    # Prepare
    teacher = freeze(tiny_llama)

    # Execute
    logits = teacher_logits(teacher, blocks.input_ids, blocks.attention_mask, device=torch.device("cpu"))

    # Assert
    with torch.no_grad():
        expected = teacher(input_ids=blocks.input_ids, attention_mask=blocks.attention_mask).logits
    torch.testing.assert_close(logits, expected)
    assert logits.device == model_device(teacher)


def test_load_site_teacher_second_load_reads_cache_and_equals_first(
    tiny_llama: Any, blocks: TokenBlocks, tmp_path: Path
) -> None:
    # Prepare
    recipe = TeacherRecipe(steps=2, learning_rate=0.05, batch_size=4, rank=2)
    base_before = {name: tensor.clone() for name, tensor in tiny_llama.state_dict().items()}

    # Execute
    first = load_site_teacher(tiny_llama, blocks, recipe, device=torch.device("cpu"), cache_dir=tmp_path,
                              base_name="tiny")
    cached = list((tmp_path / "llm" / "teachers").glob("*.safetensors"))
    second = load_site_teacher(tiny_llama, blocks, recipe, device=torch.device("cpu"), cache_dir=tmp_path,
                               base_name="tiny")

    # Assert: fine-tuning changed the weights, the cache reproduces them, the base is untouched
    assert len(cached) == 1
    assert not any(p.requires_grad for p in second.parameters()) and not second.training
    changed = [name for name, tensor in first.state_dict().items() if not torch.equal(tensor, base_before[name])]
    assert changed and all("proj" in name for name in changed)
    for name, tensor in first.state_dict().items():
        assert torch.equal(second.state_dict()[name], tensor), name
    assert all(torch.equal(tensor, base_before[name]) for name, tensor in tiny_llama.state_dict().items())


def test_teacher_recipe_bad_values_raise() -> None:
    with pytest.raises(ValueError, match="batch size"):
        TeacherRecipe(steps=1, learning_rate=0.1, batch_size=0)


def _step_blocks() -> TokenBlocks:
    """Ten blocks of one repeated 12-token sentence: fine-tuning lowers held-out perplexity at first."""
    sentence = torch.tensor([5, 9, 14, 20, 27, 33, 38, 41, 47, 52, 56, 60])
    ids = sentence.repeat(10, 1)
    return TokenBlocks(ids, torch.ones_like(ids))


def test_fine_tune_teacher_early_stopping_stops_after_patience_and_keeps_best(tiny_llama: Any) -> None:
    # Prepare: a learning rate so high that the held-out perplexity gets worse after the first steps
    recipe = TeacherRecipe(steps=40, learning_rate=0.5, batch_size=2, rank=4, eval_every=2, patience=2,
                           holdout_fraction=0.2)
    blocks = _step_blocks()
    _, holdout = split_holdout(blocks, recipe.holdout_fraction)

    # Execute
    teacher, report = fine_tune_teacher(tiny_llama, blocks, recipe, device=torch.device("cpu"))

    # Assert: it stopped early, `patience` scores after the best, and the teacher scores the best perplexity
    assert report is not None
    best = min(report.perplexities)
    best_index = report.perplexities.index(best)
    assert report.steps_run < recipe.steps
    assert len(report.perplexities) - 1 - best_index == recipe.patience
    assert report.best_step == report.scored_steps[best_index]
    assert report.scored_steps[0] == 0 and report.scored_steps[-1] == report.steps_run
    assert report.perplexities[-1] > best
    assert evaluate_lm(teacher, holdout).perplexity == pytest.approx(best, rel=1e-4)


def test_fine_tune_teacher_no_step_helps_restores_base(tiny_llama: Any, blocks: TokenBlocks) -> None:
    # Prepare: a learning rate that wrecks the model at the first step
    recipe = TeacherRecipe(steps=6, learning_rate=50.0, batch_size=2, rank=4, eval_every=1, patience=1)
    _, holdout = split_holdout(blocks, recipe.holdout_fraction)

    # Execute
    teacher, report = fine_tune_teacher(tiny_llama, blocks, recipe, device=torch.device("cpu"))

    # Assert: the base's own score is the best; the teacher predicts as the base does
    assert report is not None and report.best_step == 0 and report.steps_run == 1
    expected = tiny_llama(input_ids=blocks.input_ids, attention_mask=blocks.attention_mask).logits
    actual = teacher(input_ids=blocks.input_ids, attention_mask=blocks.attention_mask).logits
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    assert evaluate_lm(teacher, holdout).perplexity == pytest.approx(report.perplexities[0], rel=1e-5)


def test_load_site_teacher_early_stopping_report_cached_with_teacher(
    tiny_llama: Any, blocks: TokenBlocks, tmp_path: Path
) -> None:
    # Prepare
    recipe = TeacherRecipe(steps=4, learning_rate=0.01, batch_size=2, rank=2, eval_every=2)

    # Execute
    load_site_teacher(tiny_llama, blocks, recipe, device=torch.device("cpu"), cache_dir=tmp_path, base_name="tiny")
    report = cached_teacher_report(blocks, recipe, cache_dir=tmp_path, base_name="tiny")
    plain = TeacherRecipe(steps=4, learning_rate=0.01, batch_size=2, rank=2)

    # Assert
    assert report is not None and report.scored_steps == (0, 2, 4) and len(report.perplexities) == 3
    assert cached_teacher_report(blocks, plain, cache_dir=tmp_path, base_name="tiny") is None


def test_teacher_recipe_bad_early_stopping_raises_naming_it() -> None:
    with pytest.raises(ValueError, match="patience >= 1"):
        TeacherRecipe(steps=4, learning_rate=0.01, batch_size=2, eval_every=2, patience=0)
