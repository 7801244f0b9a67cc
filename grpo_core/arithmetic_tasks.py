"""The live run's simulated tasks with verifiable answers: ``a + b`` in one token, ``a × b`` digit by digit.

Shapes: ``P`` the task's prompts, ``T`` completion tokens (``T = 1`` for the one-token task), ``N``
completions scored at once.
"""

from __future__ import annotations

import torch

#: Each task's default ``start_skill`` (:class:`grpo_core.training.TrainConfig`): about 20% of the starting
#: policy's answers are right (tested).
DEFAULT_START_SKILL = {"add": 1.2, "times": 2.2}


class Task:
    """A simulated task with verifiable answers.

    Attributes:
        operands: ``(P, 2)`` long, the two numbers of each prompt.
        targets: ``(P, T)`` long, the right completion of each prompt (padded with EOS, or ``T = 1``).
        target_lengths: ``(P,)`` long, real tokens of each right completion.
        vocab: the text of each token id.
        max_len: ``T``, completion tokens sampled.
        eos: the id of the end-of-sequence token, or ``None`` for the one-token task.
    """

    name: str
    symbol: str
    operands: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor
    vocab: tuple[str, ...]
    max_len: int
    eos: int | None
    default_skill: float

    def __init__(self, max_operand: int):
        a, b = torch.meshgrid(torch.arange(max_operand + 1), torch.arange(max_operand + 1), indexing="ij")
        self.operands = torch.stack([a.reshape(-1), b.reshape(-1)], dim=-1)
        self.operand_count = max_operand + 1

    @property
    def num_prompts(self) -> int:
        return self.operands.shape[0]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def prompt_text(self, index: int) -> str:
        a, b = self.operands[index].tolist()
        return f"{a} {self.symbol} {b} ="

    def completion_text(self, tokens: list[int], length: int) -> str:
        return " ".join(self.vocab[t] for t in tokens[:length])

    def rewards(self, targets: torch.Tensor, target_lengths: torch.Tensor, completions: torch.Tensor,
                mask: torch.Tensor, partial_credit: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rewards (N,), correct (N,) bool)`` of ``completions (N, T)`` against ``targets (N, T)``."""
        raise NotImplementedError


class AddTask(Task):
    """``a + b`` with ``a, b`` in 0..9: the policy answers with one token among 0..18."""

    name = "add"
    symbol = "+"
    eos = None
    max_len = 1
    default_skill = DEFAULT_START_SKILL["add"]

    def __init__(self):
        super().__init__(9)
        self.vocab = tuple(str(n) for n in range(19))
        self.targets = self.operands.sum(dim=-1, keepdim=True)
        self.target_lengths = torch.ones(self.num_prompts, dtype=torch.long)

    def rewards(self, targets, target_lengths, completions, mask, partial_credit):
        diff = (completions[:, 0] - targets[:, 0]).abs()
        correct = diff == 0
        reward = correct.float()
        if partial_credit:
            reward = reward + 0.5 * (diff == 1).float()
        return reward, correct


class TimesTask(Task):
    """``a × b`` with ``a, b`` in 0..12, written digit by digit then EOS (2 to 4 tokens)."""

    name = "times"
    symbol = "×"
    default_skill = DEFAULT_START_SKILL["times"]

    def __init__(self, max_len: int):
        super().__init__(12)
        self.vocab = tuple(str(d) for d in range(10)) + ("EOS",)
        self.eos = 10
        self.max_len = max_len
        products = self.operands.prod(dim=-1).tolist()
        self.targets = torch.full((self.num_prompts, max_len), self.eos, dtype=torch.long)
        lengths = []
        for row, product in enumerate(products):
            digits = [int(c) for c in str(product)]
            self.targets[row, : len(digits)] = torch.tensor(digits)
            lengths.append(len(digits) + 1)
        self.target_lengths = torch.tensor(lengths)

    def rewards(self, targets, target_lengths, completions, mask, partial_credit):
        positions = torch.arange(completions.shape[1], device=completions.device)
        in_target = positions < target_lengths[:, None]
        match = completions == targets
        correct = (match | ~in_target).all(dim=-1)
        reward = correct.float()
        if partial_credit:
            digit_slots = positions < (target_lengths[:, None] - 1)
            digits_right = (match & digit_slots).sum(dim=-1) / (target_lengths - 1)
            reward = torch.where(correct, reward, 0.5 * digits_right)
        return reward, correct
