"""How every `rewardflow` command (and `python -m deployments.nightly`) builds its flags: `FlagParser`.

`FlagParser` is TRL's and transformers' `HfArgumentParser`: each dataclass field is a flag spelled with
underscores (`--max_length`), `--max-length` is accepted beside it, the field's `metadata["help"]` is its
help, and a boolean is `--flag`, `--flag true|false`, or `--no_flag` when it defaults to true.

Added here: a number that may be None takes `none` (`--max_train_pairs none` undoes a base value; a text
field keeps `none` as text, since `--report_to none` means "no reporting" to TrainingArguments), a dict
takes JSON (`--params '{"max_train_pairs": 32}'`), and a tuple takes a list, as a list does.

`--help` names each flag once, by its underscore spelling, and shows its default: the dashed spellings
and the `--no_flag` of a boolean are accepted without being listed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, get_args, get_origin

from transformers import HfArgumentParser


def flag_names(name: str) -> list[str]:
    """`--max_length` as TRL spells it, then `--max-length`, accepted as well."""
    names = [f"--{name}"]
    if "_" in name:
        names.append(f"--{name.replace('_', '-')}")
    return names


def add_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, name: str, **kwargs: Any) -> argparse.Action:
    """A flag no dataclass declares (a command's own `--json`, `--home`), spelled as the dataclass flags are."""
    return parser.add_argument(*flag_names(name), dest=name, **kwargs)


class OneSpellingFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` with one line per flag: its first spelling, and its default where the default says something.

    A default of None or False is left out: the help says what None means, and a switch not given is off.
    """

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            return super()._format_action_invocation(action)
        first = action.option_strings[0]
        if action.nargs == 0:
            return first
        return f"{first} {self._format_args(action, self._get_default_metavar_for_optional(action))}"

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class FlagParser(HfArgumentParser):
    """The flag builder of every command: `HfArgumentParser` with one-spelling help and a few more field types.

    Args:
        dataclass_types: The dataclass (or dataclasses) whose fields are flags, in the order
            `parse_args_into_dataclasses` returns them.
        required: Fields a command insists on although their dataclass has a default (`rewardflow up`
            needs `--home`, where `ServerConfig` alone falls back to the service home).
        **kwargs: `argparse.ArgumentParser` settings (`prog`, `description`, `conflict_handler`).
    """

    def __init__(
        self, dataclass_types: type | Iterable[type] = (), *, required: Iterable[str] = (), **kwargs: Any
    ) -> None:
        kwargs.setdefault("formatter_class", OneSpellingFormatter)
        super().__init__(dataclass_types, **kwargs)
        needed = set(required)
        for action in self._actions:
            if action.dest in needed and action.option_strings:
                action.required, action.default = True, argparse.SUPPRESS

    @staticmethod
    def _parse_dataclass_field(parser: argparse.ArgumentParser, field: dataclasses.Field) -> None:
        """HfArgumentParser's flag for `field`, or ours for the types it cannot read (dict, tuple, `none`)."""
        kind = field.type
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default  # type: ignore[misc]
        help_text = _format_safe(field.metadata.get("help") or "")
        if kind is dict or get_origin(kind) is dict:
            add_flag(parser, field.name, type=json.loads, metavar="JSON", default=default, help=help_text)
            return
        if get_origin(kind) is tuple:
            add_flag(
                parser,
                field.name,
                type=get_args(kind)[0],
                nargs="+",
                action=_StoreTuple,
                default=default,
                help=help_text,
            )
            return
        before = set(map(id, parser._actions))
        HfArgumentParser._parse_dataclass_field(parser, field)
        flag, *complement = [action for action in parser._actions if id(action) not in before]
        if isinstance(flag.help, str):
            flag.help = _format_safe(flag.help)
        for action in complement:  # `--no_flag`: accepted, not listed (`--flag false` is the listed spelling)
            action.help = argparse.SUPPRESS
        members = get_args(kind)
        if bool in (kind, *members):
            flag.metavar = "BOOL"
        elif type(None) in members and flag.type in (int, float):
            flag.type = _none_or(flag.type)


def _format_safe(text: str) -> str:
    """A help text as argparse formats it: a bare `%` ("the 95% interval") doubled, while TrainingArguments'
    own `%%` and `%(default)s` stay as written."""
    return re.sub(r"(?<!%)%(?![%(])", "%%", text)


class _StoreTuple(argparse.Action):
    """Stores a `nargs="+"` flag's values as the tuple its field is declared as (argparse gives a list)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, tuple(values))


def _none_or(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse`, with `none` (any case) meaning None: `--max_train_pairs none` undoes a base value."""

    def parse_or_none(text: str) -> Any:
        return None if text.lower() == "none" else parse(text)

    parse_or_none.__name__ = getattr(parse, "__name__", "value")  # argparse names it in "invalid int value"
    return parse_or_none


def from_arguments(cls: type, namespace: argparse.Namespace) -> Any:
    """`cls` built from the parsed flags of its fields (fields without a flag keep their defaults)."""
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls) if hasattr(namespace, f.name)}
    return cls(**values)
