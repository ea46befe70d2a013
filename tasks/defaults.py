"""Names and places every door of the pipeline agrees on, declared once.

The flow, the servers and the commands import these rather than spelling them, so renaming the registered
model or moving the homes is one edit. They live in `tasks`, the lowest layer that knows of MLflow and of
a pipeline home (`rmcore` knows neither).
"""

from __future__ import annotations

from dataclasses import dataclass, field

REGISTERED_MODEL = "reward-model"
"""The MLflow registered model the flow registers versions of and the reward server follows."""

EXPERIMENT = "reward-model"
"""The MLflow experiment of the flow's runs, which `rewardflow status` reads back."""

HOMES = ".home"
"""Folder, relative to the working directory, holding the default homes below."""

DEFAULT_HOME = f"{HOMES}/default"
"""Home of a run (`rewardflow run`, the flow) and of the commands that read one, when none is given."""

SERVICE_HOME = f"{HOMES}/service"
"""Home of the servers (`ServerConfig`, `ServeConfig`) when built without one; their commands require --home."""

DEMO_HOME = f"{HOMES}/demo"
"""Home of `rewardflow demo`, kept apart so the demo never trains into a real home."""


@dataclass
class StoreArguments:
    """Which MLflow store and registered model a door works on: the flow's parameters of these names and the
    `--tracking_uri` / `--registered_model_name` flags of every command read their help from here."""

    tracking_uri: str | None = field(
        default=None,
        metadata={
            "help": "MLflow tracking and registry store (a URL or sqlite:///FILE). None = $MLFLOW_TRACKING_URI, "
            "else the SQLite file under the home (`tasks.tracking.store.resolve_tracking_uri`)."
        },
    )
    registered_model_name: str = field(
        default=REGISTERED_MODEL,
        metadata={"help": "MLflow registered model whose versions the flow registers and the champion gate moves."},
    )
