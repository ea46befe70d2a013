"""The flow's parameters: one definition, and unknown fields refused by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flows.params import RewardFlowParams
from tasks.data.config import DataConfig


def test_an_unknown_field_is_refused_by_name():
    with pytest.raises(ValidationError, match="trust_remote_code"):
        RewardFlowParams(trust_remote_code=True)


def test_trust_remote_code_goes_under_training():
    assert RewardFlowParams(training={"trust_remote_code": True}).training == {"trust_remote_code": True}


def test_the_data_settings_are_data_config_nested_not_copied():
    params = RewardFlowParams.model_validate({"data": {"min_good_fraction": 0.9}})
    assert params.data == DataConfig(min_good_fraction=0.9)
    with pytest.raises(ValidationError, match="min_good_fraction must be between 0 and 1"):
        RewardFlowParams.model_validate({"data": {"min_good_fraction": 1.5}})
    with pytest.raises(ValidationError, match="min_good_fraction"):
        RewardFlowParams.model_validate({"min_good_fraction": 0.9})  # no second, top-level copy
