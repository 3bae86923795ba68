"""A live status page for operators: breakers, health and batch progress, as one ASGI app.

No web framework is needed: serve :func:`status_app` with any ASGI server, e.g.
``uvicorn`` (``pip install 'resilience-engine[web]'``).
"""

from __future__ import annotations

from resilience.web._app import StatusApp, status_app

__all__ = ["StatusApp", "status_app"]
