"""Client IP -> country, offline: geoip2fast's bundled IPv4+IPv6 database or a MaxMind .mmdb.

Thousands of IPs are placed at once: each address becomes a number (IPv4: the address,
IPv6: its first 64 bits) and a binary search (numpy `searchsorted`) over the sorted networks
finds its country, row by row with no join. The table is read from geoip2fast's loaded data
once and cached as plain arrays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from engmon.errors import ConfigError
from engmon.sources.accesslog.cache import read_cached_arrays, write_cached_arrays

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


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


PLACE_BATCH = 1 << 18
"""IPs placed at once (see `CountryLookup._placed`)."""


@dataclass(frozen=True)
class _Networks:
    """The networks table as arrays for binary search: per family the sorted first and last
    keys and the offset of its rows in `codes`, each network's country as an index into
    `names` (a categorical whose first value, for no country, is null)."""

    first: dict[int, npt.NDArray[np.uint64]]
    last: dict[int, npt.NDArray[np.uint64]]
    offset: dict[int, int]
    codes: npt.NDArray[np.uint16]
    names: pl.Series


_ARRAYS = ("first4", "last4", "first6", "last6", "codes", "names")
"""What the cached networks file holds: per family the sorted first and last keys, then each
network's country as an index into `names` (0: none) and the country codes themselves."""


@cache
def _networks() -> _Networks | None:
    """The bundled networks, ready for binary search (built once per process).

    Read from a cache of plain arrays, written on first use per geoip2fast data file: loading
    them costs a few milliseconds where decoding a table and making its text categorical
    cost tens.
    """
    from importlib.metadata import version

    import numpy as np

    data_file = Path(_geoip2fast_module_dir()) / "geoip2fast-ipv6.dat.gz"
    key = f"geoip2fast-{version('geoip2fast')}-{data_file.stat().st_size}.npz"
    arrays = read_cached_arrays(key, _ARRAYS)
    if arrays is None or not _whole(arrays):  # a damaged cache is rebuilt, never trusted
        table = _network_table_from_geoip2fast()
        if table is None:
            return None
        arrays = _network_arrays(table)
        write_cached_arrays(key, arrays)
    first = {4: arrays["first4"], 6: arrays["first6"]}
    last = {4: arrays["last4"], 6: arrays["last6"]}
    # categorical: a row's country is gathered as a code, never as text to cast afterwards
    names = pl.Series("country", [None, *arrays["names"].tolist()], dtype=pl.Categorical)
    codes = arrays["codes"].astype(np.uint16, copy=False)
    return _Networks(first, last, {4: 0, 6: int(first[4].size)}, codes, names)


def _whole(arrays: dict[str, npt.NDArray[Any]]) -> bool:
    """Whether cached arrays fit together: keys as unsigned 64-bit numbers, a first and a
    last key per network, and a code per network that names a country (or none)."""
    import numpy as np

    keys = [arrays[f"{end}{family}"] for family in (4, 6) for end in ("first", "last")]
    codes, names = arrays["codes"], arrays["names"]
    return (
        all(key.dtype == np.uint64 and key.ndim == 1 for key in keys)
        and keys[0].size == keys[1].size
        and keys[2].size == keys[3].size
        and codes.dtype == np.uint16
        and codes.shape == (keys[0].size + keys[2].size,)
        and names.dtype.kind == "U"
        and names.ndim == 1
        and int(codes.max(initial=0)) <= names.size
    )


def _network_arrays(table: pl.DataFrame) -> dict[str, npt.NDArray[Any]]:
    """`_network_table_from_geoip2fast`'s table (sorted by family and first key) as the
    arrays `_networks` caches."""
    import numpy as np

    names = table.get_column("country").drop_nulls().unique().sort()
    codes = table.select(
        code=pl.col("country").replace_strict(
            names, pl.int_range(1, names.len() + 1, eager=True), default=0, return_dtype=pl.UInt16
        )
    )
    arrays: dict[str, npt.NDArray[Any]] = {
        "codes": codes.get_column("code").to_numpy(),
        "names": np.array(names.to_list(), dtype="<U2"),
    }
    for family in (4, 6):
        rows = table.filter(pl.col("family") == family)
        arrays[f"first{family}"] = rows.get_column("first").to_numpy().astype(np.uint64)
        arrays[f"last{family}"] = rows.get_column("last").to_numpy().astype(np.uint64)
    return arrays


def _geoip2fast_module_dir() -> str:
    import importlib.util

    spec = importlib.util.find_spec("geoip2fast")
    locations = spec.submodule_search_locations if spec else None
    return str(next(iter(locations))) if locations else "."


_IPV4_TEXT = r"^\d+\.\d+\.\d+\.\d+$"
"""Dotted IPv4 text (each octet's range is checked after the split)."""


