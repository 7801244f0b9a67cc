"""KL and β: the KL-penalised reward, a Monte-Carlo lab for the k1/k2/k3 KL estimators, and where the KL
term goes (loss or reward)."""

import streamlit as st

import classroom
import kl_figures as kf
import kl_sections
import questions
import sections
import urlstate
from grpo_core.curves import MAX_SAMPLES, MAX_TRIALS

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


@sections.section("kl_penalty")
def penalty_section():
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
        # β is also read by the loss-vs-reward demo (section 4): its change reruns that section too.
        beta = st.slider(
            "β (KL weight)", *BETA_RANGE, value=0.1, step=0.01, key="kl_beta", bind="query-params",
            disabled=classroom.locked("kl_beta"), on_change=sections.also_rerun, args=("kl_penalty", "kl_placement"),
            help="Weight of the KL penalty. DeepSeekMath used 0.04 (the Live training page's default); DAPO and "
            "TRL's default use 0: no KL term at all. Also used by the loss-vs-reward demo below.",
        )

    at_beta, figure = kf.reward_view(r_outcome, tuple(kls), beta)

    with chart:
        st.plotly_chart(figure, key="kl_reward_chart", theme=None, config={"displaylogo": False})
        st.markdown(
            f"Each line is one completion's total reward as β grows from 0 to 1. The penalty is β·KL, so "
            f"a line falls faster the larger its KL. Where a line crosses 0 the penalty has eaten the whole "
            f"reward. At β = {beta:g}, the completions above get "
            + ", ".join(f"**{v:.3f}**" for v in at_beta)
            + ": a completion that drifted far can end up worse than a wrong answer that stayed close."
        )


penalty_section()

# ----------------------------------------------------------------------------------------------------
st.header("2. Estimating the KL from samples: k1, k2, k3")
st.markdown(
    "During training the KL is estimated from the tokens the policy actually sampled, with "
    "d = log π(x) − log π_ref(x) per token. Three estimators are in use: **k1** = d (the seed "
    "notebook's), **k2** = d²/2, and **k3** = e^(−d) + d − 1 (DeepSeekMath, TRL, verl). Shape the two "
    "distributions, and compare each estimator's average over N samples with the exact KL, over many "
    "repeated trials."
)


def shape_controls(lab: str) -> tuple:
    """The lab's distribution controls (logits for Tokens, means and stds for Gaussians): its ``shape``."""
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
        return logits, logits_ref
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
    return mu, sigma, mu_ref, sigma_ref


# One section for the lab and its gradients (sections 2 and 3): every lab control changes both.
@sections.section("kl_lab")
def lab_section():
    lab = st.segmented_control(
        "distributions", LABS, default=LABS[0], key="kl_lab", bind="query-params",
        disabled=classroom.locked("kl_lab"), required=True,
        help="Gaussians: two bell curves you shape by mean and std. Tokens: a next-token distribution over five "
        "tokens, policy vs reference, shaped by their logits (what a language model outputs).",
    )
    lab_controls, lab_charts = st.columns([1, 3], gap="large")
    with lab_controls:
        shape = shape_controls(lab)
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

        sizes = kf.lab_sizes(num_samples, num_trials, int(seed))
        if sizes[1] < num_trials:
            st.caption(f"At N = {num_samples:,} the lab draws {sizes[1]} trials, not {num_trials}: one change draws at "
                       f"most {kf.MAX_DRAWS:,} samples, so that a class's moves stay quick.")
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
    kl_sections.estimator_table(result, lab, shape)
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
    st.markdown(kl_sections.GRADIENT_TEXT + ("its mean μ and log σ." if lab == "Gaussians" else "its five logits."))
    st.plotly_chart(kf.gradient_figure(lab, shape, sizes), key="kl_gradient_chart", theme=None,
                    config={"displaylogo": False})
    kl_sections.gradient_table(kf.run_gradients(lab, shape, sizes))


lab_section()

# ----------------------------------------------------------------------------------------------------
st.header("4. Where the KL goes: in the loss or in the reward")


@sections.section("kl_placement")
def placement_section():
    beta = st.session_state["kl_beta"]  # not an argument: β's change reruns this section with section 1's
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
        kl_sections.placement_table(beta)


placement_section()

questions.draw("kl_beta")
