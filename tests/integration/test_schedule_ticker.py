"""The schedule ticker fires EventBridge-style schedules at the right instants."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from infra.local.deployment import FunctionConfig, Schedule
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.scheduler import (
    ScheduleExpressionError,
    ScheduleTicker,
    next_firing,
    scheduled_event,
)
from tests.support.fake_handlers import calls

TARGET = FunctionConfig(
    logical_id="HousekeepingFunction",
    function_name="local-HousekeepingFunction",
    handler="tests.support.fake_handlers.recorder.lambda_handler",
    environment={},
    memory_mb=256,
    timeout_s=10,
)
START = datetime(2026, 11, 21, 10, 7, 30, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(1 minute)", START, START + timedelta(minutes=1)),
        ("rate(5 minutes)", START, START + timedelta(minutes=5)),
        ("rate(2 hours)", START, START + timedelta(hours=2)),
        ("rate(1 day)", START, START + timedelta(days=1)),
        ("cron(0/15 * * * ? *)", START, datetime(2026, 11, 21, 10, 15, tzinfo=UTC)),
        ("cron(5 10 * * ? *)", START, datetime(2026, 11, 22, 10, 5, tzinfo=UTC)),
        ("cron(0 8 ? * MON-FRI *)", START, datetime(2026, 11, 23, 8, 0, tzinfo=UTC)),
        ("cron(0 8 ? * 1 *)", START, datetime(2026, 11, 22, 8, 0, tzinfo=UTC)),
        ("cron(30 16 L * ? *)", START, datetime(2026, 11, 30, 16, 30, tzinfo=UTC)),
        ("cron(0 0 1 JAN,JUL ? *)", START, datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("cron(0 0 1 1 ? 2020)", START, None),
    ],
)
def test_next_firing_follows_eventbridge_when_the_expression_is_supported(
    expression: str, after: datetime, expected: datetime | None
) -> None:
    assert next_firing(expression, after) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "rate(0 minutes)",
        "rate(1 week)",
        "cron(0 8 * * MON *)",
        "cron(0 8 ? * 2#1 *)",
        "cron(0 8 15W * ? *)",
        "cron(61 * * * ? *)",
        "cron(* * * *)",
        "at(2026-01-01T00:00:00)",
    ],
)
def test_expression_refused_when_the_ticker_cannot_honour_it(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        next_firing(expression, START)


def test_scheduled_event_has_eventbridge_shape_when_the_schedule_has_no_input() -> None:
    event = scheduled_event(Schedule("Sweep", "rate(1 minute)", "HousekeepingFunction"), START)

    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["time"] == "2026-11-21T10:07:30Z"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/Sweep"]
    assert event["detail"] == {}


def test_constant_input_delivered_when_the_schedule_has_one() -> None:
    schedule = Schedule("Sweep", "rate(1 minute)", "HousekeepingFunction", {"job": "sweep"})

    assert scheduled_event(schedule, START) == {"job": "sweep"}


class FakeTime:
    """A clock that jumps forward whenever the ticker sleeps."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


def test_ticker_invokes_each_schedule_when_it_falls_due() -> None:
    calls.clear()
    fake = FakeTime()
    runtime = LambdaRuntime({TARGET.logical_id: TARGET}, max_workers=1)
    schedules = [
        Schedule("EveryMinute", "rate(1 minute)", "HousekeepingFunction"),
        Schedule("Quarterly", "cron(0/15 * * * ? *)", "HousekeepingFunction", {"job": "q"}),
    ]
    ticker = ScheduleTicker(runtime, schedules, clock=fake, sleep=fake.sleep)

    async def run_for_half_an_hour() -> None:
        ticker.start()
        while ticker.fired["EveryMinute"] < 30:
            await asyncio.sleep(0)
        await ticker.stop()

    asyncio.run(run_for_half_an_hour())
    runtime.shutdown()

    events = calls.events(TARGET.function_name)
    assert ticker.fired == {"EveryMinute": 30, "Quarterly": 2}
    assert len(events) == 32
    assert events.count({"job": "q"}) == 2
    minute_times = [event["time"] for event in events if "time" in event]
    assert minute_times[:2] == ["2026-11-21T10:08:30Z", "2026-11-21T10:09:30Z"]
    assert minute_times[-1] == "2026-11-21T10:37:30Z"
