"""The KL and β page's figures and its cached Monte-Carlo labs (grpo_core.curves), built once per input.

Figures are cached per input as ``charts.PlainFigure`` specs (read-only once built): one control change on
the page changes only one section's inputs, and a cached spec costs a rerun only its sending.
"""

import functools

import torch

import charts
from grpo_core import curves
from grpo_core.curves import categorical_estimator_lab, categorical_gradient_lab, total_reward

TOKENS = ("the", "a", "one", "an", "this")
KL_DASHES = ("solid", "dash", "dot")
BETA_GRID = torch.linspace(0.0, 1.0, 101)
ESTIMATOR_FORMULAS = {"k1": "d", "k2": "d²/2", "k3": "e^(−d) + d − 1"}
ESTIMATOR_COLORS = {"k1": charts.OKABE_ITO["vermilion"], "k2": charts.OKABE_ITO["sky"], "k3": charts.OKABE_ITO["blue"]}
#: The KL terms of the gradient lab: (name on the page, gradient per token, what its mean is).
GRADIENT_ROWS = {
    "k1": ("k1 = d in the loss", "∇log π", "0: no pull toward π_ref"),
    "k2": ("k2 = d²/2 in the loss", "d·∇log π", "∇KL(π‖π_ref), reverse KL"),
    "k3": ("k3 = e^(−d) + d − 1 in the loss", "(1 − π_ref/π)·∇log π", "∇KL(π_ref‖π), forward KL"),
    "k1_reward": ("k1 = d in the reward", "d·∇log π", "∇KL(π‖π_ref), unbiased"),
    "k3_reward": ("k3 in the reward", "k3·∇log π", "∇KL(π‖π_ref) − ∇KL(π_ref‖π)"),
}
REVERSE_KL = "∇KL(π‖π_ref) (exact)"
FORWARD_KL = "∇KL(π_ref‖π) (exact)"
DIFFERENCE_KL = "∇KL(π‖π_ref) − ∇KL(π_ref‖π) (exact)"


# Caches: functools.lru_cache, shared by every session and process-wide like st.cache_resource (which hands out
# the same objects; st.cache_data would unpickle a lab's tensors on every hit, ~3 ms a rerun of this page). A hit
# costs ~0.1 us against st.cache_resource's ~70-120 us of hashing its arguments, and a lab change makes five to seven.
# Nothing changes a cached object once built. Arguments are floats, ints, strings and tuples of them.
@functools.lru_cache(maxsize=64)
def gaussian_labs(mu, sigma, mu_ref, sigma_ref, num_samples, num_trials, seed):
    """``(EstimatorLab, GradientLab)`` of one draw (grpo_core.curves.gaussian_labs)."""
    return curves.gaussian_labs(mu, sigma, mu_ref, sigma_ref, num_samples=num_samples, num_trials=num_trials,
                                seed=seed)


@functools.lru_cache(maxsize=64)
def token_lab(logits, logits_ref, num_samples, num_trials, seed):
    return categorical_estimator_lab(list(logits), list(logits_ref), num_samples=num_samples,
                                     num_trials=num_trials, seed=seed)


@functools.lru_cache(maxsize=64)
def token_gradients(logits, logits_ref, num_samples, num_trials, seed):
    return categorical_gradient_lab(list(logits), list(logits_ref), num_samples=num_samples, num_trials=num_trials,
                                    seed=seed)


FIGURE_CACHE = 32


