"""HTTP for the clients: the API key, retries with backoff, problem details, and futures."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Callable, Generic, Optional, TypeVar

import httpx

T = TypeVar("T")

RETRYABLE = {408, 429, 500, 502, 503, 504}


class LatheError(Exception):
    """Base of every error this SDK raises."""


class APIStatusError(LatheError):
    """The server refused a call. ``problem`` is its RFC 9457 problem details, unchanged."""

    def __init__(self, status: int, problem: dict):
        self.status = status
        self.problem = problem
        self.category = problem.get("category")
        self.field = problem.get("field")
        self.message = problem.get("detail") or problem.get("error") or problem.get("title") or str(problem)
        where = f" (field {self.field})" if self.field else ""
        super().__init__(f"HTTP {status}{where}: {self.message}")


class RequestFailedError(LatheError):
    """An accepted request failed when it ran; ``category`` is "user" or "server"."""

    def __init__(self, request_id: str, error: str, category: Optional[str]):
        self.request_id = request_id
        self.error = error
        self.category = category
        super().__init__(f"request {request_id} failed ({category}): {error}")


def _problem(r: httpx.Response) -> dict:
    try:
        body = r.json()
        return body if isinstance(body, dict) else {"detail": str(body)}
    except ValueError:
        return {"detail": r.text[:2000]}


def _delay(attempt: int, r: Optional[httpx.Response]) -> float:
    if r is not None:
        after = r.headers.get("Retry-After")
        if after:
            try:
                return min(float(after), 60.0)
            except ValueError:
                pass
    return min(0.25 * 2**attempt, 8.0) * (0.5 + random.random() / 2)


class Http:
    """One base URL and API key; sync and asyncio calls with the same retry rules."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0, max_retries: int = 10):
        if not api_key:
            raise ValueError("api_key is required (a tenant key starting with tml-)")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        headers = {"X-API-Key": api_key, "User-Agent": "lathe-python/0.1.0"}
        self._sync = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._async: Optional[httpx.AsyncClient] = None
        self._headers = headers
        self._timeout = timeout

    def request(self, method: str, path: str, body: Any = None, params: Optional[dict] = None) -> Any:
        for attempt in range(self.max_retries + 1):
            r, error = None, None
            try:
                r = self._sync.request(method, path, json=body, params=params)
            except httpx.TransportError as e:
                error = e
            if not self._again(attempt, r):
                return self._finish(r, error)
            time.sleep(_delay(attempt, r))
        raise AssertionError("unreachable")

    async def arequest(self, method: str, path: str, body: Any = None, params: Optional[dict] = None) -> Any:
        if self._async is None:
            self._async = httpx.AsyncClient(base_url=self.base_url, headers=self._headers, timeout=self._timeout)
        for attempt in range(self.max_retries + 1):
            r, error = None, None
            try:
                r = await self._async.request(method, path, json=body, params=params)
            except httpx.TransportError as e:
                error = e
            if not self._again(attempt, r):
                return self._finish(r, error)
            await asyncio.sleep(_delay(attempt, r))
        raise AssertionError("unreachable")

    def _again(self, attempt: int, r: Optional[httpx.Response]) -> bool:
        """Whether to try again: retries are left and the call failed in a way worth retrying."""
        return attempt < self.max_retries and (r is None or r.status_code in RETRYABLE)

    def _finish(self, r: Optional[httpx.Response], error: Optional[Exception]) -> Any:
        if r is None:
            raise error  # type: ignore[misc]
        return self._parse(r)

    @staticmethod
    def _parse(r: httpx.Response) -> Any:
        if r.status_code >= 400:
            raise APIStatusError(r.status_code, _problem(r))
        if r.status_code == 204 or not r.content:
            return None
        return r.json()

    def close(self) -> None:
        self._sync.close()


class APIFuture(Generic[T]):
    """The result of an accepted request: ``.result()`` blocks, ``await future`` does not."""

    def __init__(self, http: Http, request_id: str, parse: Callable[[dict], T]):
        self._http = http
        self.request_id = request_id
        self._parse = parse
        self._value: Optional[T] = None
        self._done = False

    def _settle(self, body: dict) -> bool:
        if body.get("type") == "try_again":
            return False
        if "error" in body and "category" in body:
            raise RequestFailedError(self.request_id, body["error"], body.get("category"))
        self._value = self._parse(body)
        self._done = True
        return True

    def result(self, timeout: Optional[float] = None) -> T:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done:
            body = self._http.request("POST", "/api/v1/retrieve_future", {"request_id": self.request_id})
            if self._settle(body):
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"request {self.request_id} is still running after {timeout} s")
        return self._value  # type: ignore[return-value]

    async def result_async(self, timeout: Optional[float] = None) -> T:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done:
            body = await self._http.arequest("POST", "/api/v1/retrieve_future", {"request_id": self.request_id})
            if self._settle(body):
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"request {self.request_id} is still running after {timeout} s")
        return self._value  # type: ignore[return-value]

    def __await__(self):
        return self.result_async().__await__()


class Combined(Generic[T]):
    """Futures of one call split into chunks, resolved as one."""

    def __init__(self, parts: list, combine: Callable[[list], T]):
        self._parts = parts
        self._combine = combine

    def result(self, timeout: Optional[float] = None) -> T:
        return self._combine([p.result(timeout) for p in self._parts])

    async def result_async(self, timeout: Optional[float] = None) -> T:
        return self._combine([await p.result_async(timeout) for p in self._parts])

    def __await__(self):
        return self.result_async().__await__()
