"""The flow's parameters: one definition, and unknown fields refused by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flows.params import RewardFlowParams


def test_an_unknown_field_is_refused_by_name():
    with pytest.raises(ValidationError, match="trust_remote_code"):
        RewardFlowParams(trust_remote_code=True)


def test_trust_remote_code_goes_under_training():
    assert RewardFlowParams(training={"trust_remote_code": True}).training == {"trust_remote_code": True}
