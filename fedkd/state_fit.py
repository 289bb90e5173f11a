"""Whether a received set of named tensors fits the tensors a model trains, before any is copied."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def check_state_fits(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], *, kind: str,
                     owner: str) -> None:
    """Raise unless ``state`` has exactly the names of ``own`` with the same shapes.

    Parameters
    ----------
    own : mapping of str to torch.Tensor
        The model's trained tensors, by name.
    state : mapping of str to torch.Tensor
        The tensors received for them.
    kind, owner : str
        How messages name the state (``"adapter"``) and the model (``"student"``).

    Raises
    ------
    ValueError
        Naming the first missing or unexpected names, or the first tensor whose shape differs.
    """
    if set(own) != set(state):
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise ValueError(f"{kind} state does not match the {owner}: missing {missing[:3]}, unexpected "
                         f"{unexpected[:3]} ({len(missing)} and {len(unexpected)} in all)")
    wrong = [name for name, tensor in state.items() if tuple(tensor.shape) != tuple(own[name].shape)]
    if wrong:
        raise ValueError(f"{kind} tensor {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, the {owner}'s is "
                         f"{tuple(own[wrong[0]].shape)}")