def ipv4_keys(rows: pl.DataFrame) -> pl.DataFrame:
    """(`_row`, `key`) for the rows of dotted IPv4 text in `ip`: the 32-bit number, null when
    an octet is out of range. The text is split once and each octet parsed once."""
    octets = [f"field_{i}" for i in range(4)]
    split = rows.filter(pl.col("ip").str.contains(_IPV4_TEXT)).select(
        "_row", pl.col("ip").str.split_exact(".", 3).struct.unnest()
    )
    parsed = split.select("_row", pl.col(octets).str.to_integer(strict=False))
    number = (
        pl.col("field_0") * 16_777_216
        + pl.col("field_1") * 65_536
        + pl.col("field_2") * 256
        + pl.col("field_3")
    )
    in_range = pl.all_horizontal([pl.col(o).is_between(0, 255) for o in octets])
    return parsed.select("_row", key=pl.when(in_range).then(number))


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


def ipv6_keys(rows: pl.DataFrame) -> pl.DataFrame:
    """(`_row`, `key`) for the rows of IPv6 text in `ip`: the number formed by the first four
    groups, null for anything else. Addresses whose first four groups are written out (no
    `::` among them, the usual case) are split once; the rest go through `ipv6_upper64`."""
    fields = [f"field_{i}" for i in range(5)]
    split = rows.select("_row", "ip", pl.col("ip").str.split_exact(":", 4).struct.unnest())
    spelled = (
        pl.all_horizontal([pl.col(f).is_not_null() & (pl.col(f) != "") for f in fields[:4]])
        & pl.col("field_4").is_not_null()
    )
    split = split.with_columns(_spelled=spelled)
    groups = split.filter("_spelled").select(
        "_row",
        "ip",
        pl.col(fields[:4]).str.to_integer(base=16, strict=False).cast(pl.UInt64),
    )
    number = (
        pl.col("field_0") * 2**48
        + pl.col("field_1") * 2**32
        + pl.col("field_2") * 2**16
        + pl.col("field_3")
    )
    valid = pl.all_horizontal(
        [pl.col(f).is_not_null() & (pl.col(f) <= 0xFFFF) for f in fields[:4]]
    ) & pl.col("ip").str.contains(r"^[0-9A-Fa-f:.]+$")
    return pl.concat(
        [
            groups.select("_row", key=pl.when(valid).then(number)),
            split.filter(~pl.col("_spelled")).select("_row", key=ipv6_upper64(pl.col("ip"))),
        ]
    )


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
        """`frame` (with an `ip` column) plus `country`, row order kept.

        With the bundled database and many rows every row is keyed and placed by a binary
        search over the sorted networks (no per-IP Python, no string joins); otherwise distinct
        IPs are looked up.
        """
        # the table once built (a warmed-up reader) serves any size: loading geoip2fast's own
        # database as well for a handful of rows would double the start-up cost
        built = _networks.cache_info().currsize > 0
        wanted = built or frame.height >= self.vectorise_from
        networks = _networks() if (self._reader is None and wanted) else None
        if networks is None:
            found = self._looked_up(frame.get_column("ip").fill_null("").unique())
            return frame.join(
                found,
                left_on=pl.col("ip").fill_null(""),
                right_on="ip",
                how="left",
                maintain_order="left",
            ).drop("ip_right", strict=False)
        return frame.with_columns(self._placed(frame.get_column("ip"), networks))

    def _placed(self, ips: pl.Series, networks: _Networks) -> pl.Series:
        """Country per row of `ips` from the bundled networks (unkeyable text looked up)."""
        import numpy as np

        ip = pl.col("ip")
        rows = ips.rename("ip").to_frame().with_row_index("_row")
        index = np.full(ips.len(), -1, dtype=np.int64)
        placed = np.zeros(ips.len(), dtype=bool)
        # a batch of rows at a time: the octets' text and the search arrays are held for one
        # batch, never for every row
        for start in range(0, rows.height, PLACE_BATCH):
            batch = rows.slice(start, PLACE_BATCH)
            keyed = {  # each parser only sees the addresses it is written for
                4: ipv4_keys(batch),
                6: ipv6_keys(batch.filter(ip.str.contains(":", literal=True))),
            }
            for family, frame in keyed.items():
                frame = frame.filter(pl.col("key").is_not_null())
                first, last = networks.first[family], networks.last[family]
                key = frame.get_column("key").cast(pl.UInt64).to_numpy()
                order = np.argsort(key)  # a binary search of sorted keys stays in cache
                key = key[order]
                at = frame.get_column("_row").to_numpy()[order]
                found = np.searchsorted(first, key, side="right") - 1
                inside = (found >= 0) & (key <= last[np.maximum(found, 0)])
                index[at[inside]] = found[inside] + networks.offset[family]
                placed[at] = True
        codes = np.where(index >= 0, networks.codes[np.maximum(index, 0)], 0)
        country = networks.names.gather(pl.Series(codes, dtype=pl.UInt32)).rename("country")
        rest = rows.filter(pl.Series(~placed) & ip.is_not_null())
        if rest.height:  # text neither parser reads: geoip2fast decides, once per distinct IP
            found_rest = rest.join(
                self._looked_up(rest.get_column("ip").unique()), on="ip", how="left"
            )
            country = country.scatter(
                found_rest.get_column("_row"),
                found_rest.get_column("country").cast(country.dtype),
            )
        return country

    def _looked_up(self, ips: pl.Series) -> pl.DataFrame:
        values = ips.to_list()
        return pl.DataFrame(
            {"ip": values, "country": [self.country(ip) if ip else None for ip in values]},
            schema={"ip": pl.String(), "country": pl.String()},
        )
