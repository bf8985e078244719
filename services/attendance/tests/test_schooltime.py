from datetime import date, time, timedelta

import pytest

from torget_attendance.schooltime import NonexistentLocalTime, day_bounds, local_date, to_utc
from conftest import at


def test_march_change_day_has_23_hours():
    start, end = day_bounds(date(2026, 3, 29), date(2026, 3, 29))

    assert end - start == timedelta(hours=23)


def test_october_change_day_has_25_hours():
    start, end = day_bounds(date(2026, 10, 25), date(2026, 10, 25))

    assert end - start == timedelta(hours=25)


@pytest.mark.parametrize("moment, expected", [
    ("2026-03-28T23:30:00+00:00", date(2026, 3, 29)),
    ("2026-10-24T22:30:00+00:00", date(2026, 10, 25)),
    ("2026-10-25T22:59:00+00:00", date(2026, 10, 25)),
    ("2026-10-25T23:00:00+00:00", date(2026, 10, 26)),
])
def test_local_date_of_utc_moment(moment, expected):
    assert local_date(at(moment)) == expected


def test_skipped_hour_is_rejected():
    with pytest.raises(NonexistentLocalTime):
        to_utc(date(2026, 3, 29), time(2, 30))


def test_repeated_hour_takes_summer_time():
    assert to_utc(date(2026, 10, 25), time(2, 30)) == at("2026-10-25T00:30:00+00:00")
