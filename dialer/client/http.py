"""A small synchronous client of the daemon's HTTP API, for the CLI (httpx)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "DIALER_API_URL"
TOKEN_ENV = "DIALER_API_TOKEN"


class ClientError(Exception):
    """The API answered with an error; `status` is the HTTP status (0: no answer at all)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def explain(status: int, body: Any) -> str:
    """A one-line message from an error body (FastAPI's shapes)."""
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []))
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail) if detail else f"HTTP {status}"


class ApiClient:
    def __init__(self, url: str, token: str | None, *, timeout_s: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            response = self._http.request(
                method,
                "/api/v1" + path,
                json=body,
                params={k: v for k, v in (params or {}).items() if v is not None},
            )
        except httpx.TransportError as exc:
            raise ClientError(0, f"cannot reach the dialer at {self.url}: {exc}") from None
        return _result(response)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def upload(
        self,
        path: str,
        data: bytes,
        *,
        content_type: str,
        params: Mapping[str, Any],
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> Any:
        """POST a file and follow the NDJSON progress stream; returns the final report."""
        headers = {"Content-Type": content_type, "Accept": "application/x-ndjson"}
        query = {k: v for k, v in params.items() if v is not None}
        try:
            with self._http.stream(
                "POST", "/api/v1" + path, content=data, headers=headers, params=query
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    return _result(response)
                for item in _lines(response.iter_lines()):
                    if "report" in item:
                        return item["report"]
                    if "error" in item:
                        raise ClientError(500, str(item["error"]))
                    if on_progress is not None:
                        on_progress(str(item["phase"]), int(item["done"]), int(item["total"]))
        except httpx.TransportError as exc:
            raise ClientError(0, f"cannot reach the dialer at {self.url}: {exc}") from None
        raise ClientError(500, "the import ended without a report")


def _lines(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            item = json.loads(line)
            if isinstance(item, dict):
                yield item


def _result(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if response.status_code >= 400:
        raise ClientError(response.status_code, explain(response.status_code, body))
    return body
