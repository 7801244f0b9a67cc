"""Ratio and clipping: PPO's clipped objective against the probability ratio, its autograd gradient,
and one point the reader places and gets explained."""

import plotly.graph_objects as go
import streamlit as st
import torch

import charts
import urlstate
from grpo_core.curves import clip_status, surrogate_curve, trust_region

EPS_RANGE = (0.0, 0.8)
EPS_HIGH_RANGE = (0.0, 1.0)
DELTA_RANGE = (1.05, 6.0)
RATIO_RANGE = (0.0, 5.0)
ADV_RANGE = (-3.0, 3.0)
#: The ratio sweep drawn; dense enough that the kinks at the clip bounds look sharp.
CURVE_POINTS = 801

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

controls, chart = st.columns([1, 3], gap="large")
with controls:
    st.subheader("Clip bounds")
    epsilon = st.slider(
        "ε (clip width)", *EPS_RANGE, value=0.2, step=0.01, key="clip_eps", bind="query-params",
        help="How far the ratio may move from 1 before the objective stops rewarding further change. "
        "PPO and GRPO use 0.2: the trust region is [1−ε, 1+ε].",
    )
    clip_higher = st.checkbox(
        "Clip-higher (own ε_high)", value=False, key="clip_higher", bind="query-params",
        help="DAPO's clip-higher: a larger upper width ε_high lets good completions (A > 0) that are "
        "still rare grow more per update, which keeps exploration alive.",
    )
    epsilon_high_value = st.slider(
        "ε_high (upper clip width)", *EPS_HIGH_RANGE, value=0.28, step=0.01, key="clip_eps_high",
        bind="query-params", disabled=not clip_higher,
        help="Upper clip width used when clip-higher is on: the trust region becomes [1−ε, 1+ε_high]. "
        "DAPO uses 0.28 with ε = 0.2.",
    )
    dual_clip = st.checkbox(
        "Dual clip (cap with δ)", value=False, key="clip_dual", bind="query-params",
        help="Caps the ratio at δ in the unclipped term. Only matters for A < 0 with a very large ratio, "
        "whose penalty would otherwise grow without bound (TRL's delta, verl's clip_ratio_c).",
    )
    delta_value = st.slider(
        "δ (dual-clip cap)", *DELTA_RANGE, value=3.0, step=0.05, key="clip_delta", bind="query-params",
        disabled=not dual_clip,
        help="The cap on the ratio for negative advantages. It must be above the upper clip bound "
        "1+ε_high, otherwise it would clip inside the trust region. 3 is a common choice.",
    )
    st.subheader("Your point")
    ratio = st.slider(
        "ratio r = π_new / π_old", *RATIO_RANGE, value=1.5, step=0.01, key="clip_ratio", bind="query-params",
        help="How much more (r > 1) or less (r < 1) likely one sampled token or completion is now than "
        "under the policy that sampled it.",
    )
    advantage = st.slider(
        "advantage A", *ADV_RANGE, value=1.0, step=0.05, key="clip_adv", bind="query-params",
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

low, high = trust_region(epsilon, epsilon_high)
x_max = max(2.5, ratio + 0.25, (delta or 0) + 0.5)
ratios = torch.linspace(0.0, x_max, CURVE_POINTS)
magnitude = abs(advantage) if advantage != 0 else 1.0
curves = {sign: surrogate_curve(ratios, sign * magnitude, epsilon=epsilon, epsilon_high=epsilon_high, delta=delta)
          for sign in (1, -1)}
point = clip_status(ratio, advantage, epsilon=epsilon, epsilon_high=epsilon_high, delta=delta)


#: The second line of the gradient panels: what backpropagation hands the policy's log-probability.
LOG_GRADIENT_NAME = "r·dJ/dr = ∂J/∂log π (what backprop sees)"
# Both gradient panels share one scale, wide enough for r·dJ/dr, which grows with r where J follows r·A.
gradient_reach = max(magnitude, *(curves[s].log_gradient.abs().max().item() for s in (1, -1)))


def _figure() -> go.Figure:
    # Built as one list of traces and one layout dict: adding shapes one by one to a go.Figure re-validates
    # the whole layout each time, and make_subplots and the named template cost ~18 and ~15 ms (measured).
    layout, grid = charts.subplot_grid(
        2, 2, row_heights=[0.64, 0.36],
        titles=(f"A = +{magnitude:g} (better than the group)", f"A = −{magnitude:g} (worse than the group)"),
    )
    x = curves[1].ratio.numpy()
    point_col = 0 if advantage == 0 else 1 if advantage > 0 else 2
    marker = dict(size=16, symbol="diamond", color=charts.OKABE_ITO["black"], line=dict(color="white", width=2))
    traces, shapes, axes = [], [], {}
    for col, sign in ((1, 1), (2, -1)):
        curve = curves[sign]
        first = col == 1
        (xo, yo), (xg, yg) = grid[(1, col)], grid[(2, col)]
        for xref, yref in ((xo, yo), (xg, yg)):
            shapes.append(dict(type="rect", x0=low, x1=high, xref=xref, y0=0, y1=1, yref=f"{yref} domain",
                               fillcolor=charts.REGION_FILL, line_width=0, layer="below"))
            shapes.append(dict(type="line", x0=1, x1=1, xref=xref, y0=0, y1=1, yref=f"{yref} domain",
                               line=dict(color=charts.NEUTRAL, width=1), layer="below"))
            if delta is not None and sign < 0:
                shapes.append(dict(type="line", x0=delta, x1=delta, xref=xref, y0=0, y1=1, yref=f"{yref} domain",
                                   line=dict(color=charts.OKABE_ITO["black"], width=2, dash="dot")))
        traces.append(go.Scatter(
            x=x, y=curve.unclipped.numpy(), xaxis=xo, yaxis=yo, name="unclipped r·A", legendgroup="unclipped",
            showlegend=first, line=dict(color=charts.NEUTRAL, dash="dash", width=2), hoverinfo="skip",
        ))
        traces.append(go.Scatter(
            x=x, y=curve.objective.numpy(), xaxis=xo, yaxis=yo, name="clipped objective J(r)",
            legendgroup="objective", showlegend=first, line=dict(color=charts.OKABE_ITO["orange"], width=4),
            hovertemplate="r = %{x:.2f}<br>J = %{y:.3f}<extra></extra>",
        ))
        traces.append(go.Scatter(
            x=x, y=curve.gradient.numpy(), xaxis=xg, yaxis=yg, name="dJ/dr (autograd)", legendgroup="gradient",
            showlegend=first, line=dict(color=charts.OKABE_ITO["blue"], width=3),
            hovertemplate="r = %{x:.2f}<br>dJ/dr = %{y:.3f}<extra></extra>",
        ))
        traces.append(go.Scatter(
            x=x, y=curve.log_gradient.numpy(), xaxis=xg, yaxis=yg, name=LOG_GRADIENT_NAME,
            legendgroup="log_gradient", showlegend=first, line=charts.SECOND_LINE,
            hovertemplate="r = %{x:.2f}<br>∂J/∂log π = r·dJ/dr = %{y:.3f}<extra></extra>",
        ))
        if col == point_col:
            traces.append(go.Scatter(
                x=[ratio], y=[point.objective], xaxis=xo, yaxis=yo, mode="markers", name="your point",
                legendgroup="point", marker=marker,
                hovertemplate="r = %{x:.2f}<br>J = %{y:.3f}<extra>your point</extra>",
            ))
            traces.append(go.Scatter(
                x=[ratio, ratio], y=[point.gradient, point.log_gradient], xaxis=xg, yaxis=yg, mode="markers",
                name="your point", legendgroup="point", showlegend=False, marker=marker,
                customdata=["dJ/dr", "r·dJ/dr"],
                hovertemplate="r = %{x:.2f}<br>%{customdata} = %{y:.3f}<extra>your point</extra>",
            ))
        axes[f"xaxis{xo[1:]}"] = dict(range=[0, x_max])
        axes[f"xaxis{xg[1:]}"] = dict(range=[0, x_max], title_text="ratio r = π_new / π_old")
        axes[f"yaxis{yg[1:]}"] = dict(range=[-1.15 * gradient_reach, 1.15 * gradient_reach], zeroline=True,
                                      zerolinecolor=charts.OKABE_ITO["black"], zerolinewidth=2)
    annotations = layout["annotations"]
    xo, yo = grid[(1, 1)]
    annotations.append(dict(x=(low + high) / 2, xref=xo, y=0.99, yref=f"{yo} domain", text="trust<br>region",
                            showarrow=False, yanchor="top", font=dict(size=charts.FONT_SIZE - 2)))
    if delta is not None:
        xo, yo = grid[(1, 2)]
        annotations.append(dict(x=delta, xref=xo, y=1.0, yref=f"{yo} domain", text=" δ", showarrow=False,
                                yanchor="top", xanchor="left"))
    for name, extra in axes.items():
        layout[name] = {**layout.get(name, {}), **extra}
    layout["shapes"] = shapes
    layout["yaxis"]["title"] = dict(text="objective J")
    layout["yaxis3"]["title"] = dict(text="gradient")
    # The legend goes below the panels: above them it would collide with the panel titles.
    layout["legend"] = dict(orientation="h", yanchor="top", y=-0.14, xanchor="center", x=0.5)
    layout["margin"] = dict(l=60, r=20, t=40, b=40)
    return go.Figure(data=traces, layout=charts.house_layout(height=680, key="ratio-clipping", **layout))


with chart:
    st.plotly_chart(_figure(), key="clip_chart", theme=None, config={"displaylogo": False})
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

with st.expander("Think about it"):
    st.markdown(
        "1. Set r = 1.5 and A = +1. Why is the gradient 0? Now switch on clip-higher with ε_high = 0.6: "
        "what changes, and which completions does DAPO want to give this extra room?\n"
        "2. Set r = 0.5 and A = +1. The ratio is far outside the trust region, yet nothing is clipped. "
        "Why does GRPO still let this completion's gradient through?\n"
        "3. With A = −1, which side of the trust region is flat? Move r to 4: dJ/dr stays at A, but how "
        "large is the push on log π (r·dJ/dr), and what does switching on dual clip with δ = 3 do to it?\n"
        "4. Set ε = 0. Where is the gradient still non-zero? What would training do with ε = 0.8?\n"
        "5. Set A = 0. Why does the ratio no longer matter at all? (Think of a group where every "
        "completion got the same reward.)\n"
        "6. With μ = 1 and no separate sampler, where on this chart does every token of the update sit, and "
        "does the clip change anything? What does that mean for a run with TRL's defaults?"
    )
