"""The verdicts of `python -m bench`: per-1M targets judged on the rate, ratios, met or not,
the busy flag and the table (pure functions, no database)."""
from __future__ import annotations

import pytest

from bench.verdicts import (Row, Target, as_json, busy, per_million_target, ratio,
                            seconds_per_million, table, verdict)

REBUILD = per_million_target(20)


def test_a_per_million_target_is_the_rate_it_implies():
    assert REBUILD.op == ">=" and REBUILD.bound == pytest.approx(50_000)
    assert seconds_per_million(50_000) == pytest.approx(20.0)
    assert seconds_per_million(0) == float("inf")


def test_a_small_run_is_judged_on_its_rate_not_its_time():
    # 100,000 events in 4 s takes far less than 20 s, but is 25,000/s: 40 s per 1M
    slow = Row("rebuild", 100_000 / 4, targets=[REBUILD])
    assert verdict(slow) == "not met"
    # 100,000 events in 1.5 s: 66,667/s, 15 s per 1M
    assert verdict(Row("rebuild", 100_000 / 1.5, targets=[REBUILD])) == "met"


def test_ratio_is_value_over_raw_and_missing_without_either():
    assert ratio(50, 200) == pytest.approx(0.25)
    assert ratio(None, 200) is None and ratio(50, None) is None and ratio(50, 0) is None


def test_every_target_of_a_row_must_be_met():
    inbound = [Target("≥ 50% of COPY", ">=", 0.5, on="ratio"), Target("≥ 20,000/s", ">=", 20_000)]
    assert verdict(Row("in", 30_000, raw=50_000, targets=inbound)) == "met"
    assert verdict(Row("in", 30_000, raw=100_000, targets=inbound)) == "not met"
    assert verdict(Row("in", 10_000, raw=15_000, targets=inbound)) == "not met"


def test_a_target_on_the_measured_rate():
    fresh = [Target("< 250 ms", "<", 250), Target("at ≥ 900/s", ">=", 900, on="rate")]
    assert verdict(Row("f", 100, "ms", rate=950, targets=fresh)) == "met"
    assert verdict(Row("f", 100, "ms", rate=155, targets=fresh)) == "not met"
    assert verdict(Row("f", 300, "ms", rate=950, targets=fresh)) == "not met"


def test_strict_and_inclusive_bounds():
    assert verdict(Row("p50", 2.0, "ms", targets=[Target("≤ 2 ms", "<=", 2)])) == "met"
    assert verdict(Row("p99", 50.0, "ms", targets=[Target("< 50 ms", "<", 50)])) == "not met"


def test_no_target_and_no_value():
    assert verdict(Row("reader", 80_000)) == "—"
    assert verdict(Row("relay", None, targets=[Target("x", ">=", 1)])) == "not measured"


def test_busy_when_the_one_minute_load_is_above_the_cores():
    assert busy(2.01, 2) and not busy(2.0, 2) and not busy(0.3, 2)


def test_the_table_shows_ratio_verdict_and_busy_load():
    rows = [Row("relay events/s", 7_000, raw=200_000, targets=[Target("≥ 50,000/s", ">=", 5e4)],
                load=(3.5, 2.0, 1.0)),
            Row("rebuild", 66_667, raw=200_000, targets=[REBUILD], load=(0.5, 0.4, 0.3),
                shown="15.0 s per 1M")]
    lines = table(rows, cores=2).splitlines()
    assert lines[0].startswith("| figure | value | raw baseline")
    assert len(lines) == 4
    assert "(load 3.50, busy)" in lines[2] and "0.04×" in lines[2] and "not met" in lines[2]
    assert "(load 0.50)" in lines[3] and "15.0 s per 1M" in lines[3]
    assert lines[3].endswith("| met |")


def test_json_carries_the_verdict_and_busy_flag():
    row = Row("relay", 7_000, raw=200_000, targets=[Target("≥ 50,000/s", ">=", 5e4)],
              load=(3.5, 2.0, 1.0))
    data = as_json(row, cores=2)
    assert data["verdict"] == "not met" and data["busy"] is True
    assert data["ratio"] == pytest.approx(0.035)