@functools.lru_cache(maxsize=FIGURE_CACHE)
def reward_view(r_outcome: float, kls: tuple[float, ...], beta: float) -> tuple[list[float], charts.PlainFigure]:
    """``(at_beta, figure)``: each completion's total reward at ``beta`` (the page's sentence) and the chart of
    them along β. One cached call for both: computing the two numbers apart was ~15% of a β change (py-spy)."""
    totals = total_reward(r_outcome, BETA_GRID, torch.tensor(kls))
    at_beta = total_reward(r_outcome, torch.tensor([beta]), torch.tensor(kls))[:, 0]
    x = BETA_GRID.numpy()
    traces = [
        dict(type="scatter", x=x, y=totals[i].numpy(), name=f"KL = {kl:g}", mode="lines",
             line=dict(color=charts.SERIES[i], dash=KL_DASHES[i], width=3),
             hovertemplate=f"KL = {kl:g}<br>β = %{{x:.2f}}<br>R − β·KL = %{{y:.3f}}<extra></extra>")
        for i, kl in enumerate(kls)
    ]
    traces.append(dict(
        type="scatter", x=[beta] * len(kls), y=at_beta.numpy(), mode="markers", name=f"at β = {beta:g}",
        marker=dict(size=12, color=charts.OKABE_ITO["black"], symbol="diamond"),
        cliponaxis=False,  # at β = 0 or 1 the diamonds sit on the plot's edge: draw them whole
        hovertemplate="β = %{x:.2f}<br>R − β·KL = %{y:.3f}<extra></extra>",
    ))
    layout = dict(
        xaxis=dict(title=dict(text="β (KL weight)"), range=[0, 1]),
        yaxis=dict(title=dict(text="total reward R − β·KL"), zeroline=True, zerolinecolor=charts.OKABE_ITO["black"],
                   zerolinewidth=2),
        shapes=[dict(type="line", x0=beta, x1=beta, y0=0, y1=1, yref="y domain",
                     line=dict(color=charts.NEUTRAL, width=1, dash="dot"))],
    )
    return at_beta.tolist(), charts.PlainFigure(traces, charts.house_layout(height=420, key="kl-total-reward", **layout))


#: The most samples (N x trials) one change of the lab draws, for both its labs. Up to N = 1,000 every trial is
#: drawn (what the page's questions use); above, the trials are cut. Uncut, N = 10,000 x 200 trials are 2 million
#: draws a change, and a class's changes queued behind them: 50 sessions on this page, change p95 1,263 ms,
#: 118 ms with the cap (bench/load.py --pages kl-beta --trivial, one process, 2026-12-04).
MAX_DRAWS = 200_000


