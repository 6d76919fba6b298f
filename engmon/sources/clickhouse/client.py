"""ClickHouse's HTTP interface: value binding (query parameters or an external table), readonly,
errors that say what to fix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from engmon.errors import (
    SourceAuthError,
    SourceError,
    SourceNotFound,
    SourceResponseError,
    SourceUnreachable,
)
from engmon.sources.clickhouse.config import (
    ERROR_CODE,
    ERROR_TEXT,
    FIRST_VERSION_WITH_PARAMETERS,
    PARAMS_TABLE,
    ClickHouseConfig,
    Query,
)
from engmon.sources.http import raise_for_status

# --- HTTP ---------------------------------------------------------------------------------


@dataclass
class Transfer:
    """Bytes sent and received by the queries of one poll (request bodies and responses)."""

    sent: int = 0
    received: int = 0
    queries: int = 0


def _server_error(response: httpx.Response, config: ClickHouseConfig) -> SourceError | None:
    text = response.text
    code_match = ERROR_CODE.search(text)
    if code_match is None:
        return None
    code = int(code_match.group(1))
    detail_match = ERROR_TEXT.search(text)
    detail = (
        (detail_match.group(1) if detail_match else text).strip().splitlines()[0][:200].rstrip(".")
    )
    where = f"{config.name}: ClickHouse at {response.request.url.host}"
    if code in (192, 193, 194, 195, 516) or response.status_code in (401, 403):
        env = f" (password from ${config.password_env})" if config.password_env else ""
        return SourceAuthError(
            f"{where} rejected user {config.user!r}{env}: {detail}; check user/password_env"
        )
    if code in (60, 81):
        return SourceNotFound(
            f"{where}: {detail}; check database/table (table = {config.database}.{config.table})"
        )
    if code in (16, 47):
        return SourceNotFound(f"{where}: {detail}; check the *_column keys of this source")
    if code == 159:
        return SourceResponseError(
            f"{where}: query exceeded max_execution_time={config.max_execution_time}s; raise it"
            " or narrow the window"
        )
    if code == 164:
        return SourceAuthError(
            f"{where}: {detail}; user {config.user!r} has a readonly=1 profile, which refuses"
            f" per-query settings: give it readonly=2 (still no writes)"
        )
    return SourceResponseError(f"{where}: error {code}: {detail}")


def _readonly(config: ClickHouseConfig) -> int:
    # The cluster() table function is refused under readonly=1; readonly=2 still forbids writes.
    return 2 if config.cluster else 1


class ClickHouseClient:
    """Sends queries of one source and maps every failure to a SourceError naming it."""

    def __init__(self, config: ClickHouseConfig) -> None:
        self.config = config
        self.binding: str | None = None if config.binding == "auto" else config.binding
        self.server_version: str | None = None
        self.transfer = Transfer()

    def _auth(self) -> tuple[dict[str, str], httpx.BasicAuth | None]:
        config = self.config
        if config.auth == "basic":
            return {}, httpx.BasicAuth(config.user, config.password or "")
        headers = {"X-ClickHouse-User": config.user}
        if config.password:
            headers["X-ClickHouse-Key"] = config.password
        return headers, None

    def _settings(self) -> dict[str, str]:
        return {
            "readonly": str(_readonly(self.config)),
            "max_execution_time": str(self.config.max_execution_time),
            "wait_end_of_query": "1",
        }

    async def _send(
        self,
        client: httpx.AsyncClient,
        params: dict[str, str],
        *,
        content: bytes | None = None,
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> bytes:
        config = self.config
        headers, auth = self._auth()
        timeout = httpx.Timeout(config.timeout)
        try:
            request = client.build_request(
                "POST",
                config.url + "/",
                params=params,
                headers=headers,
                content=content,
                files=files,
                timeout=timeout,
            )
            request.read()
            response = await client.send(request, auth=auth)
        except httpx.TimeoutException as exc:
            raise SourceUnreachable(
                f"{config.name}: no answer from ClickHouse within {timeout.read:g}s"
            ) from exc
        except httpx.TransportError as exc:
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0][:120]
            raise SourceUnreachable(
                f"{config.name}: cannot reach ClickHouse at {urlsplit(config.url).netloc}"
                f" ({reason})"
            ) from exc
        self.transfer.queries += 1
        self.transfer.sent += len(str(request.url)) + len(request.content)
        self.transfer.received += len(response.content)
        if response.status_code != 200:
            error = _server_error(response, config)
            if error is not None:
                raise error
            raise_for_status(response, config.name)
            raise SourceResponseError(f"{config.name}: HTTP {response.status_code} from ClickHouse")
        return response.content

    async def resolve_binding(self, client: httpx.AsyncClient) -> str:
        """Query parameters when the server has them, else the external-table binding."""
        if self.binding is not None:
            return self.binding
        body = await self._send(
            client, self._settings(), content=b"SELECT version() AS version FORMAT JSONEachRow"
        )
        try:
            version = str(json.loads(body.splitlines()[0])["version"])
            numbers = tuple(int(part) for part in version.split(".")[:2])
        except (ValueError, KeyError, IndexError) as exc:
            raise SourceResponseError(
                f"{self.config.name}: unexpected answer to SELECT version()"
            ) from exc
        self.server_version = version
        self.binding = "parameters" if numbers >= FIRST_VERSION_WITH_PARAMETERS else "external"
        return self.binding

    async def rows(self, client: httpx.AsyncClient, query: Query) -> list[dict[str, Any]]:
        """Run `query` with its values bound server-side; the decoded JSONEachRow rows."""
        binding = await self.resolve_binding(client)
        settings = self._settings()
        if binding == "parameters":
            params = settings | {f"param_{k}": _escaped(v) for k, (_t, v) in query.params.items()}
            body = await self._send(client, params, content=query.sql.encode())
        else:
            structure = ", ".join(f"{name} {t}" for name, (t, _v) in query.params.items())
            row = json.dumps({name: v for name, (_t, v) in query.params.items()}).encode()
            params = settings | {
                "query": query.with_binding("external"),
                f"{PARAMS_TABLE}_structure": structure,
                f"{PARAMS_TABLE}_format": "JSONEachRow",
            }
            body = await self._send(client, params, files={PARAMS_TABLE: (PARAMS_TABLE, row)})
        try:
            return [json.loads(line) for line in body.splitlines() if line.strip()]
        except ValueError as exc:
            raise SourceResponseError(
                f"{self.config.name}: ClickHouse answer is not JSONEachRow"
            ) from exc


def _escaped(value: str | int) -> str:
    """A parameter value in ClickHouse's Escaped text format (backslash, tab, newline)."""
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
