"""The soak bench's bookkeeping: error kinds, RSS growth and slope, cycle percentiles."""

from __future__ import annotations

import pytest

from hrl_autoscaler.tools.bench.soak import SoakResult, _errors_by_kind, _summarise

LOG = """\
2026-12-05 13:39:37,688 WARNING urllib3.connectionpool: Retrying (Retry(total=2)) after 111
2026-12-05 13:39:38,688 WARNING urllib3.connectionpool: Retrying (Retry(total=1)) after 111
2026-12-05 13:39:39,691 WARNING hrl_autoscaler.pipeline: soak/app-007: state not saved (retrying)
2026-12-05 13:39:40,691 INFO    hrl_autoscaler.pipeline: soak/app-007: executors=2->4
2026-12-05 13:39:41,691 ERROR   kopf._cogs.clients.watching: Request attempt #1/9 failed
"""


def test_errors_are_grouped_by_logger_and_message_shape_numbers_masked() -> None:
    kinds = _errors_by_kind(LOG)
    assert kinds["WARNING urllib3.connectionpool: Retrying (Retry(total=N)) after N"] == 2
    assert kinds["WARNING hrl_autoscaler.pipeline: soak/app-N: state not saved (retrying)"] == 1
    assert sum(kinds.values()) == 4  # INFO lines are not errors


def test_rss_growth_compares_the_last_tenth_with_the_first() -> None:
    result = SoakResult(apps=1, minutes=1.0, decision_interval_s=3.0)
    rss = [(float(t), 100.0 + t / 100) for t in range(0, 3600, 36)]  # +36 MB over the hour
    _summarise(result, rss, [0.5] * 98 + [2.0, 9.0])
    assert result.rss_slope_mb_per_hour == pytest.approx(36.0, rel=0.01)
    assert result.rss_slope_second_half_mb_per_hour == pytest.approx(36.0, rel=0.01)
    assert len(result.rss_mb_by_minute) == 60
    assert 30.0 < result.rss_growth_pct < 36.0
    assert result.cycle_seconds_p50 == 0.5
    assert result.cycle_seconds_max == 9.0
    assert result.passed  # p50 within the 3 s interval, nothing lost, still running
