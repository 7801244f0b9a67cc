"""Plain-words explanations of the training dashboard's panels, shared by the pages that draw it.

``EXPLAIN`` is the live-training page's text, in the dashboard's panel order; ``LOG_EXPLAIN`` is the same panel by panel for a trainer's log ("Your run"),
worded for what TRL and verl compute where that differs from the toy (no exact KL, TRL's reward_std is the
batch's spread, the clip depends on how batches are reused, truncation instead of right answers).
"""

EXPLAIN = {  # in the dashboard's panel order (row by row)
    "reward": "Mean reward of the step's completions (line) and the mean spread inside a group (band: ± the "
              "group std). Rising = the policy is learning the task.",
    "kl": "How far the policy has moved from the frozen starting policy: the exact KL over the "
          "vocabulary along the sampled answers (solid), and the sampled estimator GRPO puts in the "
          "loss (dashed; noisy: one unlikely token can spike it). With the KL in the loss, β pulls the policy "
          "back through the estimator's gradient: k2 along that of KL(π‖π_ref), k3 along that of KL(π_ref‖π), "
          "k1 not at all (its gradient has mean 0). In the reward, k1 gives the unbiased gradient of KL(π‖π_ref).",
    "clip": "Fraction of tokens whose ratio was clipped: low (ratio < 1−ε on a negative advantage), high "
            "(ratio > 1+ε_high on a positive one), and either. With μ = 1 all three are exactly 0.",
    "zero_std": "Fraction of groups whose completions all got the same reward: their advantages are 0, so "
                "they give no policy-gradient signal (with β > 0 and the KL in the loss, the KL term still pulls "
                "on them). Rises as prompts become always right (or stay always wrong).",
    "entropy": "How spread the policy's choices are (nats). It falls as the policy becomes sure of its "
               "answers; at 0 every completion in a group is the same and learning stops.",
    "length": "Mean completion length in tokens (the digit task only varies it). loss_type decides how "
              "length weighs in the loss.",
    "loss": "The GRPO loss that was minimised. Its value says little (advantages average to 0 in each "
            "group); watch the reward instead.",
    "accuracy": "Fraction of completions exactly right (equal to the reward unless partial credit is on).",
}

LOG_EXPLAIN = {  # the panels of a trainer's log, in the dashboard's order
    "reward": "Mean reward of the step's completions (line). The band is ± the trainer's reward_std where the "
              "log has it: in TRL the spread of all the step's rewards (over the batch, not per group). "
              "Rising = the policy is learning the task.",
    "kl": "How far the policy has moved from the reference: the trainer's sampled KL estimate (TRL's k3 when "
          "beta > 0; verl's kl_loss_type in the loss, or the KL put in the reward). In the loss β pulls the policy back through "
          "the estimator's gradient (k3: that of KL(π_ref‖π)); k1 in the loss does not pull at all.",
    "clip": "Fraction of tokens whose ratio was clipped: low (ratio < 1−ε on a negative advantage), high "
            "(ratio > 1+ε_high on a positive one), and either (verl's pg_clipfrac). Exactly 0 when every batch "
            "is used for one update by the policy that sampled it (num_iterations = 1, ppo_epochs = 1).",
    "zero_std": "Fraction of groups whose completions all got the same reward: their advantages are 0, so "
                "they give no policy-gradient signal (a KL term in the loss still pulls on them). Rises as prompts become always right (or stay always wrong).",
    "entropy": "How spread the policy's choices are (nats per token). It falls as the policy becomes sure of "
               "its answers; at 0 every completion in a group is the same and learning stops.",
    "length": "Mean completion length in tokens. loss_type (TRL) or loss_agg_mode (verl) decides how length "
              "weighs in the loss.",
    "loss": "The loss the trainer minimised (verl: the policy-gradient term alone). Its value says little "
            "(advantages average to 0 in each group); watch the reward instead.",
    "truncated": "Fraction of completions cut at the length limit without finishing (TRL's "
                 "completions/clipped_ratio, verl's response_length/clip_ratio).",
}
