"""Parts of the KL and β page's sections (app/app_pages/kl_beta.py): section 3's long explanation and the
tables under the charts.

Kept apart so that the page reads as its sections and their text. Each function draws inside the section
that calls it, from values that section has. (The controls stay in the page: tests read their URL keys
from its source.)
"""

import functools

import pyarrow as pa
import streamlit as st
import torch

import kl_figures as kf
from grpo_core import grpo_loss, kl_estimate

#: Section 3's explanation of the gradients; the page ends it with the parameters of its lab.
GRADIENT_TEXT = (
    "A penalty β·k in the loss changes the policy only through its gradient. The sampled token x is not "
    "differentiated (it was drawn), so each token adds β·k′(d)·∇log π(x), with k′ = dk/d log π:\n\n"
    "- **k1 = d**: k′ = 1, gradient ∇log π, and E_π[∇log π] = Σ_x ∇π(x) = ∇1 = 0. On average **no pull "
    "toward π_ref at all**, only noise; its negative values are beside the point.\n"
    "- **k2 = d²/2**: k′ = d, gradient d·∇log π, whose mean is ∇KL(π‖π_ref), the gradient of the reverse "
    "KL the penalty is meant to be, although k2's *value* is biased.\n"
    "- **k3 = e^(−d) + d − 1** (DeepSeekMath, TRL): k′ = 1 − π_ref/π, whose mean gradient is "
    "0 − E_π_ref[∇log π] = ∇KL(π_ref‖π): the gradient of the **forward** KL, another divergence (the two "
    "agree to second order while π ≈ π_ref).\n\n"
    "In the **reward** instead (detached, subtracted before the advantages: InstructGPT, verl's "
    "`use_kl_in_reward`), a cost β·k enters the policy gradient as β·k·∇log π:\n\n"
    "- **k1 in the reward**: d·∇log π, whose mean is ∇KL(π‖π_ref): the unbiased (REINFORCE) estimate of "
    "the KL's gradient; for a one-token completion it is token by token the same as k2 in the loss.\n"
    "- **k3 in the reward**: a detached cost k has mean gradient ∇E_π[k] − E_π[∇k]; k3's value is "
    "unbiased but its own gradient is not zero-mean, so this is ∇KL(π‖π_ref) − ∇KL(π_ref‖π), nearly 0 "
    "while π ≈ π_ref.\n\n"
    "The chart measures all five on the samples drawn above, with the parameters of the policy: "
)

# The seed notebook's TODO 1 example, except that the first completion has drifted far from the reference
# (its reference log-prob is -2.5, not -1.2): with the notebook's even drifts, a 1, 0, 1, 0 group
# normalises to the same +-0.87 advantages whatever beta is, and the comparison would show nothing.
NOTEBOOK = {
    "logp_new": [-1.0, -2.0, -0.5, -3.0],
    "logp_old": [-1.1, -1.9, -0.6, -2.8],
    "logp_ref": [-2.5, -2.1, -0.7, -3.1],
    "rewards": [1.0, 0.0, 1.0, 0.0],
}


# The tables are Arrow tables, not pandas DataFrames: st.dataframe sends Arrow, and building it from columns
# costs ~0.2 ms where a DataFrame and its conversion cost ~1 ms (bare st.dataframe, 5 rows x 7 columns).
def estimator_table(result, lab: str, shape: tuple) -> None:
    """The exact KL, the estimators' table, and the warning where k3's variance is infinite."""
    table = pa.table({
        "estimator": [f"{name} = {kf.ESTIMATOR_FORMULAS[name]}" for name in result.estimators],
        "mean estimate": result.mean.numpy(),
        "bias": result.bias.numpy(),
        "± standard error": result.standard_error.numpy(),
        "spread (std over trials)": result.spread.numpy(),
        "std of one sample": result.sample_std.numpy(),
        "single samples < 0": result.frac_negative_samples.numpy(),
    })
    exact_col, table_col = st.columns([1, 3], gap="large")
    exact_col.metric("exact KL(π ‖ π_ref)", f"{result.exact:.4f}",
                     help="Computed in closed form from the two distributions, no sampling.")
    table_col.dataframe(
        table, hide_index=True, key="kl_estimator_table",
        column_config={
            "mean estimate": st.column_config.NumberColumn(format="%.4f", help="Average over the trials."),
            "bias": st.column_config.NumberColumn(format="%+.4f", help="Mean estimate minus the exact KL."),
            "± standard error": st.column_config.NumberColumn(
                format="%.4f", help="Standard error of the mean estimate: the std of one sample over "
                "√(N × trials). A bias within 2 to 3 standard errors of 0 is noise. Meaningless where the "
                "variance is infinite."),
            "spread (std over trials)": st.column_config.NumberColumn(
                format="%.4f", help="How much one N-sample estimate varies: the noise a training step sees."),
            "std of one sample": st.column_config.NumberColumn(format="%.4f"),
            "single samples < 0": st.column_config.NumberColumn(
                format="percent", help="Share of single-token estimates below zero. A KL is never negative."),
        },
    )
    if lab == "Gaussians" and result.infinite_variance[2]:
        _, sigma, _, sigma_ref = shape
        k3_se = result.standard_error[2].item()
        k3_gap = f", {abs(result.bias[2].item()) / k3_se:.1f} “standard errors” from 0," if k3_se > 0 else ""
        st.warning(
            f"**k3's variance is infinite here**: σ_π² = {sigma**2:.4g} ≤ σ_ref²/2 = {sigma_ref**2 / 2:.4g}. "
            "With r = π_ref/π, k3 = r − 1 − log r, and E_π[r²] = ∫ π_ref²/π dx diverges: where the reference's "
            "tails are wider than the policy's, rare samples give huge r. k3 is still unbiased, but its sample "
            "mean converges slowly, and a standard error computed from the samples cannot be trusted: the bias "
            f"column shows {result.bias[2].item():+.4f}{k3_gap} for an estimator whose bias is exactly 0.",
            icon=":material/all_inclusive:",
        )


