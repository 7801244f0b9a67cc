"""KL and β: the KL-penalised reward, a Monte-Carlo lab for the k1/k2/k3 KL estimators, and where the KL
term goes (loss or reward)."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

import charts
import urlstate
from grpo_core import grpo_loss, kl_estimate
from grpo_core.curves import (
    MAX_SAMPLES,
    MAX_TRIALS,
    categorical_estimator_lab,
    gaussian_estimator_lab,
    total_reward,
)

REWARD_RANGE = (-5.0, 5.0)
KL_RANGE = (0.0, 20.0)
BETA_RANGE = (0.0, 1.0)
MU_RANGE = (-3.0, 3.0)
SIGMA_RANGE = (0.2, 3.0)
LOGIT_RANGE = (-4.0, 4.0)
SAMPLE_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, MAX_SAMPLES)
TRIALS_RANGE = (10, MAX_TRIALS)
SEED_RANGE = (0, 1_000_000)
LABS = ("Gaussians", "Tokens")
TOKENS = ("the", "a", "one", "an", "this")
DEFAULT_LOGITS = (2.0, 1.0, 0.5, -1.0, -2.0)
DEFAULT_REF_LOGITS = (1.0, 1.0, 1.0, 0.0, 0.0)
KL_DEFAULTS = (1.0, 5.0, 10.0)  # the notebook's TODO 2
KL_DASHES = ("solid", "dash", "dot")
BETA_GRID = torch.linspace(0.0, 1.0, 101)
ESTIMATOR_FORMULAS = {"k1": "d", "k2": "d²/2", "k3": "e^(−d) + d − 1"}
ESTIMATOR_COLORS = {"k1": charts.OKABE_ITO["vermilion"], "k2": charts.OKABE_ITO["sky"], "k3": charts.OKABE_ITO["blue"]}

_spec = {
    "kl_reward": urlstate.float_in(*REWARD_RANGE),
    "kl_beta": urlstate.float_in(*BETA_RANGE),
    **{f"kl_value{i + 1}": urlstate.float_in(*KL_RANGE) for i in range(len(KL_DEFAULTS))},
    "kl_lab": urlstate.one_of(*LABS),
    "kl_mu": urlstate.float_in(*MU_RANGE),
    "kl_sigma": urlstate.float_in(*SIGMA_RANGE),
    "kl_mu_ref": urlstate.float_in(*MU_RANGE),
    "kl_sigma_ref": urlstate.float_in(*SIGMA_RANGE),
    **{f"kl_logit{i + 1}": urlstate.float_in(*LOGIT_RANGE) for i in range(len(TOKENS))},
    **{f"kl_ref_logit{i + 1}": urlstate.float_in(*LOGIT_RANGE) for i in range(len(TOKENS))},
    "kl_samples": urlstate.one_of(*map(str, SAMPLE_SIZES)),
    "kl_trials": urlstate.int_in(*TRIALS_RANGE),
    "kl_seed": urlstate.int_in(*SEED_RANGE),
}
urlstate.validate_params(_spec)


@st.cache_data(max_entries=64, show_spinner=False)
def _gaussian_lab(mu, sigma, mu_ref, sigma_ref, num_samples, num_trials, seed):
    return gaussian_estimator_lab(mu, sigma, mu_ref, sigma_ref, num_samples=num_samples, num_trials=num_trials,
                                  seed=seed)


@st.cache_data(max_entries=64, show_spinner=False)
def _token_lab(logits, logits_ref, num_samples, num_trials, seed):
    return categorical_estimator_lab(list(logits), list(logits_ref), num_samples=num_samples,
                                     num_trials=num_trials, seed=seed)


st.title("KL and β")
st.markdown(
    "GRPO keeps the policy π close to a frozen **reference** π_ref (the model before RL) with a KL "
    "penalty weighted by **β**. This page shows what β does to the reward, how the KL is *estimated* "
    "from the sampled tokens (it is never computed exactly for a language model), and where the penalty "
    "enters the update."
)

# ----------------------------------------------------------------------------------------------------
st.header("1. The penalty: R − β·KL")
controls, chart = st.columns([1, 3], gap="large")
with controls:
    r_outcome = st.number_input(
        "outcome reward R", *REWARD_RANGE, value=1.0, step=0.1, key="kl_reward", bind="query-params",
        help="The reward of a completion before any penalty, e.g. 1 for a correct answer, 0 for a wrong one.",
    )
    kls = [
        st.number_input(
            f"KL value {i + 1}", *KL_RANGE, value=default, step=0.5, key=f"kl_value{i + 1}", bind="query-params",
            help="How far the policy has drifted from the reference on this completion (KL, in nats). "
            "Each value is one line on the chart.",
        )
        for i, default in enumerate(KL_DEFAULTS)
    ]
    beta = st.slider(
        "β (KL weight)", *BETA_RANGE, value=0.1, step=0.01, key="kl_beta", bind="query-params",
        help="Weight of the KL penalty. DeepSeekMath used 0.04; many recent recipes (DAPO, Dr. GRPO, TRL's "
        "default) use 0, relying on clipping alone. Also used by the loss-vs-reward demo below.",
    )

at_beta = total_reward(r_outcome, torch.tensor([beta]), torch.tensor(kls))[:, 0]

# Figures are cached per input (as Plotly objects, read-only once built): validating a go.Figure costs
# ~5-15 ms, and one control change on this page changes only one section's inputs.
FIGURE_CACHE = dict(max_entries=32, show_spinner=False)


@st.cache_resource(**FIGURE_CACHE)
def _reward_figure(r_outcome: float, kls: tuple[float, ...], beta: float) -> go.Figure:
    totals = total_reward(r_outcome, BETA_GRID, torch.tensor(kls))
    at_beta = total_reward(r_outcome, torch.tensor([beta]), torch.tensor(kls))[:, 0]
    x = BETA_GRID.numpy()
    traces = [
        go.Scatter(x=x, y=totals[i].numpy(), name=f"KL = {kl:g}", mode="lines",
                   line=dict(color=charts.SERIES[i], dash=KL_DASHES[i], width=3),
                   hovertemplate=f"KL = {kl:g}<br>β = %{{x:.2f}}<br>R − β·KL = %{{y:.3f}}<extra></extra>")
        for i, kl in enumerate(kls)
    ]
    traces.append(go.Scatter(
        x=[beta] * len(kls), y=at_beta.numpy(), mode="markers", name=f"at β = {beta:g}",
        marker=dict(size=12, color=charts.OKABE_ITO["black"], symbol="diamond"),
        cliponaxis=False,  # at β = 0 or 1 the diamonds sit on the plot's edge: draw them whole
        hovertemplate="β = %{x:.2f}<br>R − β·KL = %{y:.3f}<extra></extra>",
    ))
    layout = dict(
        xaxis=dict(title_text="β (KL weight)", range=[0, 1]),
        yaxis=dict(title_text="total reward R − β·KL", zeroline=True, zerolinecolor=charts.OKABE_ITO["black"],
                   zerolinewidth=2),
        shapes=[dict(type="line", x0=beta, x1=beta, y0=0, y1=1, yref="y domain",
                     line=dict(color=charts.NEUTRAL, width=1, dash="dot"))],
    )
    return go.Figure(data=traces, layout=charts.house_layout(height=420, key="kl-total-reward", **layout))


with chart:
    st.plotly_chart(_reward_figure(r_outcome, tuple(kls), beta), key="kl_reward_chart", theme=None, config={"displaylogo": False})
    st.markdown(
        f"Each line is one completion's total reward as β grows from 0 to 1. The penalty is β·KL, so "
        f"a line falls faster the larger its KL. Where a line crosses 0 the penalty has eaten the whole "
        f"reward. At β = {beta:g}, the completions above get "
        + ", ".join(f"**{v:.3f}**" for v in at_beta.tolist())
        + ": a completion that drifted far can end up worse than a wrong answer that stayed close."
    )

# ----------------------------------------------------------------------------------------------------
st.header("2. Estimating the KL from samples: k1, k2, k3")
st.markdown(
    "During training the KL is estimated from the tokens the policy actually sampled, with "
    "d = log π(x) − log π_ref(x) per token. Three estimators are in use: **k1** = d (the seed "
    "notebook's), **k2** = d²/2, and **k3** = e^(−d) + d − 1 (DeepSeekMath, TRL, verl). Shape the two "
    "distributions, and compare each estimator's average over N samples with the exact KL, over many "
    "repeated trials."
)
lab = st.segmented_control(
    "distributions", LABS, default=LABS[0], key="kl_lab", bind="query-params", required=True,
    help="Gaussians: two bell curves you shape by mean and std. Tokens: a next-token distribution over five "
    "tokens, policy vs reference, shaped by their logits (what a language model outputs).",
)
lab_controls, lab_charts = st.columns([1, 3], gap="large")
with lab_controls:
    if lab == "Tokens":
        st.caption("Logits of the policy π (left) and the reference π_ref (right); softmax gives the probabilities.")
        policy_col, ref_col = st.columns(2)
        logits = tuple(
            policy_col.slider(
                f"π: “{tok}”", *LOGIT_RANGE, value=DEFAULT_LOGITS[i], step=0.1, key=f"kl_logit{i + 1}",
                bind="query-params",
                help=f"The policy's logit for the token “{tok}”. Raising it makes the policy sample it more.",
            )
            for i, tok in enumerate(TOKENS)
        )
        logits_ref = tuple(
            ref_col.slider(
                f"π_ref: “{tok}”", *LOGIT_RANGE, value=DEFAULT_REF_LOGITS[i], step=0.1,
                key=f"kl_ref_logit{i + 1}", bind="query-params",
                help=f"The frozen reference model's logit for “{tok}”.",
            )
            for i, tok in enumerate(TOKENS)
        )
    else:
        policy_col, ref_col = st.columns(2)
        mu = policy_col.slider("π mean", *MU_RANGE, value=0.5, step=0.05, key="kl_mu", bind="query-params",
                               help="Mean of the policy π, the distribution that samples.")
        sigma = policy_col.slider("π std", *SIGMA_RANGE, value=1.0, step=0.05, key="kl_sigma",
                                  bind="query-params", help="Spread of the policy π.")
        mu_ref = ref_col.slider("π_ref mean", *MU_RANGE, value=0.0, step=0.05, key="kl_mu_ref",
                                bind="query-params", help="Mean of the frozen reference π_ref.")
        sigma_ref = ref_col.slider("π_ref std", *SIGMA_RANGE, value=1.0, step=0.05, key="kl_sigma_ref",
                                   bind="query-params", help="Spread of the frozen reference π_ref.")
    num_samples = st.select_slider(
        "N samples per estimate", SAMPLE_SIZES, value=10, key="kl_samples", bind="query-params",
        help="How many sampled tokens one KL estimate averages over (a training step averages over the "
        "tokens of its batch). More samples, less noise.",
    )
    num_trials = st.slider(
        "trials", *TRIALS_RANGE, value=200, step=10, key="kl_trials", bind="query-params",
        help="How many independent N-sample estimates to draw, to see their bias and spread.",
    )
    seed = st.number_input(
        "seed", *SEED_RANGE, value=0, step=1, key="kl_seed", bind="query-params",
        help="Seed of the random generator: the same seed draws the same samples, so a link reproduces "
        "the exact picture.",
    )

shape = (logits, logits_ref) if lab == "Tokens" else (mu, sigma, mu_ref, sigma_ref)
sizes = (num_samples, num_trials, int(seed))


def _run_lab(lab: str, shape: tuple, sizes: tuple[int, int, int]):
    return _token_lab(*shape, *sizes) if lab == "Tokens" else _gaussian_lab(*shape, *sizes)


result = _run_lab(lab, shape, sizes)


@st.cache_resource(**FIGURE_CACHE)
def _distribution_figure(lab: str, shape: tuple) -> go.Figure:
    policy_style = dict(color=charts.OKABE_ITO["blue"])
    ref_style = dict(color=charts.OKABE_ITO["orange"])
    if lab == "Tokens":
        probs, probs_ref = (torch.softmax(torch.tensor(v), -1).numpy() for v in shape)
        traces = [
            go.Bar(x=list(TOKENS), y=probs, name="policy π", marker=policy_style,
                   hovertemplate="π(%{x}) = %{y:.3f}<extra></extra>"),
            go.Bar(x=list(TOKENS), y=probs_ref, name="reference π_ref",
                   marker=dict(**ref_style, pattern=dict(shape="/", fgcolor="white", fillmode="overlay")),
                   hovertemplate="π_ref(%{x}) = %{y:.3f}<extra></extra>"),
        ]
        layout = dict(barmode="group", yaxis=dict(title_text="probability", range=[0, 1]))
    else:
        mu, sigma, mu_ref, sigma_ref = shape
        lo = min(mu - 4 * sigma, mu_ref - 4 * sigma_ref)
        hi = max(mu + 4 * sigma, mu_ref + 4 * sigma_ref)
        x = torch.linspace(lo, hi, 301, dtype=torch.float64)
        traces = [
            go.Scatter(x=x.numpy(), y=torch.distributions.Normal(m, s).log_prob(x).exp().numpy(), name=name,
                       line=dict(**style, width=3, dash=dash), hoverinfo="skip")
            for m, s, name, style, dash in ((mu, sigma, "policy π", policy_style, "solid"),
                                             (mu_ref, sigma_ref, "reference π_ref", ref_style, "dash"))
        ]
        layout = dict(xaxis=dict(title_text="x"), yaxis=dict(title_text="density"))
    return go.Figure(data=traces, layout=charts.house_layout(height=300, key=f"kl-dist-{lab}", **layout))


@st.cache_resource(**FIGURE_CACHE)
def _spread_figure(lab: str, shape: tuple, sizes: tuple[int, int, int]) -> go.Figure:
    result = _run_lab(lab, shape, sizes)
    traces = [
        go.Box(y=result.trial_estimates[i].numpy(), name=f"{name}: {ESTIMATOR_FORMULAS[name]}",
               marker=dict(color=ESTIMATOR_COLORS[name]), boxpoints="all", jitter=0.4, pointpos=0,
               marker_size=4, boxmean=True, hoverinfo="y")
        for i, name in enumerate(result.estimators)
    ]
    layout = dict(
        showlegend=False,
        yaxis=dict(title_text=f"estimate from N = {result.num_samples} samples", zeroline=True,
                   zerolinecolor=charts.OKABE_ITO["black"]),
        shapes=[dict(type="line", x0=0, x1=1, xref="x domain", y0=result.exact, y1=result.exact,
                     line=dict(color=charts.OKABE_ITO["black"], width=3, dash="dash"))],
    )
    title = f"{result.num_trials} estimates each; dashed line: exact KL = {result.exact:.4f}"
    return go.Figure(data=traces, layout=charts.house_layout(title=title, height=440, key="kl-spread", **layout))


with lab_charts:
    st.plotly_chart(_distribution_figure(lab, shape), key="kl_dist_chart", theme=None, config={"displaylogo": False})
    st.plotly_chart(_spread_figure(lab, shape, sizes), key="kl_spread_chart", theme=None, config={"displaylogo": False})
    st.markdown(
        f"Each dot is one estimate of the KL from N = {result.num_samples} samples; the box shows where "
        f"the middle half of the {result.num_trials} trials fall, and the dashed line is the exact KL. "
        "An estimator is **unbiased** if its boxes centre on the dashed line (its mean, the dashed line "
        "inside the box, sits on it), and **low-variance** if its box is short."
    )

table = pd.DataFrame({
    "estimator": [f"{name} = {ESTIMATOR_FORMULAS[name]}" for name in result.estimators],
    "mean estimate": result.mean.numpy(),
    "bias": result.bias.numpy(),
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
        "spread (std over trials)": st.column_config.NumberColumn(
            format="%.4f", help="How much one N-sample estimate varies: the noise a training step sees."),
        "std of one sample": st.column_config.NumberColumn(format="%.4f"),
        "single samples < 0": st.column_config.NumberColumn(
            format="percent", help="Share of single-token estimates below zero. A KL is never negative."),
    },
)
st.markdown(
    "**Why k3 is the default.** k1 is unbiased but noisy, and a single token's k1 is negative whenever "
    "the reference likes that token more than the policy does, so a penalty built on it can *reward* "
    "drifting. k2 is never negative and quiet, but biased: it is only a second-order approximation, and "
    "the bias grows as the two distributions move apart. k3 adds e^(−d) − 1, whose average is exactly 0, "
    "to k1: the mean stays exact (unbiased), every sample is ≥ 0, and when π and π_ref are close the "
    "noise of k1 largely cancels. It is not magic: when the policy is much narrower than the reference, "
    "e^(−d) = π_ref/π explodes in the policy's tails and k3 becomes the noisy one."
)

# ----------------------------------------------------------------------------------------------------
st.header("3. Where the KL goes: in the loss or in the reward")
# The seed notebook's TODO 1 example, except that the first completion has drifted far from the reference
# (its reference log-prob is -2.5, not -1.2): with the notebook's even drifts, a 1, 0, 1, 0 group
# normalises to the same +-0.87 advantages whatever beta is, and the comparison would show nothing.
NOTEBOOK = {
    "logp_new": [-1.0, -2.0, -0.5, -3.0],
    "logp_old": [-1.1, -1.9, -0.6, -2.8],
    "logp_ref": [-2.5, -2.1, -0.7, -3.1],
    "rewards": [1.0, 0.0, 1.0, 0.0],
}
inputs = {name: torch.tensor(values) for name, values in NOTEBOOK.items()}
placements = {
    place: grpo_loss(inputs["logp_new"], inputs["logp_old"], inputs["logp_ref"], inputs["rewards"], beta=beta,
                     kl_in=place, kl_estimator="k3")
    for place in ("loss", "reward")
}
words, numbers = st.columns([1, 1], gap="large")
with words:
    st.markdown(
        "`grpo_loss(..., kl_in=...)` offers both placements.\n\n"
        "- **`kl_in=\"loss\"`** (DeepSeekMath, TRL): β·KL is *added to every token's loss*. The advantages "
        "stay pure reward signal; separately, the KL term's own gradient pulls each token's log-probability "
        "back toward the reference, whatever its reward.\n"
        "- **`kl_in=\"reward\"`** (InstructGPT-style, the seed notebook): β·KL, summed over the completion "
        "and detached, is *subtracted from the reward* before the group advantages are computed. There is "
        "no separate KL gradient: a completion that drifted more simply looks worse than its group-mates. "
        "Because advantages are relative to the group, a drift that every completion shares cancels out; "
        "only differences in drift inside a group count.\n\n"
        "The table takes the seed notebook's four one-token completions (rewards 1, 0, 1, 0), with the "
        f"first one drifted far from the reference, at β = {beta:g} from the slider above (KL by k3). With the "
        "KL in the loss the advantages do not move with β; with the KL in the reward the drifted correct "
        "answer loses advantage to the other correct one as β grows."
    )
with numbers:
    kl_k3 = kl_estimate(inputs["logp_new"], inputs["logp_ref"], estimator="k3").numpy()
    st.dataframe(
        pd.DataFrame({
            "reward": NOTEBOOK["rewards"],
            "KL (k3)": kl_k3,
            "A, KL in loss": placements["loss"].advantages.reshape(-1).numpy(),
            "A, KL in reward": placements["reward"].advantages.reshape(-1).numpy(),
        }),
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
        f"loss with KL in the loss: {placements['loss'].loss.item():.4f} · "
        f"with KL in the reward: {placements['reward'].loss.item():.4f}"
    )

with st.expander("Think about it"):
    st.markdown(
        "1. With R = 1 and KL = 10, at which β does the total reward reach 0? What does that tell you about "
        "choosing β when the KL of a long completion (summed over its tokens) can be large?\n"
        "2. Set N = 1. Which estimator gives negative single-sample estimates, and how often? Why is a "
        "negative KL estimate a problem for a penalty?\n"
        "3. Move N from 10 to 1000. By how much does each estimator's spread shrink? (Compare with √100 = 10.)\n"
        "4. Move π's mean to 0.1 (π and π_ref nearly equal). Which estimator has the smallest spread now? "
        "Then move it to 2.5: what happens to k2's bias?\n"
        "5. Set π std = 0.4 and π_ref std = 2. Now k3's spread is larger than k1's. Why? (Hint: e^(−d) = "
        "π_ref/π.)\n"
        "6. In section 3, move β from 0 to 1. Which column of advantages changes, and why does the other not?"
    )
