"""The model card logged with each run: what the model is, what it was trained on, how it scored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks.tracking.runs import is_secret


def model_card(
    name: str,
    base_model: str,
    data_digest: str,
    metrics: Mapping[str, Any],
    params: Mapping[str, Any],
    notes: str = "",
) -> str:
    """A short markdown card: what the model is, what it was trained on, how it scored."""
    lines = [
        f"# {name}",
        "",
        "A pairwise reward model: one score per text, higher = preferred. Trained with rewardflow.",
        "",
        f"- **Base model:** `{base_model}`",
        f"- **Data digest:** `{data_digest}`",
        "",
        "## Evaluation",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()]
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" for k, v in params.items() if not is_secret(k)]
    lines += ["", *usage(name)]
    if notes:
        lines += ["", "## Notes", "", notes]
    return "\n".join(lines) + "\n"


def usage(name: str) -> list[str]:
    """How a client scores with the registered model and gets the rewards its gate measured."""
    uri = f"models:/{name}@champion"
    return [
        "## Use",
        "",
        "```python",
        f'mlflow.pyfunc.load_model("{uri}").predict(texts)  # raw rewards, float32',
        f'root = mlflow.artifacts.download_artifacts("{uri}")',
        "rmcore.RewardFunction(root)  # a reward function for TRL's GRPOTrainer",
        'AutoModelForSequenceClassification.from_pretrained(f"{root}/artifacts/model", dtype=torch.float32)',
        "```",
        "",
        "The saved tokenizer cuts from the left at the training length and carries the chat template",
        "conversations were rendered with; `config.json` holds the reward scale (`reward_stats`, `mean`, `std`).",
    ]
