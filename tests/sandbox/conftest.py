"""Fixtures for the sandbox tests: a fake clock whose sleep advances it, and clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette

from akarom.sandbox import create_app, parse_scenario


class FakeClock:
    """Monotonic time that only moves when told to, or when the app sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_app(clock: FakeClock) -> Callable[..., Starlette]:
    """``make_app({...scenario...})``: an app on the fake clock."""

    def make(data: dict[str, Any] | None = None) -> Starlette:
        return create_app(parse_scenario(data or {}), clock=clock, sleep=clock.sleep)

    return make
