"""Client IP -> country, offline: geoip2fast's bundled IPv4+IPv6 database or a MaxMind .mmdb.

Thousands of IPs are placed at once: each address becomes a number (IPv4: the address,
IPv6: its first 64 bits) and one sorted `join_asof` against the network table finds its
country. The table is read from geoip2fast's loaded data once and cached as Parquet.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from engmon.errors import ConfigError


@cache
def _geoip2fast() -> Any:
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(geoip2fast_data_file="geoip2fast-ipv6.dat.gz")


def _network_table_from_geoip2fast() -> pl.DataFrame | None:
    """geoip2fast's networks as (family, first, last, country), None if its internals change.

    IPv4 keys are the 32-bit address; IPv6 keys are the upper 64 bits (networks are /64 or
    wider in practice), so both fit a UInt64 and one `join_asof` places thousands of IPs.
    """
    _geoip2fast()
    from geoip2fast import geoip2fast as module

    try:
        starts = [ip for chunk in module.mainListFirstIP for ip in chunk]
        lengths = [bits for chunk in module.mainListNetlength for bits in chunk]
        ids = [i for chunk in module.mainListIDCountryCodes for i in chunk]
        names = [str(name).split(":", 1)[0] for name in module.mainListNamesCountry]
    except (AttributeError, TypeError):
        return None
    country_of_id = {
        number: (code if number >= 16 and re.fullmatch("[A-Z]{2}", code) else None)
        for number, code in enumerate(names)  # the first 16 names are private/reserved ranges
    }
    v4 = [n for n, start in enumerate(starts) if start < 2**32]
    v6 = [n for n, start in enumerate(starts) if start >= 2**32]
    family = [4] * len(v4) + [6] * len(v6)
    first = [starts[n] for n in v4] + [starts[n] >> 64 for n in v6]
    span = [2 ** (32 - lengths[n]) - 1 for n in v4] + [2 ** max(0, 64 - lengths[n]) - 1 for n in v6]
    country = [country_of_id.get(ids[n]) for n in v4 + v6]
    return (
        pl.DataFrame(
            {"family": family, "first": first, "span": span, "country": country},
            schema={
                "family": pl.Int8(),
                "first": pl.UInt64(),
                "span": pl.UInt64(),
                "country": pl.String(),
            },
        )
        .select("family", "first", last=pl.col("first") + pl.col("span"), country="country")
        .sort("family", "first")
    )


@cache
def _network_table() -> pl.DataFrame | None:
    """The bundled networks table, built once per geoip2fast data file and cached as Parquet."""
    from importlib.metadata import version

    import platformdirs

    data_file = Path(_geoip2fast_module_dir()) / "geoip2fast-ipv6.dat.gz"
    key = f"geoip2fast-{version('geoip2fast')}-{data_file.stat().st_size}.parquet"
    cache_dir = Path(os.environ.get("ENGMON_CACHE_DIR") or platformdirs.user_cache_dir("engmon"))
    cached = cache_dir / key
    if cached.exists():
        try:
            return pl.read_parquet(cached)
        except (OSError, pl.exceptions.ComputeError):
            pass
    table = _network_table_from_geoip2fast()
    if table is not None:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp")
            table.write_parquet(partial)
            partial.replace(cached)
        except OSError:
            pass  # a read-only cache directory only costs the rebuild next time
    return table


def _geoip2fast_module_dir() -> str:
    import importlib.util

    spec = importlib.util.find_spec("geoip2fast")
    locations = spec.submodule_search_locations if spec else None
    return str(next(iter(locations))) if locations else "."


def ipv4_number(ip: pl.Expr) -> pl.Expr:
    """Dotted IPv4 text -> its 32-bit number (null for anything else, e.g. IPv6)."""
    parts = ip.str.split_exact(".", 3)
    octets = [parts.struct.field(f"field_{i}").cast(pl.Int64, strict=False) for i in range(4)]
    number = octets[0] * 16_777_216 + octets[1] * 65_536 + octets[2] * 256 + octets[3]
    in_range = pl.all_horizontal([o.is_between(0, 255) for o in octets])
    return pl.when(in_range & parts.struct.field("field_3").str.contains(r"^\d+$")).then(number)


def ipv6_upper64(ip: pl.Expr) -> pl.Expr:
    """IPv6 text -> the number formed by its first four groups (null for anything else)."""
    text = ip.str.to_lowercase()
    halves = text.str.split_exact("::", 1)
    head_text, tail_text = halves.struct.field("field_0"), halves.struct.field("field_1")
    head, tail = head_text.str.split(":"), tail_text.str.split(":")
    head_len = pl.when(head_text == "").then(0).otherwise(head.list.len())
    tail_len = pl.when(tail_text.is_null() | (tail_text == "")).then(0).otherwise(tail.list.len())
    compressed = tail_text.is_not_null()
    groups = []
    for index in range(4):
        from_tail = index - (8 - tail_len)
        group = (
            pl.when(index < head_len)
            .then(head.list.get(index, null_on_oob=True))
            .when(compressed & (from_tail >= 0))
            .then(tail.list.get(from_tail.clip(0, 7), null_on_oob=True))
            .when(compressed)
            .then(pl.lit("0"))
        )
        groups.append(group.str.to_integer(base=16, strict=False).cast(pl.UInt64))
    number = (groups[0] * 2**48) + (groups[1] * 2**32) + (groups[2] * 2**16) + groups[3]
    valid = (
        text.str.contains(r"^[0-9a-f:.]+$")
        & text.str.contains(":")
        & (compressed | (head_len == 8))
        & pl.all_horizontal([g.is_not_null() & (g <= 0xFFFF) for g in groups])
    )
    return pl.when(valid).then(number)


def ipv6_spelled_out(ip: pl.Expr) -> pl.Expr:
    """True when the first four groups are written out (no `::` among them)."""
    parts = ip.str.split_exact(":", 4)
    groups = [parts.struct.field(f"field_{i}") for i in range(5)]
    return (
        pl.all_horizontal([g.is_not_null() & (g != "") for g in groups[:4]])
        & groups[4].is_not_null()
    )


def ipv6_upper64_spelled(ip: pl.Expr) -> pl.Expr:
    """`ipv6_upper64` for addresses whose first four groups are written out (fast split)."""
    parts = ip.str.split_exact(":", 4)
    numbers = [
        parts.struct.field(f"field_{i}").str.to_integer(base=16, strict=False).cast(pl.UInt64)
        for i in range(4)
    ]
    number = (numbers[0] * 2**48) + (numbers[1] * 2**32) + (numbers[2] * 2**16) + numbers[3]
    valid = pl.all_horizontal([n.is_not_null() & (n <= 0xFFFF) for n in numbers])
    return pl.when(valid & ip.str.contains(r"^[0-9A-Fa-f:.]+$")).then(number)


class CountryLookup:
    """Client IP -> ISO-2 country, from geoip2fast's bundled data or a user's MaxMind .mmdb."""

    vectorise_from: int = 500
    """Distinct IPv4 addresses above which the bundled table is joined instead of looked up."""

    def __init__(self, mmdb: Path | None = None) -> None:
        self.mmdb = mmdb
        self._reader: Any = None
        if mmdb is not None:
            try:
                import maxminddb
            except ImportError as exc:
                raise ConfigError(
                    f"geoip_db {mmdb}: reading .mmdb files needs the maxminddb package"
                    " (pip install maxminddb)"
                ) from exc
            try:
                self._reader = maxminddb.open_database(str(mmdb))
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
                raise ConfigError(
                    f"geoip_db {mmdb}: not a readable MaxMind database ({exc})"
                ) from exc

    def country(self, ip: str) -> str | None:
        """ISO-2 code, or None for private, unknown or unparsable addresses."""
        if self._reader is not None:
            try:
                record = self._reader.get(ip)
            except ValueError:
                return None
            if not isinstance(record, dict):
                return None
            country = record.get("country") or record.get("registered_country") or {}
            code = country.get("iso_code") if isinstance(country, dict) else None
            return code if isinstance(code, str) else None
        code = _geoip2fast().lookup(ip).country_code
        return code if isinstance(code, str) and len(code) == 2 and code.isalpha() else None

    def countries(self, ips: list[str]) -> dict[str, str | None]:
        """Country per distinct IP (see `frame`)."""
        found = self.frame(pl.Series("ip", ips, dtype=pl.String()))
        return dict(found.iter_rows())

    def frame(self, ips: pl.Series) -> pl.DataFrame:
        """(ip, country) for distinct `ips`: one vectorised join for many, lookups for few."""
        return self.place(ips.rename("ip").to_frame()).select("ip", "country")

    def place(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` (with an `ip` column) plus `country`; row order is not kept.

        With the bundled database and many rows every row is keyed and placed by one sorted
        `join_asof` (no per-IP Python, no string joins); otherwise distinct IPs are looked up.
        """
        # the table once built (a warmed-up reader) serves any size: loading geoip2fast's own
        # database as well for a handful of rows would double the start-up cost
        built = _network_table.cache_info().currsize > 0
        wanted = built or frame.height >= self.vectorise_from
        table = _network_table() if (self._reader is None and wanted) else None
        if table is None:
            found = self._looked_up(frame.get_column("ip").fill_null("").unique())
            return frame.join(
                found, left_on=pl.col("ip").fill_null(""), right_on="ip", how="left"
            ).drop("ip_right", strict=False)
        ip = pl.col("ip")
        is_v6 = ip.str.contains(":", literal=True)
        v6 = frame.filter(is_v6).with_columns(_spelled=ipv6_spelled_out(ip))
        keyed = pl.concat(  # each parser only sees the addresses it is written for
            [
                frame.filter(ip.is_not_null() & ~is_v6).with_columns(family=4, key=ipv4_number(ip)),
                v6.filter("_spelled")
                .drop("_spelled")
                .with_columns(family=6, key=ipv6_upper64_spelled(ip)),
                v6.filter(~pl.col("_spelled"))
                .drop("_spelled")
                .with_columns(family=6, key=ipv6_upper64(ip)),
                frame.filter(ip.is_null()).with_columns(family=4, key=None),
            ],
            how="vertical_relaxed",
        ).with_columns(pl.col("family").cast(pl.Int8), pl.col("key").cast(pl.UInt64))
        placed = (
            keyed.filter(pl.col("key").is_not_null())
            .sort("family", "key")
            .join_asof(
                table,
                left_on="key",
                right_on="first",
                by="family",
                strategy="backward",
                check_sortedness=False,
            )
            .with_columns(country=pl.when(pl.col("key") <= pl.col("last")).then("country"))
            .drop("family", "key", "first", "last")
        )
        rest = keyed.filter(pl.col("key").is_null()).drop("family", "key")
        if rest.height:
            found = self._looked_up(rest.get_column("ip").fill_null("").unique())
            rest = rest.join(found, left_on=pl.col("ip").fill_null(""), right_on="ip", how="left")
            rest = rest.drop("ip_right", strict=False)
        else:
            rest = rest.with_columns(country=pl.lit(None, pl.String()))
        return pl.concat([placed, rest.select(placed.columns)])

    def _looked_up(self, ips: pl.Series) -> pl.DataFrame:
        values = ips.to_list()
        return pl.DataFrame(
            {"ip": values, "country": [self.country(ip) if ip else None for ip in values]},
            schema={"ip": pl.String(), "country": pl.String()},
        )
