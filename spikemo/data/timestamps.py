"""Clock times as subtitle files and MELD's CSVs write them: '00:16:16,059', '0:21:08.742', '02:03.250'."""

import re

# Optional hours, minutes, two-digit seconds, and an optional fraction of 1-3 digits after ',' (SRT, MELD)
# or '.' (WebVTT).
_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})(?:[,.](\d{1,3}))?$")


def parse_timestamp(value: str) -> float:
    """'[H:]MM:SS[,mmm]' or '[H:]MM:SS[.mmm]' -> seconds ('00:16:16,059' -> 976.059).

    Raises ValueError, naming `value`, on anything else; callers add where the value stands.
    """
    match = _TIME.match(value.strip())
    if match is None:
        raise ValueError(f"'{value}' is not a time like 00:01:02,500")
    hours, minutes, seconds, fraction = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int((fraction or "0").ljust(3, "0")) / 1000
