"""Make tests/data/wandb_export.csv from app/samples/trl_trainer_state.json (run by hand, never by the tests).

The CSV has the layout of a Weights & Biases run export of a TRL run: a ``Step`` column and TRL's metrics
with W&B's ``train/`` prefix (``train/reward``, ``train/kl``, ...), one row per logged step, blank cells where
a metric was not logged. The numbers are those of the real TRL sample. Run with the app's environment:

    .venv/bin/python tests/data/make_csv_sample.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    history = json.loads((HERE.parents[1] / "app" / "samples" / "trl_trainer_state.json").read_text())["log_history"]
    names = sorted({k for entry in history for k in entry if k != "step"})
    with open(HERE / "wandb_export.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Step", *(f"train/{n}" for n in names)])
        for entry in history:
            writer.writerow([entry["step"], *(entry.get(n, "") for n in names)])


if __name__ == "__main__":
    main()
