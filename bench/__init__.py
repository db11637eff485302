"""akarom's benchmarks: the figures of docs/benchmarks.md, measured against a real sandbox.

Run them all with ``.venv/bin/python -m bench`` (``--quick`` for a smoke run,
``--only NAME`` for one; ``--help`` lists them). They are not tests: nothing here
asserts a time. Each benchmark serves the carrier sandbox with uvicorn on a
loopback port in a subprocess (so every request really crosses a socket and the
sandbox does not share akarom's interpreter), gives akarom a temporary data folder
and SQLite database, points it at the sandbox with ``AKAROM_CARRIERS_URL``, prints
its figures and returns them as Markdown for ``docs/benchmarks.md``.

Modules: ``_sandbox`` (serving the sandbox), ``_fleet`` (generated devices and
dealer sheets), ``_machine`` (what the figures were measured on), ``_report``
(the doc's generated section), and one module per benchmark: ``throughput``,
``economy``, ``cpu``, ``memory``.
"""
