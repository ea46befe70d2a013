"""`rewardflow serve --home DIR`: serve the champion reward model over HTTP to an RL loop, on 127.0.0.1.

It follows `models:/reward-model@champion` by default: a promotion is picked up within --poll_seconds
and swapped in without dropping a request. `POST /get_reward` takes OpenRLHF's payload, so a PPO run
points `--reward.remote_url http://127.0.0.1:8000/get_reward` (OpenRLHF 0.11; older versions:
`--remote_rm_url`) at it unchanged; `POST /classify` answers vLLM's pooling request (verl). Rewards are
scored in fp32 unless --precision says otherwise.
"""

from __future__ import annotations

import logging
import sys

from deployments.flags import FlagParser, from_arguments
from deployments.serving.config import ServeConfig


def build_parser() -> FlagParser:
    """Every `ServeConfig` field is a flag; `--home` is required, so a server never follows another home's model."""
    return FlagParser(ServeConfig, required=("home",), prog="rewardflow serve", description=__doc__)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = from_arguments(ServeConfig, args)
        from deployments.serving.follower import parse_source

        parse_source(config.model)
    except ValueError as err:
        print(f"rewardflow serve: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from deployments.serving.server import serve

    guarded = "bearer token required" if config.token else "no token (loopback only)"
    precision = config.scoring.precision_in_effect
    print(f"Serving {config.model} on http://{config.host}:{config.port} ({guarded}; {precision})", flush=True)
    serve(config)
    return 0
