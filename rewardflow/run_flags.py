"""The flags of one pipeline run, derived from `RewardFlowParams`: its one definition, never copied.

Every field of the flow's parameters is a flag: the pipeline fields by their own names (`--home`,
`--eval_fraction`, `--num_processes` ...), `training` as the RewardConfig flags of `rewardflow train`
(`--max_steps`, `--bf16` ...), `lora` as TRL's LoRA flags (`--use_peft --lora_r 16`), `promotion` and
`gate_checks` as `--promotion_<field>` and `--gate_<field>`, and `data` and `health` by their own field
names, as `rewardflow ingest` spells them (`--min_good_fraction`, `--length_psi_hold`). Only the flags
given are passed on, so the flow's own defaults apply to the rest; a flag the flow sets itself
(`--output_dir`) is refused, never silently dropped.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from collections.abc import Iterable
from typing import Any, get_type_hints

from pydantic import ValidationError

from deployments.flags import FlagParser
from flows.params import RewardFlowParams
from rmcore import RewardConfig
from rmcore.checks.compare import PromotionRule
from rmcore.checks.data_health import HealthConfig
from rmcore.checks.gate import GateChecks
from rmcore.training.script_args import LoraArguments
from tasks.data.config import DataConfig

NESTED = ("training", "lora", "promotion", "gate_checks", "data", "health")


@dataclasses.dataclass(frozen=True)
class FieldFlags:
    """A dataclass parameter of the flow given field by field, as `--<prefix><field>`."""

    parameter: str  # the RewardFlowParams field it fills
    config: type  # the dataclass it is
    prefix: str  # "" where the fields are spelled as the command that owns them spells them
    title: str  # the group title in --help


BY_FIELD = (
    FieldFlags("promotion", PromotionRule, "promotion_", "champion gate (RewardFlowParams.promotion)"),
    FieldFlags(
        "gate_checks", GateChecks, "gate_", "gate checks: slices and length bias (RewardFlowParams.gate_checks)"
    ),
    FieldFlags("data", DataConfig, "", "validation of new pairs, as rewardflow ingest (RewardFlowParams.data)"),
    FieldFlags("health", HealthConfig, "", "ingest health check, as rewardflow ingest (RewardFlowParams.health)"),
)


def field_flags_of(flag: str) -> FieldFlags | None:
    """The field-by-field parameter a given flag belongs to, if any."""
    for group in BY_FIELD:
        if flag.startswith(group.prefix) and flag.removeprefix(group.prefix) in group.config.__dataclass_fields__:
            return group
    return None


# RewardConfig fields the flow sets from the run folder: a value given for them would be lost.
FLOW_SET = ("output_dir", "logging_dir")


def pipeline_fields() -> type:
    """The pipeline fields of `RewardFlowParams` as a dataclass, so `FlagParser` reads them as any other.

    `RewardFlowParams` is a pydantic model (Prefect validates flow parameters by it); its field's
    `description` becomes the flag's help, its default the flag's default.
    """
    fields = []
    for name, info in RewardFlowParams.model_fields.items():
        if name in NESTED:
            continue
        default = info.get_default(call_default_factory=True)
        spec = dataclasses.field(
            default_factory=lambda value=default: copy.deepcopy(value), metadata={"help": info.description or ""}
        )
        fields.append((name, info.annotation, spec))
    return dataclasses.make_dataclass(
        "PipelineFlags", fields, namespace={"_argument_group_name": "pipeline (RewardFlowParams)"}
    )


def prefixed_fields(cls: type, prefix: str, title: str) -> type:
    """`cls`'s fields renamed `<prefix><field>` (`PromotionRule.rule` -> `--promotion_rule`), help and defaults kept."""
    hints = get_type_hints(cls)
    fields = [
        (
            prefix + f.name,
            hints[f.name],
            dataclasses.field(default=f.default, default_factory=f.default_factory, metadata=f.metadata),
        )
        for f in dataclasses.fields(cls)
    ]
    return dataclasses.make_dataclass(f"{cls.__name__}Flags", fields, namespace={"_argument_group_name": title})


