"""The log file's place comes from the command's flags, in either spelling."""

from __future__ import annotations

import pytest

from rewardflow.logs import flag_value, log_path


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--output_dir", "out/a"],
        ["train", "--output-dir", "out/a"],
        ["train", "--output_dir=out/a"],
        ["train", "--output-dir=out/a"],
    ],
)
def test_a_flag_is_read_in_either_spelling_and_form(argv):
    assert flag_value(argv, "--output_dir", ".") == "out/a"


def test_an_absent_flag_gives_the_default_and_a_prefix_is_not_the_flag():
    assert flag_value(["run", "--home_x", "elsewhere"], "--home", ".home/default") == ".home/default"
    assert log_path(["run", "--home", "h"], ".home/default").as_posix() == "h/logs/rewardflow.log"
