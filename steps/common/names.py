"""Values that become file or folder names: tickers, sectors, hosts, and the universe file that lists them.

A ticker becomes `ticker=X/` (bars, sample data), a host `shards/<host>/` (features, sentiment), a ticker or
sector `groups/<name>/` (grouped models). Read from a file the user or the platform wrote, each must be a
*name*, never a path: `T/../../x` as a ticker wrote outside `--output`, `../../x` as a host moved a shard
out of it (issue 29). One pattern each, here, checked wherever the value is read; a value that fails is a
StepInputError naming the source, the field and the value.

- a name (ticker, host): letters, digits and `. ^ _ -`, starting with a letter, a digit or `^` (an index such
  as ^GSPC), at most 63 characters (a DNS label's length: SageMaker's host names are `algo-1`, `algo-2`, …).
  It cannot be `.`, `..`, hold a separator, or start with a dot or a dash (an option to a program).
- a sector: the same, plus spaces, `&`, `,`, `'` and `()` (`Information Technology`), at most 64 characters.

The universe file (`ticker,sector` CSV) has one reader, `read_universe_rows`: without pandas, so the
pipeline's config loads it as fast as the steps do, and whatever its encoding or size, one line.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from steps.common.errors import StepInputError

NAME = re.compile(r"^[A-Za-z0-9^][A-Za-z0-9._^-]{0,62}$")
SECTOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 &,.'()_-]{0,63}$")
NAME_RULE = "letters, digits and . ^ _ -, starting with a letter, a digit or ^, at most 63 characters"
SECTOR_RULE = "letters, digits, spaces and & , . ' ( ) _ -, starting with a letter or a digit, at most 64"
MAX_UNIVERSE_ROWS = 100_000  # the S&P 500 is 503 lines; a file past this is not a universe
MAX_UNIVERSE_BYTES = 16 * 1024 * 1024


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def safe_name(value: object, what: str, source: str | Path, *, fix: str | None = None) -> str:
    """`value` when it is a plain name (tickers, hosts: `NAME`), else a StepInputError naming `source` and
    `what` (the field: "ticker", "current_host"). Never a path: no separator, no `.`/`..`, no leading dot."""
    if not isinstance(value, str) or not NAME.match(value):
        raise StepInputError(f"{_shown(value)} is not a plain name ({NAME_RULE}): it would become a path",
                             file=source, column=what, fix=fix or f"give the {what} as a name, e.g. AAPL or algo-1")
    return value


def safe_sector(value: object, source: str | Path, *, what: str = "sector") -> str:
    """`value` when it is a sector name (`SECTOR`), else a StepInputError naming `source`."""
    if not isinstance(value, str) or not SECTOR.match(value):
        raise StepInputError(f"{_shown(value)} is not a sector name ({SECTOR_RULE})", file=source, column=what,
                             fix="name the sector in words, e.g. Information Technology")
    return value


def read_universe_rows(path: str | Path, *, need_sector: bool = True) -> list[tuple[str, str]]:
    """(ticker, sector) of each line of a `ticker,sector` CSV, in file order; sector "" where the file has no
    sector column and `need_sector` is False.

    Refused on one line naming the file (StepInputError): not found, not UTF-8 text, past
    MAX_UNIVERSE_BYTES or MAX_UNIVERSE_ROWS, a missing column, no rows, a ticker that is not a name (the
    text is read as written: `NA` is the ticker NA, not a missing value), a line without a sector, a sector
    that is not a sector name, a ticker listed twice (with two sectors, or the same twice)."""
    source = Path(path)
    if not source.is_file():
        raise StepInputError("universe file not found", file=source,
                             fix="pass a ticker,sector CSV (configs/universe.csv)")
    if source.stat().st_size > MAX_UNIVERSE_BYTES:
        raise StepInputError(f"is {source.stat().st_size:,} bytes, more than a universe's "
                             f"{MAX_UNIVERSE_BYTES:,}", file=source, fix="list one ticker,sector per line")
    try:
        text = source.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StepInputError(f"is not UTF-8 text (byte {exc.start})", file=source,
                             fix="save the universe as a UTF-8 ticker,sector CSV") from None
    if "\x00" in text:
        raise StepInputError("is not a text file (it holds NUL bytes)", file=source,
                             fix="save the universe as a UTF-8 ticker,sector CSV")
    reader = csv.reader(text.splitlines())
    header = [name.strip().lower() for name in next(reader, [])]
    needed = ("ticker", "sector") if need_sector else ("ticker",)
    for column in needed:
        if column not in header:
            raise StepInputError("missing column", file=source, column=column, fix="add a ticker,sector header")
    at_ticker = header.index("ticker")
    at_sector = header.index("sector") if "sector" in header else None
    rows: list[tuple[str, str]] = []
    seen: dict[str, tuple[int, str]] = {}
    for line, fields in enumerate(reader, start=2):
        if not any(field.strip() for field in fields):
            continue  # a blank line
        if len(rows) >= MAX_UNIVERSE_ROWS:
            raise StepInputError(f"has more than {MAX_UNIVERSE_ROWS:,} tickers", file=source, column="ticker",
                                 fix="list one ticker,sector per line")
        where = f"{source} line {line}"
        written = fields[at_ticker].strip() if at_ticker < len(fields) else ""
        if not written:
            raise StepInputError("is a line without a ticker", file=where, column="ticker",
                                 fix="fill in both ticker and sector on every line")
        ticker = safe_name(written, "ticker", where, fix="write the ticker symbol, e.g. AAPL or BRK.B")
        sector = ""
        if at_sector is not None:
            sector = fields[at_sector].strip() if at_sector < len(fields) else ""
            if sector or need_sector:
                if not sector:
                    raise StepInputError(f"{ticker} is on a line without a sector", file=where, column="sector",
                                         fix="fill in the sector on every line")
                safe_sector(sector, where)
        if ticker in seen:
            first_line, first_sector = seen[ticker]
            problem = (f"lists {ticker} again (first on line {first_line})" if first_sector == sector else
                       f"gives {ticker} two sectors ({first_sector} on line {first_line}, {sector})")
            raise StepInputError(problem, file=where, column="ticker" if first_sector == sector else "sector",
                                 fix="keep one line per ticker")
        seen[ticker] = (line, sector)
        rows.append((ticker, sector))
    if not rows:
        raise StepInputError("no tickers (the universe is empty)", file=source, column="ticker",
                             fix="list one ticker,sector per line")
    return rows


# --- data URLs: s3://bucket/key, where the key's segments become folder names in the local store ----------

# Amazon S3 general purpose bucket naming rules
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html): 3 to 63 characters;
# lowercase letters, digits, dots and hyphens; begin and end with a letter or digit; no two adjacent dots;
# not an IP address; not the reserved prefixes xn--, sthree-, amzn-s3-demo-; not the reserved suffixes
# -s3alias, --ol-s3, .mrap, --x-s3, --table-s3.
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
MAX_KEY_BYTES = 1024  # S3's object key limit (UTF-8 bytes)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def bucket_error(bucket: str) -> str | None:
    """Why `bucket` is not an S3 bucket name (S3's naming rules), or None."""
    if not BUCKET.match(bucket):
        return (f"bucket {bucket[:70]!r} is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and "
                "hyphens, starting and ending with a letter or digit)")
    if ".." in bucket:
        return f"bucket {bucket!r} is not an S3 bucket name (two adjacent dots)"
    if _IP_ADDRESS.match(bucket):
        return f"bucket {bucket!r} is not an S3 bucket name (it is formatted as an IP address)"
    if bucket.startswith(_BUCKET_PREFIXES) or bucket.endswith(_BUCKET_SUFFIXES):
        return f"bucket {bucket!r} uses a prefix or suffix S3 reserves"
    return None


def s3_key_error(key: str, *, strict: bool = True) -> str | None:
    """Why `key` (without the leading slash) cannot name S3 objects safely, or None: a `..` segment (it would
    leave the prefix in every local mirror), a control character, past 1,024 bytes; `strict` (data URLs):
    also a `.` segment or an empty one (`a//b`, S3 keeps both but no folder can)."""
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"key is longer than S3's {MAX_KEY_BYTES} bytes"
    if _CONTROL.search(key):
        return "key holds a control character"
    segments = key.split("/")
    if ".." in segments:
        return "key has a '..' segment"
    if strict and ("." in segments or "" in segments[:-1]):
        return "key has an empty or '.' segment"
    return None


def s3_uri_error(uri: object) -> str | None:
    """Why `uri` is not an `s3://bucket/key` URI whose bucket follows S3's rules and whose key is a plain
    prefix (no `..`, `.` or empty segment), or None."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return "expected an s3:// URI"
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket_error(bucket) or s3_key_error(key)
