"""ClickHouse's HTTP interface: value binding (query parameters or an external table), readonly,
errors that say what to fix.

The first query of a source asks the server its version and the user's `readonly` setting
(from `system.settings`, which every version has; `getSetting` came later) and sends no
settings itself, so any profile answers it. What later queries carry then follows the answer:

- readonly=0: `readonly=1` (2 with `cluster()`, which readonly=1 forbids), the time limit and
  `wait_end_of_query`;
- readonly=2 (reads and settings allowed): the time limit and `wait_end_of_query` only; 18.16
  refuses any change of `readonly` itself under this profile;
- readonly=1: no settings at all (the profile refuses every one); the client's timeout bounds
  the query, and `cluster()` cannot be used.
"""

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
from engmon.sources.http import raise_for_status, transport_reason

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
            f"{where}: {detail}; user {config.user!r} is read-only"
            + (
                ": cluster() needs a profile with readonly=2 (still no writes) or 0"
                if config.cluster
                else ""
            )
        )
    return SourceResponseError(f"{where}: error {code}: {detail}")


def requested_readonly(config: ClickHouseConfig) -> int:
    """The readonly level engmon asks for when the profile leaves it free (readonly=0)."""
    # The cluster() table function is refused under readonly=1; readonly=2 still forbids writes.
    return 2 if config.cluster else 1


class ClickHouseClient:
    """Sends queries of one source and maps every failure to a SourceError naming it."""

    def __init__(self, config: ClickHouseConfig) -> None:
        self.config = config
        self.binding: str | None = None if config.binding == "auto" else config.binding
        self.server_version: str | None = None
        self.profile_readonly: int | None = None  # the user's readonly, as the server says
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
        """Per-query settings the user's profile accepts (see the module docstring)."""
        profile = self.profile_readonly
        if profile == 1:
            return {}
        limits = {
            "max_execution_time": str(self.config.max_execution_time),
            "wait_end_of_query": "1",
        }
        if profile == 0:
            return {"readonly": str(requested_readonly(self.config))} | limits
        return limits

    def readonly_text(self) -> str:
        """How reads are kept read-only, for `describe` (before the first poll: to be asked)."""
        profile = self.profile_readonly
        if profile is None:
            return "readonly asked of the server"
        if profile == 0:
            return f"readonly={requested_readonly(self.config)}"
        return f"readonly={profile} (user profile)"

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
        except httpx.TimeoutException:
            raise SourceUnreachable(
                f"{config.name}: no answer from ClickHouse within {timeout.read:g}s"
            ) from None
        except httpx.RequestError as exc:  # never str(exc): h11 quotes header values there
            raise SourceUnreachable(
                f"{config.name}: cannot reach ClickHouse at {urlsplit(config.url).netloc}"
                f" ({transport_reason(exc)})"
            ) from None
        except (UnicodeEncodeError, ValueError):  # a user or password httpx cannot encode
            raise SourceAuthError(
                f"{config.name}: user or password is not plain ASCII; fix user/password_env"
            ) from None
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

    async def probe(self, client: httpx.AsyncClient) -> None:
        """Ask the server once for its version and the user's readonly level (no settings sent,
        so every profile may answer); choose the binding when it is `auto`."""
        if self.profile_readonly is not None:
            return
        body = await self._send(
            client,
            {},
            content=b"SELECT version() AS version, value AS readonly FROM system.settings"
            b" WHERE name = 'readonly' FORMAT JSONEachRow",
        )
        try:
            answer = json.loads(body.splitlines()[0])
            version = str(answer["version"])
            numbers = tuple(int(part) for part in version.split(".")[:2])
            readonly = int(answer["readonly"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise SourceResponseError(
                f"{self.config.name}: unexpected answer to SELECT version() and readonly"
            ) from exc
        if readonly == 1 and self.config.cluster:
            raise SourceAuthError(
                f"{self.config.name}: user {self.config.user!r} has a readonly=1 profile, which"
                " forbids cluster(); give it readonly=2 (still no writes) or read a Distributed"
                " table instead"
            )
        self.server_version = version
        if self.binding is None:
            parameters = numbers >= FIRST_VERSION_WITH_PARAMETERS
            self.binding = "parameters" if parameters else "external"
        self.profile_readonly = readonly

    async def resolve_binding(self, client: httpx.AsyncClient) -> str:
        """Query parameters when the server has them, else the external-table binding."""
        await self.probe(client)
        assert self.binding is not None
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
