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
from grpo_core.loss import LOSS_TYPES, METRIC_NAMES, TRL_LOSS_TYPES, GRPOLossResult, LossTerms, grpo_loss, loss_terms
from grpo_core.advantages import ADVANTAGE_ESTIMATORS
from grpo_core.aggregation import AGGREGATIONS, aggregation_weights
from grpo_core.kl import KL_ESTIMATORS_REGISTRY
from grpo_core.objectives import OBJECTIVES, register_objective

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AGGREGATIONS",
    "KL_ESTIMATORS_REGISTRY",
    "LOSS_TYPES",
    "LossTerms",
    "OBJECTIVES",
    "TRL_LOSS_TYPES",
    "aggregation_weights",
    "loss_terms",
    "register_objective",
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
