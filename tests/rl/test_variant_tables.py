"""Each table of variants (name -> function) names exactly the choices its config field allows: a
new variant added to one but not the other is caught here, not at run time."""

from typing import get_args

from cocoedit.rl.advantages import CREDIT_ASSIGNMENTS
from cocoedit.rl.config import CreditConfig, RegularizerConfig, RolloutConfig
from cocoedit.rl.exploration import INITIAL_NOISE
from cocoedit.rl.regularizers import EDIT_DISTANCES, EDIT_TERMS


def _choices(model, field: str) -> set[str]:
    return set(get_args(model.model_fields[field].annotation))


def test_credit_assignments_match_the_config_literal():
    assert set(CREDIT_ASSIGNMENTS) == _choices(CreditConfig, "assignment") == {"single", "region"}


def test_initial_noise_functions_match_the_config_literal():
    assert set(INITIAL_NOISE) == _choices(RolloutConfig, "initial_noise") == {"independent", "localized"}


def test_edit_terms_and_distances_match_the_config_literals():
    assert set(EDIT_TERMS) == _choices(RegularizerConfig, "edit_term")
    assert set(EDIT_DISTANCES) == _choices(RegularizerConfig, "edit_distance")
