"""The sandbox server: one Starlette app that serves all four carriers at their real paths.

Every request to a carrier's paths goes through the same steps, in this order:

1. It is counted in that carrier's ``requests``.
2. **Rate limit**, before anything else, so a refused request answers at once (as an
   edge limiter or WAF would): if accepting it would put more than
   ``rate_limit_per_s`` accepted requests in the trailing window, the answer is
   HTTP 429 with ``Retry-After`` (1 second for limits of one or more per second), it
   is counted in ``rejected_rate_limit``, and it does not enter the window. A limit
   ``r`` of one or more allows ``floor(r)`` requests per ``floor(r) / r`` seconds (1 s
   for whole numbers); a limit below one allows one request per ``1 / r`` seconds.
   Every window is shortened by ``GRACE_S`` (10 ms): a client that paces itself to
   exactly the limit still sees its requests arrive a little early or late on
   loopback, through event-loop scheduling, and should not be refused for that. 10 ms
   is far above loopback jitter and far below any limit worth testing (100 per second
   is 10 ms apart).
3. Three draws from the carrier's own ``random.Random`` (seeded with
   ``"<seed>:<carrier id>"``): jitter, whether to fail, and which 5xx. They are drawn
   for every accepted request whatever the settings, so the same seed gives the same
   sequence of errors however latency is set.
4. **Latency**: sleep ``latency_ms ± jitter_ms`` (never below 0).
5. **Error rate**: that share of requests gets a bare HTTP 500, 502 or 503 page (it never
   says メンテナンス; a maintenance page is a mode, not an error).
6. **Mode**: ``blocked`` → HTTP 403 Forbidden; ``maintenance`` → HTTP 503 メンテナンス
   page with ``Retry-After``; ``captcha`` → docomo runs its legacy captcha flow, the
   other carriers answer an HTTP 200 画像認証 page on every path.
7. The carrier's page.

``max_rate_per_s`` is the largest number of accepted requests seen in any trailing
1-second window (less the same ``GRACE_S``, so that it agrees with the limiter).
``max_in_flight`` is the largest number of accepted requests being served at the same
moment: a request counts from its acceptance (step 2) until its response is produced,
latency sleep included; a request refused by the rate limit is never counted.

Admin endpoints (sandbox-only; no real site has them), all JSON:

``GET  /_sandbox/``                 entry paths and current settings of every carrier
``GET  /_sandbox/stats``            ``{"carriers": {"<id>": {"requests": N,
                                    "rejected_rate_limit": N, "max_rate_per_s": N,
                                    "max_in_flight": N}, …}, "uptime_s": S}``
``POST /_sandbox/reset``            back to the scenario: settings, devices, random
                                    generators, stats, tokens, uptime 0
``GET  /_sandbox/devices/{imei}``   what each carrier answers for it now
``PUT  /_sandbox/devices/{imei}``   ``{"docomo": "restricted"}``: set statuses from now on
                                    (later timed changes of the scenario still apply)
``PUT  /_sandbox/carriers/{id}``    ``{"mode": "blocked", "latency_ms": 0}``: change
                                    settings at runtime (the keys of the scenario file)
``GET  /_sandbox/captcha.gif``      the image of the non-docomo captcha pages

Bad admin input gets HTTP 400 with ``{"error": "<message>"}``.

Every request is logged at INFO on the ``akarom.sandbox`` logger: carrier, method,
path, HTTP status and outcome.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from akarom.domain import JST, Carrier, Status
from akarom.sandbox._site import CAPTCHA_GIF, Context, Handler, Page, Site
from akarom.sandbox.scenario import (
    CarrierSettings,
    Mode,
    Scenario,
    device_key,
    load_scenario,
    parse_carrier_settings,
    parse_statuses,
)
from akarom.sandbox.sites import site_class

__all__ = ["GRACE_S", "create_app", "run_sandbox"]

logger = logging.getLogger("akarom.sandbox")

GRACE_S = 0.010
_SERVER_ERRORS = (500, 502, 503)


@dataclass(slots=True)
class _CarrierStats:
    requests: int = 0
    rejected_rate_limit: int = 0
    max_rate_per_s: int = 0
    max_in_flight: int = 0
    # Accepted requests being served now. Each request updates the stats object it
    # started with, so one still in flight across a reset leaves the new one alone.
    in_flight: int = 0


class _RateWindow:
    """Times of one carrier's accepted requests: enforces the limit, measures the peak."""

    def __init__(self) -> None:
        self._times: list[float] = []  # ascending: the clock is monotonic

    def try_accept(self, now: float, limit_per_s: float, stats: _CarrierStats) -> float | None:
        """Record the request and return ``None``, or return seconds until one would fit."""
        if limit_per_s > 0:
            capacity = max(1, math.floor(limit_per_s))
            window = capacity / limit_per_s - GRACE_S
            start = bisect.bisect_right(self._times, now - window)
            if len(self._times) - start >= capacity:
                oldest_needed = self._times[len(self._times) - capacity]
                return oldest_needed + window - now
            keep = max(window, 1.0)
        else:
            keep = 1.0
        del self._times[: bisect.bisect_right(self._times, now - keep)]
        self._times.append(now)
        in_last_second = len(self._times) - bisect.bisect_right(self._times, now - (1 - GRACE_S))
        stats.max_rate_per_s = max(stats.max_rate_per_s, in_last_second)
        return None


