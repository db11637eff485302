"""Replays a recorded fixture through ``httpx.MockTransport``.

A fixture is a folder ``tests/carriers/fixtures/<carrier>/<case>/`` holding
``case.json`` and the response bodies as raw bytes in their original encoding::

    {
      "description": "docomo answers △ (pending)",
      "provenance": "reconstructed from carrier-sites.md §1.4, 2026-11-26; not a live capture",
      "steps": [
        {"method": "POST", "path": "/search.php",
         "expect_form": {"productno": "{imei}"}, "form_encoding": "cp932",
         "status": 200,
         "headers": {"content-type": "text/html; charset=Shift_JIS"},
         "body": "01-search.html"}
      ]
    }

A step may instead say ``"raise": "timeout"`` or ``"raise": "connect"`` to make the
transport fail. Requests must come in the recorded order with the recorded method
and path; ``expect_form`` fields (``{imei}`` is replaced) must be in the form body.

A **run** (``tests/carriers/runs/<carrier>/<name>.json``) replays several checks
through one adapter instance, to test what an adapter keeps between checks (its
check form). It lists the ``checks`` in order: the IMEI, ``after_s`` (seconds the
adapter's clock moves before the check), the status or error expected, and the
``methods`` of the requests that check makes. Its ``steps`` are case steps that
may name ``"imei"`` (what ``{imei}`` stands for in that step) and ``"case"``: the
body is then that recorded case's file, so runs reuse recorded pages instead of
copying them. A body without ``case`` lives beside the run file.

A **flow** (``tests/carriers/flows/<carrier>/<name>/case.json``) is a case for a page
flow other than ``check``, such as answering a captcha: steps as in a case, where a
step may name a recorded ``case`` whose body it reuses, as in a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from akarom.carriers import Page

FIXTURES = Path(__file__).parent / "fixtures"
RUNS = Path(__file__).parent / "runs"
FLOWS = Path(__file__).parent / "flows"


@dataclass
class Replay:
    folder: Path
    imei: str
    steps: list[dict[str, Any]]
    served: int = 0
    failures: list[str] = field(default_factory=list)
    carrier: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, carrier: str, case: str, imei: str) -> Replay:
        folder = FIXTURES / carrier / case
        spec = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        return cls(folder=folder, imei=imei, steps=spec["steps"], carrier=carrier)

    @classmethod
    def flow(cls, carrier: str, name: str, imei: str) -> Replay:
        """A flow other than ``check`` (see the module docstring)."""
        folder = FLOWS / carrier / name
        spec = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        return cls(folder=folder, imei=imei, steps=spec["steps"], carrier=carrier)

    @classmethod
    def run(cls, carrier: str, name: str) -> Replay:
        """A run of several checks (see the module docstring)."""
        folder = RUNS / carrier
        spec = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        return cls(
            folder=folder, imei="", steps=spec["steps"], carrier=carrier, checks=spec["checks"]
        )

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def body(self, step: dict[str, Any]) -> bytes:
        name = step.get("body")
        if not name:
            return b""
        folder = FIXTURES / self.carrier / step["case"] if "case" in step else self.folder
        return (folder / name).read_bytes()

    def result_page(self) -> Page:
        """The last recorded response, as the adapter would see it."""
        step = next(s for s in reversed(self.steps) if "raise" not in s)
        return Page(
            method=step["method"],
            url="https://carrier.test" + step["path"],
            status_code=step["status"],
            headers={k.lower(): v for k, v in step.get("headers", {}).items()},
            content=self.body(step),
        )

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if self.served >= len(self.steps):
            raise AssertionError(f"unexpected extra request {request.method} {request.url}")
        step = self.steps[self.served]
        self.served += 1
        assert request.method == step["method"], (request.method, step)
        assert request.url.path == step["path"], (request.url.path, step)
        imei = step.get("imei", self.imei)
        expected_form = {
            key: value.replace("{imei}", imei) for key, value in step.get("expect_form", {}).items()
        }
        if expected_form:
            sent = dict(
                parse_qsl(
                    request.content.decode("ascii"),
                    keep_blank_values=True,
                    encoding=step.get("form_encoding", "utf-8"),
                )
            )
            for key, value in expected_form.items():
                assert sent.get(key) == value, f"form field {key}: sent {sent.get(key)!r}"
        if step.get("raise") == "timeout":
            raise httpx.ReadTimeout("recorded time-out", request=request)
        if step.get("raise") == "connect":
            raise httpx.ConnectError("recorded connection failure", request=request)
        return httpx.Response(
            step["status"], headers=step.get("headers", {}), content=self.body(step)
        )

    def assert_all_used(self) -> None:
        assert self.served == len(self.steps), (
            f"{self.folder.name}: {len(self.steps) - self.served} recorded step(s) never requested"
        )
