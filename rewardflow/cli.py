"""The `rewardflow` command: a thin face over the core, the tasks, the flows and the servers.

Each subcommand lives in its own module `rewardflow/<name>_cmd.py` with `main(argv) -> int`, imported
only when used. `rewardflow train` runs the flow's own functions (tasks/), so it imports the task modules
(and Prefect with them) but never MLflow or a server.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": "Train a reward model by the flow's path (TRL-style flags: --dataset_name, RewardConfig, LoRA).",
    "evaluate": "Score a model on pairs: accuracy, margin, reward stats (--json for one JSON object).",
    "validate": "Validate pair files, quarantine bad rows, print counts per rule.",
    "run": "Run the reward-model flow once (every RewardFlowParams field is a flag), register behind the gate.",
    "ingest": "Validate and store new pair files, and announce them so the pipeline retrains.",
    "serve": "Serve the champion reward model over HTTP (OpenRLHF's /get_reward), following promotions.",
    "benchmark": "Pin fixed evaluation files that every registered version is scored on (add, list, remove).",
    "release": "Train on a batch that the ingest health check held (no BATCH: list the held ones).",
    "models": "List the registered versions: accuracy, gate decision, aliases, date (--json for one JSON object).",
    "promote": "Make a version the champion by hand, with a reason (under the registry lock).",
    "rollback": "Give the champion alias back to the previous champion, with a reason.",
    "up": "Start the Prefect and MLflow servers and the deployment runner on 127.0.0.1.",
    "down": "Stop the servers that `rewardflow up` started.",
    "status": "Show the servers that `rewardflow up` started.",
    "demo": "Start the servers, run the nightly deployment on the embedded defaults, print the champion.",
}


def usage() -> str:
    lines = ["usage: rewardflow COMMAND [ARGS]  (rewardflow COMMAND --help for its flags)", "", "commands:"]
    lines += [f"  {name:<9} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"rewardflow: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    from rewardflow.errors import run_command

    module = importlib.import_module(f"rewardflow.{name}_cmd")
    return run_command(module.main, rest, name)


if __name__ == "__main__":
    sys.exit(main())
