"""KL and β: the KL-penalised reward, a Monte-Carlo lab for the k1/k2/k3 KL estimators, and where the KL
term goes (loss or reward)."""

import pandas as pd
import streamlit as st
import torch

import classroom
import kl_figures as kf
import questions
import urlstate
from grpo_core import grpo_loss, kl_estimate
from grpo_core.curves import MAX_SAMPLES, MAX_TRIALS, total_reward

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
DEFAULT_LOGITS = (2.0, 1.0, 0.5, -1.0, -2.0)
DEFAULT_REF_LOGITS = (1.0, 1.0, 1.0, 0.0, 0.0)
KL_DEFAULTS = (1.0, 5.0, 10.0)  # the notebook's TODO 2

_spec = {
    "kl_reward": urlstate.float_in(*REWARD_RANGE),
    "kl_beta": urlstate.float_in(*BETA_RANGE),
    **{f"kl_value{i + 1}": urlstate.float_in(*KL_RANGE) for i in range(len(KL_DEFAULTS))},
    "kl_lab": urlstate.one_of(*LABS),
    "kl_mu": urlstate.float_in(*MU_RANGE),
    "kl_sigma": urlstate.float_in(*SIGMA_RANGE),
    "kl_mu_ref": urlstate.float_in(*MU_RANGE),
    "kl_sigma_ref": urlstate.float_in(*SIGMA_RANGE),
    **{f"kl_logit{i + 1}": urlstate.float_in(*LOGIT_RANGE) for i in range(len(kf.TOKENS))},
    **{f"kl_ref_logit{i + 1}": urlstate.float_in(*LOGIT_RANGE) for i in range(len(kf.TOKENS))},
    "kl_samples": urlstate.one_of(*map(str, SAMPLE_SIZES)),
    "kl_trials": urlstate.int_in(*TRIALS_RANGE),
    "kl_seed": urlstate.int_in(*SEED_RANGE),
}
urlstate.validate_params(_spec)


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
        disabled=classroom.locked("kl_reward"),
        help="The reward of a completion before any penalty, e.g. 1 for a correct answer, 0 for a wrong one.",
    )
    kls = [
        st.number_input(
            f"KL value {i + 1}", *KL_RANGE, value=default, step=0.5, key=f"kl_value{i + 1}", bind="query-params",
            disabled=classroom.locked(f"kl_value{i + 1}"),
            help="How far the policy has drifted from the reference on this completion (KL, in nats). "
            "Each value is one line on the chart.",
        )
        for i, default in enumerate(KL_DEFAULTS)
    ]
    beta = st.slider(
        "β (KL weight)", *BETA_RANGE, value=0.1, step=0.01, key="kl_beta", bind="query-params",
        disabled=classroom.locked("kl_beta"),
        help="Weight of the KL penalty. DeepSeekMath used 0.04 (the Live training page's default); DAPO and "
        "TRL's default use 0: no KL term at all. Also used by the loss-vs-reward demo below.",
    )

at_beta = total_reward(r_outcome, torch.tensor([beta]), torch.tensor(kls))[:, 0]


