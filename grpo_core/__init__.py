"""grpo_core: Group Relative Policy Optimization as batched, pure torch functions.

The single source of truth for every number GRPO Explorer shows. No Streamlit in here.
"""

from grpo_core.device import DEVICE_ENV, device, device_name
from grpo_core.functional import (
    LOG_RATIO_CLAMP,
    clipped_surrogate,
    group_advantages,
    group_reward_std,
    kl_estimate,
    probability_ratio,
)
from grpo_core.loss import METRIC_NAMES, GRPOLossResult, grpo_loss

__all__ = [
    "DEVICE_ENV",
    "LOG_RATIO_CLAMP",
    "METRIC_NAMES",
    "GRPOLossResult",
    "clipped_surrogate",
    "device",
    "device_name",
    "group_advantages",
    "group_reward_std",
    "grpo_loss",
    "kl_estimate",
    "probability_ratio",
]
