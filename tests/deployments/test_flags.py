"""deployments/flags.py: one flag builder for every command, one spelling in --help, the dashed form accepted."""

from __future__ import annotations

import argparse
import importlib
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from deployments.flags import FlagParser, from_arguments
from rewardflow.cli import COMMANDS


@dataclass
class Toy:
    max_length: int | None = field(default=None, metadata={"help": "Tokens per text; None = the model's."})
    use_peft: bool = field(default=False, metadata={"help": "Train an adapter."})
    prefect_ui: bool = field(default=True, metadata={"help": "Serve the UI."})
    params: dict[str, Any] = field(default_factory=dict, metadata={"help": "Flow parameters."})
    columns: tuple[str, ...] = field(
        default=("source",), metadata={"help": "Category columns (95% of pairs have one)."}
    )
    home: str = field(default=".home/toy", metadata={"help": "Where state lives."})
    report_to: str | None = field(default=None, metadata={"help": "Where to report; 'none' = nowhere."})


def parse(argv: list[str], **kwargs: Any) -> Toy:
    return from_arguments(Toy, FlagParser(Toy, **kwargs).parse_args(argv))


def test_defaults_come_from_the_fields():
    assert parse([]) == Toy()


@pytest.mark.parametrize(
    "argv",
    [
        ["--max_length", "64", "--use_peft", "--prefect_ui", "false", "--params", '{"seed": 3}', "--columns", "a", "b"],
        [
            "--max-length",
            "64",
            "--use-peft",
            "true",
            "--no-prefect-ui",
            "--params",
            '{"seed": 3}',
            "--columns",
            "a",
            "b",
        ],
        ["--max_length=64", "--use_peft", "--no_prefect_ui", '--params={"seed": 3}', "--columns", "a", "b"],
    ],
)
def test_underscores_and_dashes_parse_alike(argv):
    assert parse(argv) == Toy(max_length=64, use_peft=True, prefect_ui=False, params={"seed": 3}, columns=("a", "b"))


def test_none_undoes_an_optional_value_and_a_bad_value_names_the_flag(capsys):
    assert parse(["--max_length", "None"]).max_length is None
    assert parse(["--report_to", "none"]).report_to == "none"  # text stays text, as TrainingArguments reads it
    with pytest.raises(SystemExit):
        parse(["--max_length", "long"])
    assert "--max_length" in capsys.readouterr().err


def test_help_shows_each_flag_once_by_its_underscore_spelling():
    text = FlagParser(Toy).format_help()
    assert "--max_length MAX_LENGTH" in text and "--use_peft [BOOL]" in text and "--prefect_ui [BOOL]" in text
    assert not re.search(r"--[a-z]+-[a-z]", text), text  # no dashed spelling listed
    assert "--no_prefect_ui" not in text  # accepted (above), listed as `--prefect_ui false`
    assert "(default: True)" in text and "(default: .home/toy)" in text and "95% of pairs" in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_a_required_field_has_no_default(capsys):
    with pytest.raises(SystemExit):
        parse([], required=("home",))
    assert "--home" in capsys.readouterr().err
    assert parse(["--home", "h"], required=("home",)).home == "h"


def command_parsers() -> list[tuple[str, FlagParser]]:
    """Each command's parser, and the parsers of its actions (`benchmark add|list|remove`)."""
    found = []
    for name in COMMANDS:
        module = importlib.import_module(f"rewardflow.{name}_cmd")
        parser = (getattr(module, "build_parser", None) or module.make_parser)()
        found.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                found += [(f"{name} {sub_name}", sub) for sub_name, sub in action.choices.items()]
    return found


@pytest.mark.parametrize(
    ("name", "parser"), list(command_parsers()), ids=lambda value: value if isinstance(value, str) else ""
)
def test_every_command_builds_its_flags_with_the_one_builder(name, parser):
    assert isinstance(parser, FlagParser), name
    for action in parser._actions:
        if not action.option_strings or action.option_strings == ["-h", "--help"]:
            continue
        first, *others = action.option_strings
        assert "-" not in first.removeprefix("--"), f"{name}: {first} is listed in the dashed spelling"
        dashed = first.replace("_", "-")
        assert dashed == first or dashed in others, f"{name}: {first} does not accept {dashed}"
    assert not re.search(r"^\s+--[a-z]+-[a-z]", parser.format_help(), re.MULTILINE), name


def test_the_runner_argv_of_rewardflow_up_parses_back_into_its_schedule():
    from deployments.config import ScheduleConfig
    from deployments.nightly import build_parser
    from deployments.servers import runner_args

    schedule = ScheduleConfig(cron="5 3 * * *", inbox_interval=7.5, params={"max_train_pairs": 32})
    args = build_parser().parse_args(["--home", "h", *runner_args(schedule)])
    assert from_arguments(ScheduleConfig, args) == schedule
