"""Overview: what GRPO is, its loss term by term, each term linked to the page that lets you play with it."""

from __future__ import annotations

import streamlit as st

import grpo_core
import questions

st.title("GRPO Explorer")

try:
    device_label = grpo_core.device_name()
except ValueError as err:  # a bad $GRPO_DEVICE: say so, but the overview still works
    device_label = "unknown device"
    st.warning(f"{err}", icon=":material/memory:")
st.badge(f"Computing on {device_label}", icon=":material/memory:", color="gray",
         help="Every number in this app is computed by the grpo_core torch library on this device "
              "(set GRPO_DEVICE to choose another).")

st.markdown(
    """
**Group Relative Policy Optimization (GRPO)** is how a language model can learn from a score instead of
from worked examples. For every prompt the model writes a whole *group* of answers, and a reward function
(a checker of the final answer, or a reward model) scores each one. Each answer is then judged only
against its own group: better than the group's average means "do more of this", worse means "do less",
so no separate critic network has to learn what a good score would have been. Each update can be kept
small by clipping the probability ratio between the new model and the one that sampled the answers, and a
KL penalty can anchor the model to a frozen reference over the whole run. Repeat this over many prompts and
the answers that tend to be right become the answers the model tends to give.
"""
)

st.subheader("The loss, term by term")
st.latex(
    r"""
\mathcal{L}(\theta) = -\frac{1}{G}\sum_{i=1}^{G}\frac{1}{|o_i|}\sum_{t=1}^{|o_i|}
\Big[\min\big(r_{i,t}(\theta)\,\hat A_i,\;
\operatorname{clip}(r_{i,t}(\theta),\,1-\varepsilon,\,1+\varepsilon)\,\hat A_i\big)
\;-\;\beta\,\mathbb{D}_{\mathrm{KL}}\big[\pi_\theta \,\|\, \pi_{\mathrm{ref}}\big]_{i,t}\Big]
"""
)

TERMS = [
    (
        r"\hat A_i = \frac{r_i - \operatorname{mean}(r_1,\dots,r_G)}{\operatorname{std}(r_1,\dots,r_G)}",
        "**Group-relative advantage**: how much better answer *i* scored than the other answers to the same "
        "prompt. Equal rewards give no policy-gradient signal (with β > 0 the KL term still pulls on that "
        "group).",
        "app_pages/reward_groups.py", "Play with reward groups", ":material/bar_chart:",
    ),
    (
        r"\begin{gathered}r_{i,t}(\theta) = \frac{\pi_\theta(o_{i,t}\mid q, o_{i,<t})}"
        r"{\pi_{\theta_{\mathrm{old}}}(o_{i,t}\mid q, o_{i,<t})}\\"
        r"\operatorname{clip}(r_{i,t},\,1-\varepsilon,\,1+\varepsilon)\end{gathered}",
        "**Probability ratio and clipping**: how much more (or less) likely the updated model makes each "
        "token than the model that sampled it. Past the edge the advantage pushes toward (above 1+ε for "
        "A > 0, below 1−ε for A < 0) the objective goes flat and stops pushing. This limits one update, and "
        "only when r ≠ 1: a batch reused for several updates (μ > 1), or sampled by another policy.",
        "app_pages/ratio_clipping.py", "Drag the ratio through the clip", ":material/content_cut:",
    ),
    (
        r"\beta\,\mathbb{D}_{\mathrm{KL}}\big[\pi_\theta \,\|\, \pi_{\mathrm{ref}}\big]",
        "**KL penalty**: an anchor to the frozen reference model (the model before RL) over the whole run, of "
        "strength β, estimated from samples (k1, k2, k3). In the loss it acts through the estimator's "
        "gradient, and k1's is zero on average.",
        "app_pages/kl_beta.py", "Tune β and compare KL estimators", ":material/straighten:",
    ),
    (
        r"\frac{1}{G}\sum_{i=1}^{G}\frac{1}{|o_i|}\sum_{t=1}^{|o_i|}",
        "**Averaging over tokens and answers**: how the per-token terms become one number to minimise "
        "(GRPO, DAPO and Dr. GRPO average differently). See all the terms move together in a live run.",
        "app_pages/training.py", "Watch a live training run", ":material/model_training:",
    ),
]

for formula, words, page, label, icon in TERMS:
    math_column, words_column = st.columns([2, 3], vertical_alignment="center")
    math_column.latex(formula)
    with words_column:
        st.markdown(words)
        st.page_link(page, label=label, icon=icon)

st.subheader("Whose defaults?")
st.markdown(
    "This app's defaults are **DeepSeekMath's** GRPO: β = 0.04 with the k3 estimator in the loss, "
    "`loss_type` \"grpo\" (each answer's tokens averaged, then the answers), advantages divided by each "
    "group's std. **TRL 1.16's** `GRPOTrainer` defaults differ: `loss_type=\"dapo\"` (one mean over all "
    "the batch's tokens), `beta=0.0` (no KL term, no reference model loaded), `scale_rewards=\"group\"` "
    "with the std taken with Bessel's correction (÷ (G − 1)) and 1e-4 added before dividing, and "
    "`num_iterations=1`, so that the clip does not act either."
)

st.divider()
st.markdown(
    "Every control is written into the page's address, so **copy the URL to share the exact view** with a "
    "class or a colleague. A link that was damaged on the way is ignored with a notice, never an error."
)

questions.draw("home")