def make_parser(prog: str = "rewardflow run", description: str | None = None) -> FlagParser:
    """RewardConfig and LoRA flags as `rewardflow train` has them, then the pipeline and promotion flags.

    Every default is suppressed, so the parsed namespace holds exactly the flags given; `--help` still shows
    each default, written into the flag's help before it is suppressed.
    """
    flag_sets = [pipeline_fields(), *(prefixed_fields(g.config, g.prefix, g.title) for g in BY_FIELD)]
    # `--seed` is the run's (it seeds sampling and training alike): the pipeline's flag replaces RewardConfig's
    parser = FlagParser(
        (RewardConfig, LoraArguments, *flag_sets), prog=prog, description=description, conflict_handler="resolve"
    )
    for action in parser._actions:
        if action.dest != "help" and action.default is not argparse.SUPPRESS:
            if action.help is not argparse.SUPPRESS and action.default is not None and action.default is not False:
                shown = str(action.default).replace("%", "%%")  # argparse formats help with %
                action.help = f"{action.help or ''} (default: {shown})"
            action.default = argparse.SUPPRESS
    return parser


def params_from_flags(given: dict[str, Any], base: dict[str, Any] | None = None) -> RewardFlowParams:
    """`RewardFlowParams` from the flags given, over `base` (e.g. the demo's bounded defaults).

    Raises:
        ValueError: a flag the flow sets itself, or a value the parameters refuse (naming the flag).
    """
    base = json.loads(json.dumps(base or {}))
    pipeline = set(RewardFlowParams.model_fields) - set(NESTED)
    lora = {f.name for f in dataclasses.fields(LoraArguments)}
    values: dict[str, Any] = {k: v for k, v in base.items() if k not in NESTED}
    training, lora_values = (dict(base.get(k) or {}) for k in ("training", "lora"))
    by_field = {group.parameter: dict(base.get(group.parameter) or {}) for group in BY_FIELD}
    for name, value in given.items():
        group = field_flags_of(name)
        if name in pipeline:
            values[name] = value
        elif name in lora:
            lora_values[name] = value
        elif group is not None:
            by_field[group.parameter][name.removeprefix(group.prefix)] = value
        elif name in FLOW_SET:
            raise ValueError(f"--{name} is set by the flow (HOME/runs/<work key>/train); pass --home instead")
        else:
            training[name] = value
    try:
        RewardConfig(output_dir="unused", **training)  # refuses a bad training value before any work starts
        nested: dict[str, Any] = {"training": training} if training else {}
        if lora_values:
            nested["lora"] = LoraArguments(**lora_values)
        return RewardFlowParams(**values, **nested, **field_params(by_field))
    except ValidationError as err:
        raise ValueError("; ".join(_flag_error(e) for e in err.errors())) from err
    except (ValueError, TypeError) as err:
        raise ValueError(str(err)) from err


def field_params(by_field: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The dataclass parameters given field by field (`--gate_min_slice_pairs 20`), built and checked."""
    configs = {group.parameter: group.config for group in BY_FIELD}
    return {parameter: configs[parameter](**fields) for parameter, fields in by_field.items() if fields}


def _flag_error(error: dict[str, Any]) -> str:
    """A pydantic error as the flag a person typed: `--eval_fraction 0: Input should be greater than 0`."""
    loc = [str(part) for part in error["loc"]]
    group = next((g for g in BY_FIELD if g.parameter == loc[0]), None)
    name = group.prefix + loc[1] if group is not None and len(loc) > 1 else loc[-1]
    return f"--{name} {error.get('input')!r}: {error['msg']}"


def parse_run_flags(
    parser: FlagParser, argv: list[str], base: dict[str, Any] | None = None, own: Iterable[str] = ()
) -> tuple[RewardFlowParams, dict[str, Any]]:
    """Parse `argv` into RewardFlowParams, and the values of the caller's `own` flags; bad flags exit 2."""
    namespace, rest = parser.parse_known_args(argv)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)} (see {parser.prog} --help)")
    given = vars(namespace)
    mine = {name: given.pop(name) for name in own if name in given}
    try:
        return params_from_flags(given, base), mine
    except ValueError as err:
        parser.error(str(err))
        raise  # parser.error exits
