"""Where the student and the teacher run, and how the teacher's logits reach the student's device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class DevicePlan:
    """Where the student and the teacher run."""

    student: torch.device
    teacher: torch.device


def plan_devices(student: str = "auto", teacher: str = "auto") -> DevicePlan:
    """Resolve ``student-device`` and ``teacher-device``.

    ``"auto"`` puts the student on ``cuda:0`` when CUDA is present (else the CPU) and the teacher on
    ``cuda:1`` when there are two GPUs, so the two models do not share one GPU's memory, else beside the
    student. An explicit name is taken as given.

    Raises
    ------
    ValueError
        If a name is not a torch device, or names a CUDA device that is absent.
    """
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0

    def resolve(name: str, auto: torch.device) -> torch.device:
        if name == "auto":
            return auto
        try:
            device = torch.device(name)
        except RuntimeError as error:
            raise ValueError(f"device {name!r} is not a torch device") from error
        if device.type == "cuda" and (device.index or 0) >= count:
            raise ValueError(f"device {name!r} asked for, but only {count} CUDA device(s) are present")
        return device

    student_device = resolve(student, torch.device("cuda:0") if count else torch.device("cpu"))
    teacher_auto = torch.device("cuda:1") if count >= 2 and student == "auto" else student_device
    return DevicePlan(student_device, resolve(teacher, teacher_auto))


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s first parameter."""
    return next(model.parameters()).device


def teacher_logits(teacher: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, *,
                   device: torch.device) -> torch.Tensor:
    """The frozen teacher's logits ``(batch, length, vocabulary)`` for a batch, returned on ``device``."""
    where = model_device(teacher)
    with torch.no_grad():
        logits = teacher(input_ids=input_ids.to(where), attention_mask=attention_mask.to(where)).logits
    moved: torch.Tensor = logits.to(device)
    return moved
