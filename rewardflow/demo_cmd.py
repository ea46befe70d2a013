"""`rewardflow demo --home DIR`: servers up, pairs in the store, one watched run of `reward-model/nightly`.

What `make demo` runs on a fresh machine. The run is bounded (a few hundred pairs, a few dozen steps,
short sequences) so it ends in minutes on a 2-core CPU; raise `--max-steps`/`--max-train-pairs` for a
better model. The servers keep running afterwards, for the Prefect and MLflow UIs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from deployments.config import ScheduleConfig, ServerConfig
from deployments.nightly import NIGHTLY
from deployments.servers import REPO_ROOT, running_record, start_servers
from tasks.data_config import DataConfig
from tasks.ingest import ingest_files
from tasks.store import store_files

SHARED_PAIRS = Path("shared") / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"
HUB_DATASET, HUB_SPLIT = "Anthropic/hh-rlhf", "test[:400]"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rewardflow demo", description=__doc__.split("\n")[0])
    parser.add_argument("--home", default=".home/demo", help="Pipeline home (default: %(default)s).")
    parser.add_argument("--data", help="Pair file to train on; default: the shared hh-rlhf pairs, else the hub.")
    parser.add_argument("--prefect-port", type=int, default=4200, help="Port of the Prefect server.")
    parser.add_argument("--mlflow-port", type=int, default=5000, help="Port of the MLflow server.")
    parser.add_argument("--max-train-pairs", type=int, default=256, help="Pairs the demo trains on.")
    parser.add_argument("--max-eval-pairs", type=int, default=150, help="Held-out pairs it is scored on.")
    parser.add_argument("--max-steps", type=int, default=32, help="Optimizer steps (8 pairs each).")
    parser.add_argument("--max-length", type=int, default=192, help="Longest sequence in tokens.")
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds to wait for the run.")
    return parser


def demo_training(args: argparse.Namespace) -> dict[str, Any]:
    """RewardConfig overrides that bound the demo run's time."""
    return {"max_steps": args.max_steps, "per_device_train_batch_size": 8, "max_length": args.max_length}


def demo_parameters(home: str, args: argparse.Namespace) -> dict[str, Any]:
    params = {"home": home, "training": demo_training(args), "max_train_pairs": args.max_train_pairs}
    return {"params": {**params, "max_eval_pairs": args.max_eval_pairs}}


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
    """Like `prefect deployment run reward-model/nightly --watch`: start the run, print its state changes."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        run = run_deployment(NIGHTLY, parameters=parameters, timeout=0)
        print(f"Started {NIGHTLY} run {run.name}: {api_url.removesuffix('/api')}/runs/flow-run/{run.id}", flush=True)
        start, last = time.monotonic(), None
        with get_client(sync_client=True) as client:
            while time.monotonic() - start < timeout:
                run = client.read_flow_run(run.id)
                if run.state_name != last:
                    print(f"  [{time.monotonic() - start:5.0f}s] {run.state_name}", flush=True)
                    last = run.state_name
                if run.state and run.state.is_final():
                    return run
                time.sleep(5)
    raise TimeoutError(f"{NIGHTLY} run {run.name} still {run.state_name} after {timeout:.0f}s")


def champion_summary(tracking_uri: str, model_name: str = "reward-model") -> str:
    """The champion's version and held-out accuracy, read back from the MLflow server."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = client.get_model_version_by_alias(model_name, "champion")
    metrics = client.get_run(version.run_id).data.metrics
    accuracy = metrics.get("eval_accuracy")
    shown = f"{accuracy:.3f}" if accuracy is not None else "not logged"
    return f"Champion: {model_name} version {version.version}, held-out accuracy {shown} (MLflow run {version.run_id})"


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    home = Path(args.home).resolve()
    schedule = ScheduleConfig(max_train_pairs=args.max_train_pairs, training=demo_training(args))
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
            f"`rewardflow ingest FILE --home {args.home}` (JSONL with chosen/rejected), or "
            f"`rewardflow demo --data FILE`, or go online for {HUB_DATASET}.",
            file=sys.stderr,
        )
        return 1
    run = watch(record["prefect_api_url"], demo_parameters(str(home), args), args.timeout)
    ui = record["prefect_ui_url"]
    if not run.state.is_completed():
        print(f"rewardflow demo: the run ended {run.state_name}; see {ui}/runs/flow-run/{run.id}", file=sys.stderr)
        return 1
    print(champion_summary(record["mlflow_tracking_uri"]))
    print(f"Prefect UI: {ui}/runs/flow-run/{run.id}")
    print(f"MLflow UI:  {record['mlflow_tracking_uri']}/#/models/reward-model")
    print(f"The servers keep running; stop them with: rewardflow down --home {args.home}")
    return 0
