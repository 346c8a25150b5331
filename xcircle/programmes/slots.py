"""Weekly time slots: a participant's working hours as a bitmask of the week's UTC hours.

Bit h (0..167) is the hour starting h hours after Monday 00:00 UTC. A participant is
available in an hour that lies wholly within 09:00–18:00 on a weekday in their own zone,
so people in UTC+5:30 get the hours that start at :00 UTC (10:30 local) and so on. The
week wraps around (Sunday 23:00 UTC is Monday 09:00 in UTC+10). Offsets are taken in a
reference week (`REFERENCE_WEEK`, a Monday): daylight saving moves a circle's hour by one
for some members some of the year, as any recurring meeting across zones does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WORK_START = 9 * 60  # minutes after local midnight
WORK_END = 18 * 60
HOURS = 7 * 24
REFERENCE_WEEK = date(2026, 3, 2)  # a Monday before the northern DST switch
WORKING_HOURS = "09:00–18:00 local, Monday to Friday"


@lru_cache(maxsize=1024)
def zone_mask(tz: str, week: date = REFERENCE_WEEK) -> int:
    """The hours of the week (bits, see the module) within working hours in zone `tz`."""
    zone = ZoneInfo(tz)
    start = datetime(week.year, week.month, week.day, tzinfo=UTC)
    mask = 0
    for h in range(HOURS):
        local = (start + timedelta(hours=h)).astimezone(zone)
        minute = local.hour * 60 + local.minute
        if local.weekday() < 5 and WORK_START <= minute and minute + 60 <= WORK_END:
            mask |= 1 << h
    return mask


def pick(mask: int) -> int | None:
    """The slot a circle meets in: on the first day with any shared hour, the middle one
    (away from the edges of someone's day). None if `mask` is empty."""
    if not mask:
        return None
    first = (mask & -mask).bit_length() - 1
    day = first // 24
    hours = [h for h in range(day * 24, day * 24 + 24) if mask >> h & 1]
    return hours[len(hours) // 2]


def name(slot: int) -> str:
    """ "Tue 15:00 UTC"."""
    return f"{DAYS[slot // 24]} {slot % 24:02d}:00 UTC"


def label(mask: int) -> str | None:
    """The name of the slot `pick` chooses from `mask`, or None."""
    slot = pick(mask)
    return None if slot is None else name(slot)


def centre(mask: int) -> int:
    """Where in the UTC day a zone's working hours begin (0..23): zones sort by it."""
    first = (mask & -mask).bit_length() - 1
    return first % 24 if mask else 0
