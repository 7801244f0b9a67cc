"""Make app/samples/trl_trainer_state.json with TRL's own GRPOTrainer (run by hand, never by the test suite).

Nothing is downloaded: the policy is a tiny randomly initialised Llama built from a config, the tokenizer a
character-level ``WordLevel`` one, the data set a few arithmetic-looking prompts made here. The reward is a
verifiable toy: 1 when the completion starts with the prompt's last digit, else 0, so at first most groups are
all wrong (zero-std groups: no signal), as with a hard task on a real model.

Run in a separate environment (never the app's .venv):

    python3.11 -m venv /tmp/trlvenv && /tmp/trlvenv/bin/pip install torch==2.13.0 trl==1.16.0
    /tmp/trlvenv/bin/python tests/data/make_trl_sample.py

It writes ``trainer_state.json`` of the last checkpoint to app/samples/trl_trainer_state.json (about three
minutes on 2 CPU cores).
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from datasets import Dataset
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Split
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

import trl
from trl import GRPOConfig, GRPOTrainer

OUT = Path(__file__).resolve().parents[2] / "app" / "samples" / "trl_trainer_state.json"  # one copy: the app shows it, the tests read it
STEPS = 120
CHARS = list("0123456789+= ")


def tokenizer() -> PreTrainedTokenizerFast:
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, **{c: i + 4 for i, c in enumerate(CHARS)}}
    core = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = Split("", behavior="isolated")  # one token per character
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>",
                                  bos_token="<bos>", unk_token="<unk>")
    tok.padding_side = "left"
    return tok


def right_digit(completions, prompts, **_):
    """1 if the completion starts with the prompt's last digit (a checkable answer), else 0."""
    out = []
    for prompt, completion in zip(prompts, completions):
        target = [c for c in prompt if c.isdigit()][-1]
        text = completion.strip()
        out.append(1.0 if text[:1] == target else 0.0)
    return out


def main() -> None:
    random.seed(0)
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="trl_sample_"))
    tok = tokenizer()
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, bos_token_id=2, eos_token_id=1))
    model.save_pretrained(work / "model")  # beta > 0: TRL builds the reference model from this path
    tok.save_pretrained(work / "model")
    prompts = [f"{random.randint(0, 9)}+{random.randint(0, 9)}=" for _ in range(256)]
    args = GRPOConfig(
        output_dir=str(work / "out"), per_device_train_batch_size=16, num_generations=4, max_completion_length=6,
        max_steps=STEPS, logging_steps=1, save_steps=STEPS, learning_rate=1e-2, beta=0.04, loss_type="grpo",
        temperature=1.0, report_to=[], use_cpu=True, seed=0, save_only_model=True,
    )
    trainer = GRPOTrainer(model=str(work / "model"), reward_funcs=right_digit, args=args,
                          train_dataset=Dataset.from_dict({"prompt": prompts}), processing_class=tok)
    trainer.train()
    state = json.loads((work / "out" / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())
    OUT.write_text(json.dumps(state, indent=2) + "\n")
    shutil.rmtree(work)
    print(f"TRL {trl.__version__}: {len(state['log_history'])} log entries -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
