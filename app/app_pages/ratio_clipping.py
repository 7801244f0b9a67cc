"""Ratio and clipping: PPO's clipped objective against the probability ratio, its autograd gradient,
and one point the reader places and gets explained."""

import streamlit as st

import classroom
import questions
import ratio_figures
import sections
import urlstate

EPS_RANGE = (0.0, 0.8)
EPS_HIGH_RANGE = (0.0, 1.0)
DELTA_RANGE = (1.05, 6.0)
RATIO_RANGE = (0.0, 5.0)
ADV_RANGE = (-3.0, 3.0)

urlstate.validate_params({
    "clip_eps": urlstate.float_in(*EPS_RANGE),
    "clip_higher": urlstate.boolean(),
    "clip_eps_high": urlstate.float_in(*EPS_HIGH_RANGE),
    "clip_dual": urlstate.boolean(),
    "clip_delta": urlstate.float_in(*DELTA_RANGE),
    "clip_ratio": urlstate.float_in(*RATIO_RANGE),
    "clip_adv": urlstate.float_in(*ADV_RANGE),
})

st.title("Ratio and clipping")
st.markdown(
    "After a few gradient steps the policy has changed, so each sampled completion is now more or less "
    "likely than when it was sampled. The **ratio** r = π_new / π_old measures that change. GRPO (like "
    "PPO) follows r·A inside a **trust region** [1−ε, 1+ε] around 1. Past the edge the advantage pushes "
    "toward (r > 1+ε for A > 0, r < 1−ε for A < 0) the objective goes flat, its gradient is zero, and that "
    "completion stops pushing the policy further. Past the other edge nothing is clipped: the `min` keeps "
    "the unclipped r·A, so a completion that moved the wrong way is pulled back at full strength."
)
st.latex(
    r"J(r) = \min\bigl(\min(r,\,\delta)\,A,\ \operatorname{clip}(r,\,1-\varepsilon,\,1+\varepsilon_{high})\,A\bigr)"
)

# A section: moving one of its controls reruns only this part of the page (app/sections.py).
@sections.section("clip_view")
def clip_section():
    controls, chart = st.columns([1, 3], gap="large")
    with controls:
        st.subheader("Clip bounds")
        epsilon = st.slider(
            "ε (clip width)", *EPS_RANGE, value=0.2, step=0.01, key="clip_eps", bind="query-params",
            disabled=classroom.locked("clip_eps"),
            help="How far the ratio may move from 1 before the objective stops rewarding further change. "
            "PPO and GRPO use 0.2: the trust region is [1−ε, 1+ε].",
        )
        clip_higher = st.checkbox(
            "Clip-higher (own ε_high)", value=False, key="clip_higher", bind="query-params",
            disabled=classroom.locked("clip_higher"),
            help="DAPO's clip-higher: a larger upper width ε_high lets good completions (A > 0) that are "
            "still rare grow more per update, which keeps exploration alive.",
        )
        epsilon_high_value = st.slider(
            "ε_high (upper clip width)", *EPS_HIGH_RANGE, value=0.28, step=0.01, key="clip_eps_high",
            bind="query-params", disabled=classroom.locked("clip_eps_high") or not clip_higher,
            help="Upper clip width used when clip-higher is on: the trust region becomes [1−ε, 1+ε_high]. "
            "DAPO uses 0.28 with ε = 0.2.",
        )
        dual_clip = st.checkbox(
            "Dual clip (cap with δ)", value=False, key="clip_dual", bind="query-params",
            disabled=classroom.locked("clip_dual"),
            help="Caps the ratio at δ in the unclipped term. Only matters for A < 0 with a very large ratio, "
            "whose penalty would otherwise grow without bound (TRL's delta, verl's clip_ratio_c).",
        )
        delta_value = st.slider(
            "δ (dual-clip cap)", *DELTA_RANGE, value=3.0, step=0.05, key="clip_delta", bind="query-params",
            disabled=classroom.locked("clip_delta") or not dual_clip,
            help="The cap on the ratio for negative advantages. It must be above the upper clip bound "
            "1+ε_high, otherwise it would clip inside the trust region. 3 is a common choice.",
        )
        st.subheader("Your point")
        ratio = st.slider(
            "ratio r = π_new / π_old", *RATIO_RANGE, value=1.5, step=0.01, key="clip_ratio", bind="query-params",
            disabled=classroom.locked("clip_ratio"),
            help="How much more (r > 1) or less (r < 1) likely one sampled token or completion is now than "
            "under the policy that sampled it.",
        )
        advantage = st.slider(
            "advantage A", *ADV_RANGE, value=1.0, step=0.05, key="clip_adv", bind="query-params",
            disabled=classroom.locked("clip_adv"),
            help="The completion's group-relative advantage: > 0 if it beat its group's average, < 0 if it "
            "was worse. A lone right answer among G completions gets (1 − 1/G)·√G: ≈ 2.5 for G = 8.",
        )

    epsilon_high = epsilon_high_value if clip_higher else epsilon
    delta = None
    if dual_clip:
        if delta_value > 1 + epsilon_high:
            delta = delta_value
        else:
            controls.warning(
                f"δ = {delta_value:g} must be greater than 1+ε_high = {1 + epsilon_high:g}, the upper clip "
                "bound; dual clip is off until δ is raised (or ε_high lowered)."
            )

    point, figure = ratio_figures.clip_view(epsilon, epsilon_high, delta, ratio, advantage)

    with chart:
        st.plotly_chart(figure, key="clip_chart", theme=None, config={"displaylogo": False})
        m1, m2, m3, m4, m5 = st.columns([1.35, 1.1, 1.1, 1.0, 0.75])
        m1.metric("clipped objective J", f"{point.objective:.3f}",
                  help="min(min(r, δ)·A, clip(r, 1−ε, 1+ε_high)·A) at your point.")
        m2.metric("unclipped r·A", f"{point.unclipped:.3f}", help="What the objective would be without clipping.")
        m3.metric("gradient dJ/dr", f"{point.gradient:.3f}",
                  help="The slope of J in the ratio (autograd). 0 = this completion gives no push.")
        m4.metric("push r·dJ/dr", f"{point.log_gradient:.3f}",
                  help="∂J/∂log π = r·dJ/dr, since r = exp(log π − log π_old): what backpropagation hands the "
                       "policy's log-probability, so the push that reaches the weights. Where J follows r·A it is r·A.")
        m5.metric("clipped?", "yes" if point.clipped else "no",
                  help="Yes when clipping (or dual clip) holds the objective flat, so the gradient is 0 although A ≠ 0.")
        explain = st.warning if point.clipped else st.info
        explain(f"**{'Clipped' if point.clipped else 'Not clipped'}**: {point.explanation()}")