def lab_sizes(num_samples: int, num_trials: int, seed: int) -> tuple[int, int, int]:
    """``(N, trials, seed)`` the labs draw: ``trials`` cut to ``MAX_DRAWS // N`` where ``N x trials`` would
    pass :data:`MAX_DRAWS`."""
    return num_samples, min(num_trials, max(1, MAX_DRAWS // num_samples)), seed


def run_lab(lab: str, shape: tuple, sizes: tuple[int, int, int]):
    return token_lab(*shape, *sizes) if lab == "Tokens" else gaussian_labs(*shape, *sizes)[0]


@functools.lru_cache(maxsize=FIGURE_CACHE)
def distribution_figure(lab: str, shape: tuple) -> charts.PlainFigure:
    policy_style = dict(color=charts.OKABE_ITO["blue"])
    ref_style = dict(color=charts.OKABE_ITO["orange"])
    if lab == "Tokens":
        probs, probs_ref = (torch.softmax(torch.tensor(v), -1).numpy() for v in shape)
        traces = [
            dict(type="bar", x=list(TOKENS), y=probs, name="policy π", marker=policy_style,
                 hovertemplate="π(%{x}) = %{y:.3f}<extra></extra>"),
            dict(type="bar", x=list(TOKENS), y=probs_ref, name="reference π_ref",
                 marker=dict(**ref_style, pattern=dict(shape="/", fgcolor="white", fillmode="overlay")),
                 hovertemplate="π_ref(%{x}) = %{y:.3f}<extra></extra>"),
        ]
        layout = dict(barmode="group", yaxis=dict(title=dict(text="probability"), range=[0, 1]))
    else:
        mu, sigma, mu_ref, sigma_ref = shape
        lo = min(mu - 4 * sigma, mu_ref - 4 * sigma_ref)
        hi = max(mu + 4 * sigma, mu_ref + 4 * sigma_ref)
        x = torch.linspace(lo, hi, 301, dtype=torch.float64)
        traces = [
            dict(type="scatter", x=x.numpy(), y=torch.distributions.Normal(m, s).log_prob(x).exp().numpy(),
                 name=name, line=dict(**style, width=3, dash=dash), hoverinfo="skip")
            for m, s, name, style, dash in ((mu, sigma, "policy π", policy_style, "solid"),
                                             (mu_ref, sigma_ref, "reference π_ref", ref_style, "dash"))
        ]
        layout = dict(xaxis=dict(title=dict(text="x")), yaxis=dict(title=dict(text="density")))
    return charts.PlainFigure(traces, charts.house_layout(height=300, key=f"kl-dist-{lab}", **layout))


@functools.lru_cache(maxsize=FIGURE_CACHE)
def spread_figure(lab: str, shape: tuple, sizes: tuple[int, int, int]) -> charts.PlainFigure:
    result = run_lab(lab, shape, sizes)
    traces = [
        dict(type="box", y=result.trial_estimates[i].numpy(), name=f"{name}: {ESTIMATOR_FORMULAS[name]}",
             marker=dict(color=ESTIMATOR_COLORS[name], size=4), boxpoints="all", jitter=0.4, pointpos=0,
             boxmean=True, hoverinfo="y")
        for i, name in enumerate(result.estimators)
    ]
    layout = dict(
        showlegend=False,
        yaxis=dict(title=dict(text=f"estimate from N = {result.num_samples} samples"), zeroline=True,
                   zerolinecolor=charts.NEUTRAL),
        # The exact KL: a solid black line across the whole chart, labelled. Each box's own mean is Plotly's
        # dashed line inside the box, its median the solid one: the three differ in extent, dash and label.
        shapes=[dict(type="line", x0=0, x1=1, xref="x domain", y0=result.exact, y1=result.exact,
                     line=dict(color=charts.OKABE_ITO["black"], width=2))],
        annotations=[dict(x=1, xref="x domain", y=result.exact, text="exact KL", showarrow=False, xanchor="left",
                          font=dict(size=charts.FONT_SIZE - 2))],  # in the right margin, clear of the boxes
        margin=dict(l=60, r=90, t=60, b=50),
    )
    title = f"{result.num_trials} estimates each; black line: exact KL = {result.exact:.4f}"
    return charts.PlainFigure(traces, charts.house_layout(title=title, height=440, key="kl-spread", **layout))


def run_gradients(lab: str, shape: tuple, sizes: tuple[int, int, int]):
    return token_gradients(*shape, *sizes) if lab == "Tokens" else gaussian_labs(*shape, *sizes)[1]
PARAMETER_LABELS = {"Gaussians": ("μ", "log σ"), "Tokens": tuple(f"logit “{tok}”" for tok in TOKENS)}


@functools.lru_cache(maxsize=FIGURE_CACHE)
def gradient_figure(lab: str, shape: tuple, sizes: tuple[int, int, int]) -> charts.PlainFigure:
    g = run_gradients(lab, shape, sizes)
    terms = [(term, GRADIENT_ROWS[term][0], g.mean[i].numpy(), 2 * g.standard_error[i].numpy())
             for i, term in enumerate(g.terms)]
    # Each exact value sits on the bars that should reach it; k1-in-the-loss's target is the zero line.
    targets = [(REVERSE_KL, g.reverse_kl_grad.numpy(), ("k2", "k1_reward")),
               (FORWARD_KL, g.forward_kl_grad.numpy(), ("k3",)),
               (DIFFERENCE_KL, (g.reverse_kl_grad - g.forward_kl_grad).numpy(), ("k3_reward",))]
    title = f"Mean gradient over {g.num_samples * g.num_trials:,} sampled tokens, ± 2 standard errors"
    return charts.kl_gradient_bars(PARAMETER_LABELS[lab], terms, targets, title=title, height=500,
                                   key=f"kl-gradients-{lab}")
