"""The HTTP API, served by the daemon in its own event loop (FastAPI on an embedded uvicorn).

- `app`: `build_app` (routes, errors, OpenAPI at /openapi.json and /docs, optional /metrics)
  and `start_api`, which the composition root calls once the engine is loaded
- `server`: uvicorn without its signal handlers; the daemon owns the signals
- `auth`: bearer tokens and roles; `deps`: the routes' shared dependencies and errors
- `campaigns`, `leads`, `agents`, `system`: the routes
- `lifecycle` and `stats` (pure), `queries` (SQL the store does not have)
"""
