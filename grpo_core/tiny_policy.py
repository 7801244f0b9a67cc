"""The live run's policy: a small MLP over the prompt, the previous token and the position.

It is Markov in the previous token, so every state a completion can reach is a (prompt, previous token,
position) triple, and the frozen reference's outputs on all of them fit in one table
(:meth:`TinyPolicy.state_logits`).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TinyPolicy(nn.Module):
    r"""``net(prompt, previous token, position)``: logits ``(N, T, V)`` of the next token.

    .. math::
        h = \tanh(E_a[a] + E_b[b] + E_{prev}[y_{t-1}] + E_{pos}[t]),\quad
        \text{logits} = W_2 \tanh(W_1 h + b_1) + b_2

    The output layer starts near 0, so that the starting policy is the task's prior plus a little noise.
    """

    def __init__(self, operand_count: int, vocab_size: int, max_len: int, hidden: int, generator: torch.Generator):
        super().__init__()
        self.max_len = max_len
        self.bos = vocab_size  # the "previous token" of the first position

        def normal(*shape, std):
            return nn.Parameter(torch.randn(*shape, generator=generator) * std)

        self.embed_a = normal(operand_count, hidden, std=1.0)
        self.embed_b = normal(operand_count, hidden, std=1.0)
        self.embed_prev = normal(vocab_size + 1, hidden, std=1.0)
        self.embed_pos = normal(max_len, hidden, std=1.0)
        self.w1 = normal(hidden, hidden, std=1.0 / math.sqrt(hidden))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = normal(vocab_size, hidden, std=0.1 / math.sqrt(hidden))
        self.b2 = nn.Parameter(torch.zeros(vocab_size))

    def prompt_features(self, operands: torch.Tensor) -> torch.Tensor:
        """``(N, 2)`` operands -> ``(N, H)``."""
        return self.embed_a[operands[:, 0]] + self.embed_b[operands[:, 1]]

    def head(self, pre: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(torch.addmm(self.b1, torch.tanh(pre).reshape(-1, pre.shape[-1]), self.w1.t()))
        return torch.addmm(self.b2, hidden, self.w2.t()).reshape(*pre.shape[:-1], -1)

    def forward(self, prompt: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """``prompt (N, H)`` features, ``previous (N, T)`` previous tokens -> logits ``(N, T, V)``."""
        t = previous.shape[1]
        return self.head(prompt[:, None, :] + self.embed_prev[previous] + self.embed_pos[:t])

    def step_logits(self, prompt: torch.Tensor, previous: torch.Tensor, position: int) -> torch.Tensor:
        """One position: ``prompt (N, H)``, ``previous (N,)`` -> ``(N, V)``."""
        return self.head(prompt + self.embed_prev[previous] + self.embed_pos[position])

    def state_index(self, previous: torch.Tensor) -> torch.Tensor:
        """``previous (N, T)`` tokens -> ``(N, T)`` indices into :meth:`state_logits`'s states.

        A completion reaches ``S = 1 + (T - 1) V`` of the ``(V + 1) T`` (previous token, position) pairs:
        BOS at position 0 (state 0), an answer token ``v`` at position ``t >= 1`` (state ``1 + (t - 1) V + v``).
        """
        vocab = self.bos
        positions = torch.arange(previous.shape[1], device=previous.device)
        return torch.where(positions == 0, 0, 1 + (positions - 1) * vocab + previous)

    def state_logits(self, operands: torch.Tensor, chunk_elements: int = 1 << 18) -> torch.Tensor:
        """``(P, 2)`` operands -> ``(P, S, V)`` logits of every reachable state (:meth:`state_index`), the
        same numbers as :meth:`forward` bit for bit (the embeddings are summed in its order).

        Built ``chunk_elements`` hidden values at a time, so that the temporaries stay small (the app's server
        hands freed memory back to the system often, and each page touched afresh costs a fault; see
        :data:`grpo_core.curves.LAB_CHUNK_DRAWS`).
        """
        vocab, t, h = self.bos, self.max_len, self.w1.shape[0]
        features = self.prompt_features(operands)
        states = 1 + (t - 1) * vocab
        out = torch.empty(operands.shape[0], states, vocab, device=operands.device)
        rows = max(1, chunk_elements // (states * h))
        for lo in range(0, operands.shape[0], rows):
            f = features[lo:lo + rows]
            first = f + self.embed_prev[self.bos] + self.embed_pos[0]
            later = (f[:, None, None, :] + self.embed_prev[None, None, :vocab, :]) + self.embed_pos[None, 1:t, None, :]
            out[lo:lo + rows] = self.head(torch.cat([first[:, None, :], later.reshape(f.shape[0], -1, h)], dim=1))
        return out
