"""Overview: what GRPO is, its loss term by term, each term linked to the page that lets you play with it."""

from __future__ import annotations

import streamlit as st

import grpo_core

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
so no separate critic network has to learn what a good score would have been. The update that follows is
kept small on purpose: the probability ratio between the new and the old model is clipped, and a KL
penalty keeps the model near a frozen reference. Repeat this over many prompts and the answers that tend
to be right become the answers the model tends to give.
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
        "prompt. Equal rewards mean no signal at all.",
        "app_pages/reward_groups.py", "Play with reward groups", ":material/bar_chart:",
    ),
    (
        r"\begin{gathered}r_{i,t}(\theta) = \frac{\pi_\theta(o_{i,t}\mid q, o_{i,<t})}"
        r"{\pi_{\theta_{\mathrm{old}}}(o_{i,t}\mid q, o_{i,<t})}\\"
        r"\operatorname{clip}(r_{i,t},\,1-\varepsilon,\,1+\varepsilon)\end{gathered}",
        "**Probability ratio and clipping**: how much more (or less) likely the updated model makes each "
        "token; outside the trust region the objective goes flat and stops pushing.",
        "app_pages/ratio_clipping.py", "Drag the ratio through the clip", ":material/content_cut:",
    ),
    (
        r"\beta\,\mathbb{D}_{\mathrm{KL}}\big[\pi_\theta \,\|\, \pi_{\mathrm{ref}}\big]",
        "**KL penalty**: a leash to the reference model, of strength β, estimated from samples (k1, k2, k3).",
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

st.divider()
st.markdown(
    "Every control is written into the page's address, so **copy the URL to share the exact view** with a "
    "class or a colleague. A link that was damaged on the way is ignored with a notice, never an error."
)

with st.expander("Think about it"):
    st.markdown(
        """
1. Which term of the loss replaces PPO's value network (the critic), and what does it compare each answer with?
2. Two terms keep one update from moving the model too far. Which are they, and what does each one measure?
3. If every answer to a prompt gets the same reward, which factor of the loss becomes 0 for that prompt?
4. Where in the formula would a longer answer count more, or less, than a short one?
"""
    )
