"""Fake function for asynchronous triggers (IoT rules, schedules): records and succeeds,
or fails when the event asks it to."""

from __future__ import annotations

from typing import Any

from tests.support.fake_handlers import calls


def lambda_handler(event: Any, context: Any) -> dict[str, str]:
    calls.record(context.function_name, event)
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"status": "ok"}