def gradient_table(gradients) -> None:
    """The gradient lab's table, its k1 caption, and the warning where k3's gradient variance is infinite."""
    distance = gradients.distance_in_standard_errors()
    st.dataframe(
        pa.table({
            "KL term": [kf.GRADIENT_ROWS[t][0] for t in gradients.terms],
            "gradient per token": [kf.GRADIENT_ROWS[t][1] for t in gradients.terms],
            "its mean is": [kf.GRADIENT_ROWS[t][2] for t in gradients.terms],
            "measured − expected, in standard errors": [
                "variance infinite" if inf else "> 1000" if not z < 1000 else f"{z:.1f}"
                for z, inf in zip(distance.tolist(), gradients.infinite_variance)],
            "std of one token's gradient": gradients.sample_std.max(dim=-1).values.numpy(),
        }),
        hide_index=True, key="kl_gradient_table",
        column_config={
            "measured − expected, in standard errors": st.column_config.TextColumn(
                help="The largest |measured mean − exact mean| over the parameters, divided by its standard "
                "error. Below about 3 the measurement agrees with the formula."),
            "std of one token's gradient": st.column_config.NumberColumn(
                format="%.4f", help="The largest, over the parameters, std of a single token's gradient: the "
                "noise this term adds to one update, whatever its mean."),
        },
    )
    st.caption(
        f"k1 in the loss: mean gradient {gradients.mean[0].abs().max().item():.4f} at most (exact: 0), while a "
        f"single token's gradient has std up to {gradients.sample_std[0].max().item():.4f}: noise with no pull."
    )
    if any(gradients.infinite_variance):
        st.warning(
            "k3's gradient has infinite variance here too (σ_π² ≤ σ_ref²/2): its bars can sit far from the "
            "exact values, and their whiskers mean nothing.", icon=":material/all_inclusive:",
        )


# The slider moves β in steps of 0.01 over [0, 1], so its settings fit (a link may carry any β in range:
# maxsize bounds the cache). Two grpo_loss calls were ~15% of a β change's server time (py-spy), for a
# table a class asks for at the same few values.
@functools.lru_cache(maxsize=128)
def placements(beta: float) -> tuple[pa.Table, float, float]:
    """The table's rows at ``beta`` and the loss with the KL in the loss and in the reward. Shared by every
    session (``functools.lru_cache``): an Arrow table is immutable."""
    inputs = {name: torch.tensor(values) for name, values in NOTEBOOK.items()}
    results = {
        place: grpo_loss(inputs["logp_new"], inputs["logp_old"], inputs["logp_ref"], inputs["rewards"],
                         beta=beta, kl_in=place, kl_estimator="k3")
        for place in ("loss", "reward")
    }
    kl_k3 = kl_estimate(inputs["logp_new"], inputs["logp_ref"], estimator="k3").numpy()
    table = pa.table({
        "reward": NOTEBOOK["rewards"],
        "KL (k3)": kl_k3,
        "A, KL in loss": results["loss"].advantages.reshape(-1).numpy(),
        "A, KL in reward": results["reward"].advantages.reshape(-1).numpy(),
    })
    return table, results["loss"].loss.item(), results["reward"].loss.item()


def placement_table(beta: float) -> None:
    """The notebook's four completions' advantages with the KL (k3) in the loss and in the reward, at ``beta``."""
    table, loss_in_loss, loss_in_reward = placements(beta)
    st.dataframe(
        table,
        hide_index=True, key="kl_placement_table",
        column_config={
            "KL (k3)": st.column_config.NumberColumn(format="%+.4f", help="k3 estimate of this completion's KL."),
            "A, KL in loss": st.column_config.NumberColumn(
                format="%+.4f", help="Advantage with kl_in=\"loss\": computed from the rewards alone."),
            "A, KL in reward": st.column_config.NumberColumn(
                format="%+.4f", help="Advantage with kl_in=\"reward\": from reward − β·KL."),
        },
    )
    st.caption(
        f"loss with KL in the loss: {loss_in_loss:.4f} · with KL in the reward: {loss_in_reward:.4f}"
    )
