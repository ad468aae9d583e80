"""The FastAPI application: routes, error mapping, OpenAPI, and the optional /metrics.

`build_app(ctx, metrics_handler=...)` is all the composition root needs; `start_api` builds the
context and the app and starts the embedded server (dialer/api/server.py).

/docs is Swagger UI served from the daemon itself (the `swagger-ui-bundle-v2` package's files
under /docs/static), so it works on a network without the internet.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from dialer import __version__
from dialer.api import agent_screen, agents, audit, campaigns, console, leads, preview, system
from dialer.api.auth import TokenTable
from dialer.api.context import ApiContext, MetricsHandler
from dialer.api.deps import ApiError, FieldError
from dialer.api.guard import RequestGuard
from dialer.api.lifecycle import IllegalCampaignAction
from dialer.api.server import HttpServer
from dialer.domain.agent import IllegalAgentTransition
from dialer.engine.engine import Engine
from dialer.settings import Settings
from dialer.store.engine import Database, sqlstate_of
from dialer.store.errors import NotFound, StoreUnavailable, UnknownDispositionCode

logger = logging.getLogger(__name__)

DOCS_STATIC = "/docs/static"  # Swagger UI's files (JavaScript, CSS, icons)

DESCRIPTION = """\
The predictive dialer's HTTP API, served by the running daemon.

Every endpoint under `/api/v1` needs `Authorization: Bearer <token>` (tokens and their roles
come from `http.tokens_file`). Roles: **admin** (everything), **supervisor** (everything but
trunk configuration), **agent** (only itself: log-in, ready, pause, log-out, dispositions;
callbacks for its campaign's leads, and why they are (not) dialed and their history).

The web console (`/console`) signs people in with the accounts of `dialer users` into a
session cookie, which these endpoints accept too; with it, every change needs the session's
`X-CSRF-Token` header.

Errors: 400 a Content-Length that is not a number, 401 missing or unknown token, 403 role not
allowed, 404 unknown id or name in the path, 409 the current state does not allow it, 413 the
body is over its size limit, 422 invalid path, query or body (the field is named in `loc`; a
body naming a row that does not exist is one), 503 database unreachable or daemon stopping.
No string anywhere may hold a NUL character (Postgres keeps none in text); a JSON body is
UTF-8, nested at most 32 levels, without NaN or Infinity.

Campaigns, agents and trunks are named in paths by id or by name (digits mean an id).
"""


def build_app(ctx: ApiContext, metrics_handler: MetricsHandler | None = None) -> FastAPI:
    """The ASGI app. `metrics_handler`, if given, is served at GET /metrics (no token)."""
    app = FastAPI(
        title="dialer",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served below from local files, not from a CDN
        redoc_url=None,
    )
    app.state.ctx = ctx
    _add_docs(app)
    app.include_router(system.health_router)
    app.include_router(campaigns.router)
    app.include_router(leads.router)
    app.include_router(agents.router)
    app.include_router(preview.router)
    app.include_router(system.router)
    app.include_router(audit.router)
    app.include_router(agent_screen.router)
    if ctx.settings.console.enabled:
        app.mount(
            console.STATIC_URL,
            StaticFiles(directory=str(console.STATIC_DIR)),
            name="console-static",
        )
        app.include_router(console.router)
    _add_error_handlers(app)
    # The token and the body's size are checked before any route reads the body.
    app.add_middleware(
        RequestGuard,
        tokens=ctx.tokens,
        max_body=ctx.settings.http.max_body_bytes,
        max_upload=ctx.settings.http.max_upload_bytes,
        sessions=ctx.sessions,
    )
    if metrics_handler is not None:
        handler = metrics_handler

        @app.get("/metrics", include_in_schema=False)
        def metrics() -> Response:
            body, content_type = handler()
            return Response(body, headers={"Content-Type": content_type})

    return app


def _add_docs(app: FastAPI) -> None:
    app.mount(DOCS_STATIC, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png",
            # Swagger UI would otherwise fetch a validity badge from swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )


def _json(status: int, detail: object) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at `path` (HEAD, which Starlette adds to GET, left out
    as the schema does)."""
    methods: set[str] = set()
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            methods |= route.methods or set()
    return sorted(methods - {"HEAD"})


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code != 405:
            return await http_exception_handler(request, exc)
        # Starlette's Allow names the methods of the first route that matched the path only;
        # RFC 9110 wants every method the resource supports.
        allow = ", ".join(_allowed_methods(app, request.url.path))
        return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": allow})

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status, exc.detail)

    @app.exception_handler(FieldError)
    async def field_error(_: Request, exc: FieldError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=422)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _json(404, str(exc))

    @app.exception_handler(UnknownDispositionCode)
    async def unknown_code(_: Request, exc: UnknownDispositionCode) -> JSONResponse:
        return JSONResponse(FieldError(("body", "code"), str(exc)).body(), status_code=422)

    @app.exception_handler(IllegalCampaignAction)
    async def illegal_campaign(_: Request, exc: IllegalCampaignAction) -> JSONResponse:
        return _json(409, str(exc))

    @app.exception_handler(IllegalAgentTransition)
    async def illegal_agent(_: Request, exc: IllegalAgentTransition) -> JSONResponse:
        return _json(409, f"not now: {exc}")

    @app.exception_handler(StoreUnavailable)
    async def unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        logger.warning("API request failed: %s", exc)
        return _json(503, "the database is unreachable")

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced past our own checks; the constraint says which.
        constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
        return _json(409, f"conflicts with existing data ({constraint or 'a constraint'})")

    @app.exception_handler(DBAPIError)
    async def refused(_: Request, exc: DBAPIError) -> JSONResponse:
        # Postgres refused a statement. Its message may quote the request's values (a number,
        # a note): the log gets the SQLSTATE alone. A refusal of the data (class 22, a
        # trigger's RAISE) is the request's problem; anything else is ours.
        state = sqlstate_of(exc)
        logger.warning("the database refused a statement (SQLSTATE %s)", state)
        if state.startswith("22") or state == "P0001":
            return _json(422, f"the database refused the data (SQLSTATE {state})")
        return _json(500, f"the database refused the statement (SQLSTATE {state})")


async def start_api(
    settings: Settings,
    db: Database,
    engine: Engine,
    tokens: TokenTable,
    metrics_handler: MetricsHandler | None = None,
) -> tuple[HttpServer, ApiContext]:
    """Build the app and start serving it; raises `server.HttpStartError` if it cannot."""
    ctx = ApiContext(settings, db, engine, tokens)
    if not len(tokens):
        logger.warning(
            "HTTP API has no tokens (set http.tokens_file or DIALER_HTTP_ADMIN_TOKEN): "
            "every /api request will be refused"
        )
    http = settings.http
    server = HttpServer(
        build_app(ctx, metrics_handler),
        http.host,
        http.port,
        access_log=http.access_log,
        shutdown_timeout_s=http.shutdown_timeout_s,
        tls_cert=http.tls_cert,
        tls_key=http.tls_key,
    )
    if http.plain_remote:
        logger.warning(
            "HTTP API on %s without TLS (http.allow_plain_remote): tokens cross the network "
            "in clear",
            http.host,
        )
    await server.start()
    return server, ctx
