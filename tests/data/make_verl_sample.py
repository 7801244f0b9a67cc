"""Make app/samples/verl_file_logger.jsonl with verl's own code (run by hand, never by the test suite).

verl's trainer needs Ray workers, FSDP and an inference engine, which do not run here; what writes its log
is ``verl.utils.tracking.FileLogger``, and what computes the numbers is verl's ``core_algos`` (GRPO
advantages, the vanilla clipped policy loss with its dual clip, the ``low_var_kl`` loss, ``agg_loss``) and
``metric_utils.compute_data_metrics``. This script runs those on a tiny tabular policy (logits per prompt and
position, trained with Adam) on a toy verifiable task, the loop of ``RayPPOTrainer.fit`` written out small:
sample ``rollout.n = 4`` responses per prompt, score them, GRPO advantages, then ``ppo_epochs = 2`` over
**two** mini-batches (so later updates are off-policy and the clip fraction is not 0), ``use_kl_loss=True``,
and log every step with verl's metric names.

Run in a separate environment (never the app's .venv):

    python3.11 -m venv /tmp/trlvenv && /tmp/trlvenv/bin/pip install torch==2.13.0
    /tmp/trlvenv/bin/pip install --no-deps verl==0.9.1
    /tmp/trlvenv/bin/pip install packaging numpy ray tensordict omegaconf transformers codetiming orjson
    /tmp/trlvenv/bin/python tests/data/make_verl_sample.py
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

OUT = Path(__file__).resolve().parents[2] / "app" / "samples" / "verl_file_logger.jsonl"  # one copy: the app shows it, the tests read it
os.environ["VERL_FILE_LOGGER_PATH"] = str(OUT)

from verl import DataProto  # noqa: E402
from verl.trainer.ppo import core_algos  # noqa: E402
from verl.trainer.ppo.metric_utils import compute_data_metrics  # noqa: E402
from verl.utils.tracking import FileLogger  # noqa: E402

STEPS, PROMPTS, N, T, VOCAB, EOS, PROMPT_LEN = 60, 16, 4, 6, 11, 10, 3
LR, KL_COEF, PPO_EPOCHS = 0.1, 0.01, 2
ACTOR = OmegaConf.create(dict(clip_ratio=0.2, clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=3.0,
                              loss_agg_mode="token-mean", global_batch_info={}))


def log_probs(logits: torch.Tensor, prompts: torch.Tensor, responses: torch.Tensor):
    """Per-token log-probs and entropies of ``responses`` (R, T) under the table ``logits`` (P, T, V)."""
    dist = torch.log_softmax(logits[prompts], dim=-1)
    return dist.gather(-1, responses[..., None])[..., 0], -(dist.exp() * dist).sum(-1)


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.zeros(10, T, VOCAB, requires_grad=True)
    with torch.no_grad():
        logits += 0.5 * torch.randn(10, T, VOCAB, generator=gen)
        logits[:, :, EOS] -= 1.0  # answers run long at first: many reach the length limit
    reference = logits.detach().clone()
    optimizer = torch.optim.Adam([logits], lr=LR)
    logger = FileLogger(project_name="grpo-explorer", experiment_name="verl-sample")
    for step in range(1, STEPS + 1):
        prompts = torch.randint(0, 10, (PROMPTS,), generator=gen).repeat_interleave(N)
        uid = np.repeat([str(uuid.UUID(int=int(torch.randint(0, 2**62, (1,), generator=gen)))) for _ in range(PROMPTS)], N)
        with torch.no_grad():
            responses = torch.distributions.Categorical(logits=logits[prompts]).sample()
        ended = (responses == EOS).int().cumsum(-1)
        mask = ((ended == 0) | ((ended == 1) & (responses == EOS))).float()  # tokens up to and with the EOS
        length = mask.sum(-1).long()
        score = (responses[:, 0] == (prompts * 3) % 10).float() * (length <= 3).float()  # right, and short
        scores = torch.zeros(len(prompts), T)
        scores[torch.arange(len(prompts)), length - 1] = score
        advantages, returns = core_algos.compute_grpo_outcome_advantage(scores, mask, uid)
        with torch.no_grad():
            old_log_prob, _ = log_probs(logits, prompts, responses)
        metrics: dict[str, list[float]] = {}
        halves = torch.arange(len(prompts)).chunk(2)  # ppo_mini_batch_size = half the batch
        for half in [h for _ in range(PPO_EPOCHS) for h in halves]:
            log_prob, entropy = log_probs(logits, prompts[half], responses[half])
            pg_loss, pg_metrics = core_algos.compute_policy_loss_vanilla(
                old_log_prob[half], log_prob, advantages[half], mask[half], loss_agg_mode="token-mean", config=ACTOR)
            ref_log_prob, _ = log_probs(reference, prompts[half], responses[half])
            kl = core_algos.kl_penalty(log_prob, ref_log_prob, kl_penalty="low_var_kl")
            kl_loss = core_algos.agg_loss(kl, mask[half], "token-mean")
            optimizer.zero_grad()
            (pg_loss + KL_COEF * kl_loss).backward()
            grad_norm = torch.nn.utils.clip_grad_norm_([logits], 1.0)
            optimizer.step()
            for key, value in {**pg_metrics, "actor/pg_loss": pg_loss.item(), "actor/kl_loss": kl_loss.item(),
                               "actor/kl_coef": KL_COEF, "actor/grad_norm": grad_norm.item(), "actor/lr": LR,
                               "actor/entropy": core_algos.agg_loss(entropy.detach(), mask[half], "token-mean").item(),
                               }.items():
                metrics.setdefault(key, []).append(float(value))
        batch = DataProto.from_dict(tensors={
            "token_level_scores": scores, "token_level_rewards": scores, "advantages": advantages,
            "returns": returns, "responses": responses, "response_mask": mask,
            "prompts": torch.zeros(len(prompts), PROMPT_LEN, dtype=torch.long),
            "attention_mask": torch.cat([torch.ones(len(prompts), PROMPT_LEN), mask], dim=-1).long()})
        data = {k: float(np.mean(v)) for k, v in metrics.items()}
        data.update({k: float(v) for k, v in compute_data_metrics(batch, use_critic=False).items()})
        data.update({"training/global_step": step, "training/epoch": 0})
        logger.log(data=data, step=step)
    logger.finish()
    print(f"{STEPS} steps -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
