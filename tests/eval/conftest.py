"""Fixtures of the evaluation tests: tiny random-weight perceptual models saved as a user would give them."""

import pytest

from cocoedit.testing.perceptual import save_tiny_perceptual_models


@pytest.fixture(scope="session")
def perceptual_weights(tmp_path_factory):
    return save_tiny_perceptual_models(tmp_path_factory.mktemp("perceptual"))
