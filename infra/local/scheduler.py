"""The schedule ticker: EventBridge scheduled rules, run against the local functions.

``rate(N minute|minutes|hour|hours|day|days)`` fires every N units, the first time one
period after the start (as a new EventBridge rule does). ``cron(min hour dom month dow
year)`` follows EventBridge's fields, in UTC: numbers, ``*``, ``?``, ranges ``a-b``,
lists ``a,b``, steps ``a/n`` and ``*/n``, month names ``JAN``..``DEC``, weekday names
``SUN``..``SAT`` (1 = Sunday), ``L`` (last day of the month) in day-of-month. Other
tokens (``W``, ``#``, ``L`` in day-of-week) are refused at start.

Each firing is an asynchronous invocation with the rule's constant input when it has
one, else EventBridge's ``Scheduled Event`` payload.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from infra.local.deployment import Schedule
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.settings import ACCOUNT_ID, REGION

log = logging.getLogger("local.schedule")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name.upper(): n for n, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class ScheduleExpressionError(ValueError):
    """An expression the ticker does not understand."""


def _values(field: str, low: int, high: int, names: dict[str, int]) -> frozenset[int] | None:
    """The allowed values of one cron field; None means "any" (``*`` or ``?``)."""
    if field in ("*", "?"):
        return None
    allowed: set[int] = set()
    for item in field.split(","):
        step = 1
        part = item
        if "/" in item:
            part, step_text = item.split("/", 1)
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleExpressionError(f"bad step in {field!r}")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _number(first, names), _number(last, names)
        else:
            start = _number(part, names)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleExpressionError(f"{field!r} is outside {low}-{high}")
        allowed.update(range(start, end + 1, step))
    return frozenset(allowed)


def _number(text: str, names: dict[str, int]) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleExpressionError(f"unsupported cron value {text!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class CronExpression:
    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    days: frozenset[int] | None
    is_last_day: bool
    months: frozenset[int] | None
    weekdays: frozenset[int] | None  # 1 = Sunday, as EventBridge counts
    years: frozenset[int] | None

    @classmethod
    def parse(cls, body: str) -> CronExpression:
        """Parse the six fields inside ``cron(...)``.

        Raises:
            ScheduleExpressionError: wrong field count or an unsupported token.
        """
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleExpressionError("cron() takes six fields")
        minute, hour, day, month, weekday, year = fields
        if day != "?" and weekday != "?":
            raise ScheduleExpressionError("day-of-month or day-of-week must be '?'")
        is_last_day = day == "L"
        return cls(
            minutes=_values(minute, 0, 59, {}),
            hours=_values(hour, 0, 23, {}),
            days=None if is_last_day else _values(day, 1, 31, {}),
            is_last_day=is_last_day,
            months=_values(month, 1, 12, _MONTHS),
            weekdays=_values(weekday, 1, 7, _WEEKDAYS),
            years=_values(year, 1970, 2199, {}),
        )

    def _day_matches(self, day: date) -> bool:
        if self.years is not None and day.year not in self.years:
            return False
        if self.months is not None and day.month not in self.months:
            return False
        if self.is_last_day:
            return day.day == calendar.monthrange(day.year, day.month)[1]
        if self.days is not None and day.day not in self.days:
            return False
        eventbridge_weekday = day.isoweekday() % 7 + 1  # Monday=1 ISO -> Sunday=1
        return self.weekdays is None or eventbridge_weekday in self.weekdays

    def next_after(self, after: datetime) -> datetime | None:
        """The first firing strictly after ``after`` (aware UTC), or None within 5 years."""
        start = (after.astimezone(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)
        hours = sorted(self.hours) if self.hours is not None else list(range(24))
        minutes = sorted(self.minutes) if self.minutes is not None else list(range(60))
        day = start.date()
        for _ in range(5 * 366):
            if self._day_matches(day):
                for hour in hours:
                    for minute in minutes:
                        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                        if at >= start:
                            return at
            day += timedelta(days=1)
        return None


def next_firing(expression: str, after: datetime) -> datetime | None:
    """When a schedule expression next fires after ``after`` (aware UTC).

    Raises:
        ScheduleExpressionError: not a rate() or cron() the ticker understands.
    """
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count < 1:
            raise ScheduleExpressionError("rate() needs a positive value")
        return after + timedelta(seconds=count * _UNIT_S[unit])
    cron = _CRON.match(text)
    if cron:
        return CronExpression.parse(cron.group(1)).next_after(after)
    raise ScheduleExpressionError(f"unsupported schedule expression {expression!r}")


def scheduled_event(schedule: Schedule, at: datetime, region: str = REGION) -> dict[str, Any]:
    """The event a schedule delivers: its constant input, else EventBridge's own."""
    if schedule.payload:
        return dict(schedule.payload)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{schedule.name}"],
        "detail": {},
    }


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ScheduleTicker:
    """Fires every schedule of the deployment until stopped."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        schedules: list[Schedule],
        region: str = REGION,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._runtime = runtime
        self._schedules = list(schedules)
        self._region = region
        self._clock = clock
        self._sleep = sleep
        now = clock()
        for schedule in self._schedules:
            next_firing(schedule.expression, now)  # refuse what cannot run, at start
            runtime.function(schedule.function)
        self._task: asyncio.Task[None] | None = None
        self.fired: dict[str, int] = {schedule.name: 0 for schedule in self._schedules}

    def start(self) -> None:
        """Start ticking on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        now = self._clock()
        due: dict[str, datetime | None] = {
            schedule.name: next_firing(schedule.expression, now) for schedule in self._schedules
        }
        while True:
            pending = [at for at in due.values() if at is not None]
            if not pending:
                return
            wait_s = (min(pending) - self._clock()).total_seconds()
            if wait_s > 0:
                await self._sleep(min(wait_s, 60.0))
                continue
            now = self._clock()
            for schedule in self._schedules:
                at = due[schedule.name]
                if at is not None and at <= now:
                    self._fire(schedule, at)
                    due[schedule.name] = next_firing(schedule.expression, at)

    def _fire(self, schedule: Schedule, at: datetime) -> None:
        self.fired[schedule.name] += 1
        log.info("schedule %s fired for %s", schedule.name, schedule.function)
        self._runtime.invoke_event(schedule.function, scheduled_event(schedule, at, self._region))
