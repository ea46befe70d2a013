"""`rewardflow demo --home DIR`: servers up, pairs in the store, one watched run of `reward-model/nightly`.

What `make demo` runs on a fresh machine. The run is bounded (a few hundred pairs, a few dozen steps,
short sequences) so it ends in minutes on a 2-core CPU; every flag of `rewardflow run` works here too
(raise `--max_steps`/`--max_train_pairs` for a better model). The servers keep running afterwards, for
the Prefect and MLflow UIs.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from deployments.config import ScheduleConfig, ServerConfig
from deployments.flags import FlagParser, add_flag
from deployments.nightly import NIGHTLY
from deployments.servers import REPO_ROOT, running_record, start_servers
from flows.params import RewardFlowParams
from rewardflow.run_flags import make_parser, parse_run_flags
from tasks.data.config import DataConfig
from tasks.data.ingest import ingest_files
from tasks.data.load import PAIR_SOURCES
from tasks.data.store import store_files
from tasks.defaults import DEMO_HOME, REGISTERED_MODEL

SHARED_PAIRS = Path("shared") / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"
HUB_DATASET, HUB_SPLIT = "Anthropic/hh-rlhf", "test[:400]"


# What bounds the demo run, beneath any flag given: a few hundred pairs, a few dozen steps, short sequences.
DEMO_RUN: dict[str, Any] = {
    "home": DEMO_HOME,
    "max_train_pairs": 256,
    "max_eval_pairs": 150,
    "training": {"max_steps": 32, "per_device_train_batch_size": 8, "max_length": 192},
}
OWN_FLAGS = ("data", "prefect_port", "mlflow_port", "timeout")


def build_parser() -> FlagParser:
    """The flags of `rewardflow run` (the flow's parameters), plus where the data and servers come from."""
    bounds = ", ".join(f"--{k} {v}" for k, v in {**DEMO_RUN, **DEMO_RUN["training"]}.items() if k != "training")
    parser = make_parser("rewardflow demo", f"{__doc__.split(chr(10))[0]} Demo bounds unless given: {bounds}.")
    demo = parser.add_argument_group("demo")
    demo.add_argument(
        "--data", help=f"Pairs to train on: {PAIR_SOURCES}. None = the shared hh-rlhf pairs, else the hub."
    )
    for port in (f for f in fields(ServerConfig) if f.name in ("prefect_port", "mlflow_port")):
        add_flag(demo, port.name, type=int, default=port.default, help=port.metadata["help"])
    demo.add_argument("--timeout", type=float, default=1800, help="Seconds to wait for the run.")
    return parser


def parse_args(argv: list[str]) -> tuple[RewardFlowParams, argparse.Namespace]:
    """The run's parameters (demo bounds beneath the flags given, home resolved) and the demo's own flags."""
    params, own = parse_run_flags(build_parser(), argv, DEMO_RUN, OWN_FLAGS)
    return params.model_copy(update={"home": str(Path(params.home).resolve())}), argparse.Namespace(**own)


def demo_parameters(params: RewardFlowParams) -> dict[str, Any]:
    """The deployment run's parameters: what the demo set or was given, the rest left to the flow."""
    return {"params": params.model_dump(mode="json", exclude_unset=True)}


def shared_pairs_candidates() -> list[Path]:
    """Where the shared hh-rlhf pairs sit next to a checkout: `../shared/data` of the cwd or of the repo."""
    return [Path.cwd().parent / SHARED_PAIRS, REPO_ROOT.parent / SHARED_PAIRS]


def ensure_data(home: Path, data: str | None) -> str:
    """Fill an empty store (no event: the demo starts its run itself); returns where the pairs came from."""
    if data is None and store_files(home / "store"):
        return f"the pairs already in {home / 'store'}"
    sources = [data] if data else [str(p) for p in shared_pairs_candidates() if p.is_file()][:1]
    if sources:
        report = ingest_files(sources, home, DataConfig())
        return f"{sources[0]} ({report.good} pairs stored)"
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise LookupError(f"no {SHARED_PAIRS} found next to {Path.cwd()} or {REPO_ROOT}, and HF_HUB_OFFLINE=1")
    report = ingest_files([HUB_DATASET], home, DataConfig(hub_split=HUB_SPLIT))
    return f"{HUB_DATASET} split {HUB_SPLIT} ({report.good} pairs stored)"


def watch(api_url: str, parameters: dict[str, Any], timeout: float) -> Any:
    """Like `prefect deployment run reward-model/nightly --watch`, plus the run's phases and log lines
    (training progress included) as they come (see `rewardflow.watch`)."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from rewardflow.watch import follow

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        run = run_deployment(NIGHTLY, parameters=parameters, timeout=0)
        print(f"Started {NIGHTLY} run {run.name}: {api_url.removesuffix('/api')}/runs/flow-run/{run.id}", flush=True)
        with get_client(sync_client=True) as client:
            return follow(client, run.id, timeout, show=lambda line: print(line, flush=True))


def champion_summary(tracking_uri: str, model_name: str = REGISTERED_MODEL) -> str:
    """The champion's version and held-out accuracy, read back from the MLflow server."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = client.get_model_version_by_alias(model_name, "champion")
    metrics = client.get_run(version.run_id).data.metrics
    accuracy = metrics.get("eval_accuracy")
    shown = f"{accuracy:.3f}" if accuracy is not None else "not logged"
    return f"Champion: {model_name} version {version.version}, held-out accuracy {shown} (MLflow run {version.run_id})"


def main(argv: list[str]) -> int:
    params, args = parse_args(argv)
    home = Path(params.home)
    run_values = {k: v for k, v in demo_parameters(params)["params"].items() if k != "home"}
    schedule = ScheduleConfig(params=run_values)
    record = running_record(home)
    if record is None:
        print(f"Starting the servers for {home} (up to a minute or two)...", flush=True)
        config = ServerConfig(home=str(home), prefect_port=args.prefect_port, mlflow_port=args.mlflow_port)
        try:
            record = start_servers(config, schedule)
        except (RuntimeError, TimeoutError, ValueError) as err:
            print(f"rewardflow demo: {err}", file=sys.stderr)
            return 1
    try:
        print(f"Data: {ensure_data(home, args.data)}", flush=True)
    except (LookupError, ValueError) as err:
        print(
            f"rewardflow demo: no preference pairs to train on ({err}).\nPoint it at data with "
            f"`rewardflow ingest FILE --home {home}` (JSONL with chosen/rejected), or "
            f"`rewardflow demo --data FILE`, or go online for {HUB_DATASET}.",
            file=sys.stderr,
        )
        return 1
    run = watch(record["prefect_api_url"], demo_parameters(params), args.timeout)
    ui = record["prefect_ui_url"]
    if not run.state.is_completed():
        print(f"rewardflow demo: the run ended {run.state_name}; see {ui}/runs/flow-run/{run.id}", file=sys.stderr)
        return 1
    print(champion_summary(record["mlflow_tracking_uri"], params.registered_model_name))
    print(f"Prefect UI: {ui}/runs/flow-run/{run.id}")
    print(f"MLflow UI:  {record['mlflow_tracking_uri']}/#/models/{params.registered_model_name}")
    print(f"The servers keep running; stop them with: rewardflow down --home {home}")
    return 0