with chart:
    st.plotly_chart(kf.reward_figure(r_outcome, tuple(kls), beta), key="kl_reward_chart", theme=None, config={"displaylogo": False})
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
    "distributions", LABS, default=LABS[0], key="kl_lab", bind="query-params",
    disabled=classroom.locked("kl_lab"), required=True,
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
                bind="query-params", disabled=classroom.locked(f"kl_logit{i + 1}"),
                help=f"The policy's logit for the token “{tok}”. Raising it makes the policy sample it more.",
            )
            for i, tok in enumerate(kf.TOKENS)
        )
        logits_ref = tuple(
            ref_col.slider(
                f"π_ref: “{tok}”", *LOGIT_RANGE, value=DEFAULT_REF_LOGITS[i], step=0.1,
                key=f"kl_ref_logit{i + 1}", bind="query-params", disabled=classroom.locked(f"kl_ref_logit{i + 1}"),
                help=f"The frozen reference model's logit for “{tok}”.",
            )
            for i, tok in enumerate(kf.TOKENS)
        )
    else:
        policy_col, ref_col = st.columns(2)
        mu = policy_col.slider("π mean", *MU_RANGE, value=0.5, step=0.05, key="kl_mu", bind="query-params",
                               disabled=classroom.locked("kl_mu"),
                               help="Mean of the policy π, the distribution that samples.")
        sigma = policy_col.slider("π std", *SIGMA_RANGE, value=1.0, step=0.05, key="kl_sigma",
                                  bind="query-params",
                                  disabled=classroom.locked("kl_sigma"), help="Spread of the policy π.")
        mu_ref = ref_col.slider("π_ref mean", *MU_RANGE, value=0.0, step=0.05, key="kl_mu_ref",
                                bind="query-params",
                                disabled=classroom.locked("kl_mu_ref"), help="Mean of the frozen reference π_ref.")
        sigma_ref = ref_col.slider("π_ref std", *SIGMA_RANGE, value=1.0, step=0.05, key="kl_sigma_ref",
                                   bind="query-params", disabled=classroom.locked("kl_sigma_ref"),
                                   help="Spread of the frozen reference π_ref.")
    num_samples = st.select_slider(
        "N samples per estimate", SAMPLE_SIZES, value=10, key="kl_samples", bind="query-params",
        disabled=classroom.locked("kl_samples"),
        help="How many sampled tokens one KL estimate averages over (a training step averages over the "
        "tokens of its batch). More samples, less noise.",
    )
    num_trials = st.slider(
        "trials", *TRIALS_RANGE, value=200, step=10, key="kl_trials", bind="query-params",
        disabled=classroom.locked("kl_trials"),
        help="How many independent N-sample estimates to draw, to see their bias and spread.",
    )
    seed = st.number_input(
        "seed", *SEED_RANGE, value=0, step=1, key="kl_seed", bind="query-params", disabled=classroom.locked("kl_seed"),
        help="Seed of the random generator: the same seed draws the same samples, so a link reproduces "
        "the exact picture.",
    )

shape = (logits, logits_ref) if lab == "Tokens" else (mu, sigma, mu_ref, sigma_ref)
sizes = (num_samples, num_trials, int(seed))


result = kf.run_lab(lab, shape, sizes)


with lab_charts:
    st.plotly_chart(kf.distribution_figure(lab, shape), key="kl_dist_chart", theme=None, config={"displaylogo": False})
    st.plotly_chart(kf.spread_figure(lab, shape, sizes), key="kl_spread_chart", theme=None, config={"displaylogo": False})
    st.markdown(
        f"Each dot is one estimate of the KL from N = {result.num_samples} samples. A box spans the middle "
        f"half of the {result.num_trials} trials: the solid line across it is their **median**, the dashed "
        "one their **mean**. The black line labelled *exact KL* runs across the whole chart. An estimator is "
        "**unbiased** if its *mean* sits on the exact KL, within a few standard errors (table below); the "
        "median can sit elsewhere when the estimates are skewed. It is **low-variance** if its box is short."
    )

table = pd.DataFrame({
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
            format="%.4f", help="Standard error of the mean estimate: the std of one sample over √(N × trials). "
            "A bias within 2 to 3 standard errors of 0 is noise. Meaningless where the variance is infinite."),
        "spread (std over trials)": st.column_config.NumberColumn(
            format="%.4f", help="How much one N-sample estimate varies: the noise a training step sees."),
        "std of one sample": st.column_config.NumberColumn(format="%.4f"),
        "single samples < 0": st.column_config.NumberColumn(
            format="percent", help="Share of single-token estimates below zero. A KL is never negative."),
    },
)
if lab == "Gaussians" and result.infinite_variance[2]:
    k3_se = result.standard_error[2].item()
    k3_gap = f", {abs(result.bias[2].item()) / k3_se:.1f} “standard errors” from 0," if k3_se > 0 else ""
    st.warning(
        f"**k3's variance is infinite here**: σ_π² = {sigma**2:.4g} ≤ σ_ref²/2 = {sigma_ref**2 / 2:.4g}. With "
        "r = π_ref/π, k3 = r − 1 − log r, and E_π[r²] = ∫ π_ref²/π dx diverges: where the reference's tails "
        "are wider than the policy's, rare samples give huge r. k3 is still unbiased, but its sample mean "
        "converges slowly, and a standard error computed from the samples cannot be trusted: the bias "
        f"column shows {result.bias[2].item():+.4f}{k3_gap} for an estimator whose bias is exactly 0.",
        icon=":material/all_inclusive:",
    )