clip_section()
# Outside the section: it does not change with the controls, so a section rerun need not resend it.
st.markdown(
    "**How to read it.** Top: the objective J the update climbs, against the ratio. Dashed grey is the "
    "plain r·A; the solid orange line is what GRPO actually uses. The shaded band is the trust region. "
    "Bottom: the slope dJ/dr (solid blue), computed by `torch.autograd` through the same function the "
    "loss uses. Where it is **0** the objective is flat, so this completion gives no gradient at all: for "
    "A > 0 that happens to the right of the band (already pushed up enough), for A < 0 to the left "
    "(already pushed down enough). On the other side the line keeps its slope, because the `min` always "
    "picks the more pessimistic of the two terms. With dual clip on, the A < 0 line also goes flat past δ.\n\n"
    "The loss is a function of log π, not of r, so backpropagation hands each token **∂J/∂log π = "
    "r·dJ/dr** (dashed vermilion): where J follows r·A that is r·A, and it grows with r. For A < 0 the "
    "unclipped side has no end: at r = 4 a bad completion pushes with 4·A, four times its advantage, "
    "although dJ/dr stays flat at A. That growing push is what dual clip's δ caps."
)

st.subheader("When is r ≠ 1 in practice?")
st.markdown(
    "The ratio compares the policy being updated with the one that *sampled* the completions. On the first "
    "gradient step after sampling they are the same model, so r = 1 exactly and neither the clip nor the "
    "`min` does anything. r moves away from 1 only when the update uses completions sampled by an earlier "
    "or a different policy:\n\n"
    "- **μ > 1** (`num_iterations`): the same batch is reused for several gradient steps; from the second "
    "on, the policy has moved.\n"
    "- **TRL's `steps_per_generation` > `gradient_accumulation_steps`**: one generation is split over "
    "several optimizer steps, so the later mini-batches were sampled before the earlier steps changed "
    "the policy (TRL's default sets them equal).\n"
    "- **A separate sampler (vLLM)**: its kernels and precision give slightly different probabilities "
    "than the trainer's for the same weights. Where the sampler's log-probs serve as π_old, r ≠ 1 "
    "even on the first step; TRL instead recomputes π_old with the trainer and corrects the mismatch "
    "with a separate, capped importance weight (`vllm_importance_sampling_correction`).\n\n"
    "So clipping is not always on. With TRL's defaults (β = 0, `num_iterations` = 1, "
    "`steps_per_generation` = `gradient_accumulation_steps`, no vLLM) neither the clip nor a KL term "
    "acts: each update is limited only by the optimizer (its learning rate, gradient-norm clipping)."
)

questions.draw("ratio_clipping")
