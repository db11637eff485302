"""akarom's benchmarks: the figures of docs/benchmarks.md, measured against a real sandbox.

Run them all with ``.venv/bin/python -m bench`` (``--quick`` for a smoke run,
``--only NAME`` for one; ``--help`` lists them). They are not tests: nothing here
asserts a time. Each benchmark serves the carrier sandbox with uvicorn on a
loopback port in a subprocess (so every request really crosses a socket and the
sandbox does not share akarom's interpreter), gives akarom a temporary data folder
and SQLite database, points it at the sandbox with ``AKAROM_CARRIERS_URL``, prints
its figures and returns them as Markdown for ``docs/benchmarks.md``.

What a user meets is measured from outside: ``akarom`` as its own process, timed
from start to exit, read through what it prints and writes (the report) and the
sandbox's counters. Only the CPU figures, and the diagnostics that split a cost
into its parts, call akarom in this process (``Checker``, ``run_bulk``, and for the
parts a few internals, reported as not measured when those change shape).

Modules: ``_sandbox`` (serving the sandbox), ``_process`` (running akarom as a user
does), ``_fleet`` (generated devices, dealer sheets, reading reports), ``_machine``
(what the figures were measured on), ``_report`` (the doc's generated sections),
and one module per benchmark: ``bulk``, ``startup``, ``economy``, ``cpu``,
``memory``.
"""