st.markdown(
    "**Judging the value.** As a number (what a trainer logs as its KL), k1 is unbiased but noisy, and a "
    "single token's k1 is negative wherever the reference likes that token more than the policy does. k2 "
    "is never negative, but biased: it is a second-order approximation, and the bias grows as the two "
    "distributions move apart. k3 adds e^(−d) − 1, whose average under π is exactly 0, to k1: the mean "
    "stays exact (unbiased) and every sample is ≥ 0. It is quieter than k1 **only while π ≈ π_ref**: with "
    "the Gaussians' means 2.5 apart (N = 10, seed 0) k3's spread is 1.23 against k1's 0.75, and when the "
    "policy is much narrower than the reference (σ_π² ≤ σ_ref²/2) e^(−d) = π_ref/π explodes in the "
    "reference's tails and k3's variance is infinite. But a penalty in the loss does not act through its "
    "value at all: it acts through its gradient."
)

# ----------------------------------------------------------------------------------------------------
st.header("3. In the loss, the gradient is what acts")
st.markdown(
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
    + ("its mean μ and log σ." if lab == "Gaussians" else "its five logits.")
)


gradients = kf.run_gradients(lab, shape, sizes)


st.plotly_chart(kf.gradient_figure(lab, shape, sizes), key="kl_gradient_chart", theme=None,
                config={"displaylogo": False})
distance = gradients.distance_in_standard_errors()
st.dataframe(
    pd.DataFrame({
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
            help="The largest |measured mean − exact mean| over the parameters, divided by its standard error. "
            "Below about 3 the measurement agrees with the formula."),
        "std of one token's gradient": st.column_config.NumberColumn(
            format="%.4f", help="The largest, over the parameters, std of a single token's gradient: the noise "
            "this term adds to one update, whatever its mean."),
    },
)
st.caption(
    f"k1 in the loss: mean gradient {gradients.mean[0].abs().max().item():.4f} at most (exact: 0), while a "
    f"single token's gradient has std up to {gradients.sample_std[0].max().item():.4f}: noise with no pull."
)
if any(gradients.infinite_variance):
    st.warning(
        "k3's gradient has infinite variance here too (σ_π² ≤ σ_ref²/2): its bars can sit far from the exact "
        "values, and their whiskers mean nothing.", icon=":material/all_inclusive:",
    )

# ----------------------------------------------------------------------------------------------------
st.header("4. Where the KL goes: in the loss or in the reward")
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
        "stay pure reward signal; separately, the KL term's own gradient acts on each token whatever its "
        "reward: on average it pulls toward the reference with k2 or k3, not at all with k1 (section 3).\n"
        "- **`kl_in=\"reward\"`** (InstructGPT-style, the seed notebook): β·KL, summed over the completion "
        "and detached, is *subtracted from the reward* before the group advantages are computed. There is "
        "no separate KL gradient: a completion that drifted more simply looks worse than its group-mates. "
        "Because advantages are relative to the group, a drift that every completion shares cancels out; "
        "only differences in drift inside a group count. (With k1 this gives the unbiased gradient of "
        "KL(π‖π_ref); with the k3 of this table it does not, see section 3.)\n\n"
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

questions.draw("kl_beta")
