"""`DataConfig`: the settings of the data-in steps (load, validate, quarantine, store).

The train/eval split has its own setting, `eval_fraction` (`rmcore.training.script_args.ScriptArguments`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DataConfig:
    """Settings for reading, validating and storing preference pairs. Every field has help text."""

    # Parameters that control validation
    max_row_bytes: int = field(
        default=1_000_000,
        metadata={
            "help": "Largest accepted row, in bytes of its source line (or of its JSON form for Parquet/CSV). "
            "Bigger rows are quarantined under rule `row_size`; raise it for long multi-turn dialogues."
        },
    )
    min_good_fraction: float = field(
        default=0.5,
        metadata={
            "help": "Fail the run when fewer than this fraction of the rows read are good (0-1). A run with "
            "no good row always fails. 0 = accept any batch that has at least one good row."
        },
    )

    # Parameters that control reading
    chunk_rows: int = field(
        default=10_000,
        metadata={
            "help": "Rows read, validated, quarantined and staged at a time, so a file of any size is ingested "
            "in bounded memory: ~15 KB a row of a chunk while it is validated (hh-rlhf), plus ~80 bytes a "
            "pair for the ids. Lower it on small machines; higher is a little faster."
        },
    )
    hub_split: str = field(
        default="train",
        metadata={"help": "Split to read when a source is a hub dataset id (e.g. Anthropic/hh-rlhf); online only."},
    )

    def __post_init__(self) -> None:
        if self.max_row_bytes < 1:
            raise ValueError(f"DataConfig.max_row_bytes must be >= 1, got {self.max_row_bytes}")
        if self.chunk_rows < 1:
            raise ValueError(f"DataConfig.chunk_rows must be >= 1, got {self.chunk_rows}")
        check_min_good_fraction(self.min_good_fraction)


def check_min_good_fraction(value: float) -> None:
    """`min_good_fraction`'s range, for every door that takes it (a share of rows, 0 to 1)."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"min_good_fraction must be between 0 and 1, got {value}")
