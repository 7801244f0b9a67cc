"""Argument checks shared by the public functions: each raises ``ValueError`` naming the argument."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def choice(name: str, value, options: Iterable[str]) -> str:
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def tensor(name: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    if not (value.is_floating_point() or value.dtype == torch.bool):
        raise ValueError(f"{name} must be a floating-point tensor; got dtype {value.dtype}")
    return value


def non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def same_shape(name: str, value: torch.Tensor, like_name: str, like: torch.Tensor) -> None:
    if value.shape != like.shape:
        raise ValueError(f"{name} must have the shape of {like_name} {tuple(like.shape)}; got {tuple(value.shape)}")
