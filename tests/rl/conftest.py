"""Fixtures for trainer tests: a small real-photo training set and tiny random backbones."""

import pytest

from cocoedit.data.manifest import read_manifest
from cocoedit.testing import trainer as trainer_helpers
from cocoedit.testing.sample_data import make_sample_manifest


@pytest.fixture(scope="session")
def train_samples(tmp_path_factory):
    return read_manifest(make_sample_manifest(tmp_path_factory.mktemp("ds"), samples=6, size=(64, 64)))


@pytest.fixture
def make_backbone():
    return trainer_helpers.tiny_backbone


@pytest.fixture
def make_config():
    return trainer_helpers.tiny_config


@pytest.fixture
def brightness_reward():
    return trainer_helpers.brightness