class _Sandbox:
    """The mutable state behind the app; ``reset`` rebuilds it from the scenario."""

    def __init__(
        self,
        scenario: Scenario,
        sites: Mapping[Carrier, Site],
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.scenario = scenario
        self.sites = sites
        self.clock = clock
        self.sleep = sleep
        self.reset()

    def reset(self) -> None:
        self.settings: dict[Carrier, CarrierSettings] = dict(self.scenario.carriers)
        self.rngs = {c: random.Random(f"{self.scenario.seed}:{c.value}") for c in Carrier}
        self.stats = {c: _CarrierStats() for c in Carrier}
        self.windows = {c: _RateWindow() for c in Carrier}
        self.overrides: dict[str, list[tuple[float, dict[Carrier, Status]]]] = {}
        self.started = self.clock()
        for site in self.sites.values():
            site.reset()

    def uptime(self) -> float:
        return self.clock() - self.started

    def status_of(self, carrier: Carrier, imei: str) -> Status:
        """What ``carrier`` answers for ``imei`` now: scenario, timed changes, admin PUTs."""
        uptime = self.uptime()
        key = device_key(imei)
        events: list[tuple[float, int, Mapping[Carrier, Status]]] = []
        device = self.scenario.devices.get(key)
        if device is not None:
            events.append((0.0, 0, device.statuses))
            events.extend((change.after_s, 1, change.statuses) for change in device.changes)
        events.extend((after_s, 2, statuses) for after_s, statuses in self.overrides.get(key, []))
        events.sort(key=lambda event: (event[0], event[1]))  # stable: file and PUT order
        status = self.scenario.default
        for after_s, _, statuses in events:
            if after_s <= uptime and carrier in statuses:
                status = statuses[carrier]
        return status

    def set_statuses(self, imei: str, statuses: dict[Carrier, Status]) -> None:
        self.overrides.setdefault(device_key(imei), []).append((self.uptime(), statuses))

    async def serve(self, site: Site, handler: Handler, request: Request) -> Response:
        carrier = site.carrier
        stats = self.stats[carrier]
        stats.requests += 1
        settings = self.settings[carrier]
        wait = self.windows[carrier].try_accept(self.clock(), settings.rate_limit_per_s, stats)
        if wait is not None:
            stats.rejected_rate_limit += 1
            return _respond(carrier, request, site.rate_limited_page(max(1, math.ceil(wait))))

        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            page = await self._accepted_page(site, handler, request, settings)
        finally:
            stats.in_flight -= 1
        return _respond(carrier, request, page)

    async def _accepted_page(
        self, site: Site, handler: Handler, request: Request, settings: CarrierSettings
    ) -> Page:
        """Steps 3 to 7 for a request the rate limit let through."""
        carrier = site.carrier
        rng = self.rngs[carrier]
        jitter = rng.uniform(-1.0, 1.0)
        fail = rng.random() < settings.error_rate
        error_code = _SERVER_ERRORS[rng.randrange(len(_SERVER_ERRORS))]
        delay_ms = max(0.0, settings.latency_ms + settings.jitter_ms * jitter)
        if delay_ms > 0:
            await self.sleep(delay_ms / 1000)

        if fail:
            page = site.server_error_page(error_code)
        elif settings.mode is Mode.BLOCKED:
            page = site.forbidden_page()
        elif settings.mode is Mode.MAINTENANCE:
            page = site.maintenance_page()
        elif settings.mode is Mode.CAPTCHA and not site.handles_captcha:
            page = site.captcha_page(request)
        else:
            context = Context(
                mode=settings.mode,
                symbols=settings.symbols,
                status_of=partial(self.status_of, carrier),
                today=datetime.now(JST).date(),
            )
            page = await handler(request, context)
        return page

    def stats_json(self) -> dict[str, Any]:
        return {
            "carriers": {
                carrier.value: {
                    "requests": stats.requests,
                    "rejected_rate_limit": stats.rejected_rate_limit,
                    "max_rate_per_s": stats.max_rate_per_s,
                    "max_in_flight": stats.max_in_flight,
                }
                for carrier, stats in self.stats.items()
            },
            "uptime_s": round(self.uptime(), 3),
        }


def _respond(carrier: Carrier | None, request: Request, page: Page) -> Response:
    logger.info(
        "%s %s %s -> %d %s",
        carrier.value if carrier else "sandbox",
        request.method,
        request.url.path,
        page.status_code,
        page.outcome,
    )
    return Response(
        content=page.body,
        status_code=page.status_code,
        headers=dict(page.headers),
        media_type=page.content_type,
    )


def _error(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _json_object(request: Request) -> Mapping[str, Any]:
    try:
        data = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"the body is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"the body must be a JSON object, got {type(data).__name__}")
    return data


def _admin_routes(sandbox: _Sandbox) -> list[Route]:
    def device_json(imei: str) -> dict[str, Any]:
        statuses = {c.value: sandbox.status_of(c, imei).value for c in Carrier}
        return {"imei": device_key(imei), "statuses": statuses}

    def checked_imei(request: Request) -> str:
        imei = str(request.path_params["imei"])
        if len(imei) == 15 and imei.isdigit():
            return imei
        if len(imei) == 14 and all(ch in "0123456789abcdefABCDEF" for ch in imei):
            return device_key(imei)
        raise ValueError(f"{imei!r} is not a 15-digit IMEI or a 14-hex-digit MEID")

    async def index(request: Request) -> Response:
        carriers = {
            carrier.value: {
                "entry": sandbox.sites[carrier].entry_path,
                **sandbox.settings[carrier].as_dict(),
            }
            for carrier in Carrier
        }
        return JSONResponse({"carriers": carriers, "seed": sandbox.scenario.seed})

    async def stats(request: Request) -> Response:
        return JSONResponse(sandbox.stats_json())

    async def reset(request: Request) -> Response:
        sandbox.reset()
        logger.info("sandbox reset to the scenario")
        return JSONResponse({"reset": True})

    async def get_device(request: Request) -> Response:
        try:
            imei = checked_imei(request)
        except ValueError as err:
            return _error(str(err))
        return JSONResponse(device_json(imei))

    async def put_device(request: Request) -> Response:
        try:
            imei = checked_imei(request)
            statuses = parse_statuses(await _json_object(request), "body")
        except ValueError as err:
            return _error(str(err))
        sandbox.set_statuses(imei, statuses)
        logger.info("device %s set: %s", imei, {c.value: s.value for c, s in statuses.items()})
        return JSONResponse(device_json(imei))

    async def put_carrier(request: Request) -> Response:
        name = request.path_params["carrier"]
        try:
            carrier = Carrier(name)
        except ValueError:
            choices = ", ".join(c.value for c in Carrier)
            return _error(f"unknown carrier {name!r} (expected one of {choices})")
        try:
            data = await _json_object(request)
            settings = parse_carrier_settings(
                carrier, data, sandbox.settings[carrier], where=f"carriers.{carrier.value}"
            )
        except ValueError as err:
            return _error(str(err))
        sandbox.settings[carrier] = settings
        logger.info("carrier %s set: %s", carrier.value, settings.as_dict())
        return JSONResponse({"carrier": carrier.value, **settings.as_dict()})

    async def captcha_gif(request: Request) -> Response:
        return Response(CAPTCHA_GIF, media_type="image/gif", headers={"Cache-Control": "no-store"})

    return [
        Route("/_sandbox/", index, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/devices/{imei}", get_device, methods=["GET"]),
        Route("/_sandbox/devices/{imei}", put_device, methods=["PUT"]),
        Route("/_sandbox/carriers/{carrier}", put_carrier, methods=["PUT"]),
        Route("/_sandbox/captcha.gif", captcha_gif, methods=["GET"]),
    ]


def create_app(
    scenario: Scenario,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Starlette:
    """The sandbox as an ASGI app; ``clock`` and ``sleep`` are injectable for tests.

    Uptime (for timed changes) counts from this call and restarts on
    ``POST /_sandbox/reset``.
    """
    # A site for every carrier of the one list (site_class raises for one without).
    sites: dict[Carrier, Site] = {carrier: site_class(carrier)() for carrier in Carrier}
    sandbox = _Sandbox(scenario, sites, clock, sleep)
    routes: list[Route] = []
    for site in sites.values():
        for path, methods, handler in site.routes():

            async def endpoint(
                request: Request, site: Site = site, handler: Handler = handler
            ) -> Response:
                return await sandbox.serve(site, handler, request)

            routes.append(Route(path, endpoint, methods=list(methods)))
    routes.extend(_admin_routes(sandbox))
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    return app


def freeze_for_serving() -> None:
    """Keep the scenario and the imports out of the garbage collector's full passes.

    With tens of thousands of devices in a scenario, a full collection paused the
    server for tens of milliseconds now and then; requests that arrived meanwhile were
    stamped late and together, and the rate window refused a client that was pacing
    itself correctly. Objects alive at this point live as long as the server anyway.
    """
    gc.collect()
    gc.freeze()


def run_sandbox(scenario_path: Path | None, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the sandbox until interrupted (blocking).

    Raises ``ValueError`` for an invalid scenario file, before anything is served.
    """
    import uvicorn  # only the server needs it; the app and its tests do not

    scenario = load_scenario(scenario_path)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logger.setLevel(logging.INFO)
    app = create_app(scenario)
    freeze_for_serving()
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}"
    logger.info(
        "carrier sandbox (scenario: %s) at %s; point the adapters at it with "
        "AKAROM_CARRIERS_URL=%s; admin: %s/_sandbox/",
        scenario_path or "defaults",
        url,
        url,
        url,
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
