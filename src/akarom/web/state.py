"""What every route finds on the app: the process's Hub and its job runner, typed."""

from __future__ import annotations

from fastapi import Request

from akarom.services.jobs import Jobs
from akarom.services.serving import Hub

__all__ = ["hub_of", "jobs_of"]


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def jobs_of(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs
