"""Shared fixtures: fixed clock and ids, and moto with the template's tables."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings

from infra.local import moto_dynamodb, moto_stepfunctions
from tests.support.aws import aws_with_tables, fake_credentials

# `make test` is reproducible: every run draws the same Hypothesis examples, so CI never
# fails on a case a previous run did not see. `HYPOTHESIS_PROFILE=explore` draws new ones
# (run it to hunt for counterexamples; a failure found there becomes a fixed test case).
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

fake_credentials()
# moto's DynamoDB applies each request atomically and rolls a cancelled transaction back item
# by item instead of restoring whole-table copies: faithful to DynamoDB, and a transaction
# costs what it touches, not the table's size (infra/local/moto_dynamodb.py).
moto_dynamodb.install()
# moto's SendTaskFailure drops the cause; AWS keeps it (infra/local/moto_stepfunctions.py).
moto_stepfunctions.install()


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 1, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def new_id() -> Callable[[str], str]:
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}-{next(counter):020d}"


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    """moto running in-process with every table of template.yaml; env vars point at them."""
    with aws_with_tables() as names:
        yield names


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is end-to-end (it needs the local stack)."""
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
