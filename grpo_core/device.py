"""Which torch device GRPO Explorer computes on."""

from __future__ import annotations

import functools
import os

import torch

#: Environment variable that overrides the automatic choice, e.g. ``GRPO_DEVICE=cpu`` or ``cuda:1``.
DEVICE_ENV = "GRPO_DEVICE"


@functools.cache
def device() -> torch.device:
    """The device to compute on: ``$GRPO_DEVICE`` if set, else CUDA, else Apple MPS, else CPU.

    Raises ``ValueError`` when ``$GRPO_DEVICE`` names a device that torch does not know or that this
    machine does not have.
    """
    wanted = os.environ.get(DEVICE_ENV, "").strip()
    if wanted:
        try:
            chosen = torch.device(wanted)
            torch.empty(0, device=chosen)
        except (RuntimeError, AssertionError) as err:
            raise ValueError(f"{DEVICE_ENV}={wanted!r} is not a usable torch device here: {err}") from None
        return chosen
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_name(dev: torch.device | None = None) -> str:
    """A human-readable name of ``dev`` (default :func:`device`): the GPU's name, or ``"CPU"``."""
    dev = device() if dev is None else dev
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "mps":
        return "Apple GPU (MPS)"
    return "CPU"
