"""The web interface: public check page, dealer workspace, REST API, operations.

A thin skin over ``akarom.services`` like the CLI: each route parses what came in,
calls a service and renders what came back (Jinja2 pages, JSON). ``create_app``
builds the ASGI app; ``akarom serve`` runs it with uvicorn.

==================  ==========================================================
``app``             the app factory, its lifespan (one ``Hub``) and middleware
``security``        headers and CSP, sessions, CSRF, per-client limits
``rendering``       templates, the language of a request, the text catalogue
``public``          ``/``: the check page anyone can use from a phone
``dealer``          ``/dealer/…``: the workspace behind a login
``api``             ``/api/v1/…``: the REST API with keys
``ops``             ``/healthz``, ``/readyz``, ``/metrics``
``demo``            ``serve --demo``: the sandbox in the same process
==================  ==========================================================
"""
