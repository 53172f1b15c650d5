"""``Runtime`` refuses durations that cannot work (red team 15, hole 02).

``Runtime(lease_ttl=inf)`` was accepted (and ``tether worker --lease-ttl inf``): the
lease never expired, so a dead worker's runs were never taken over by another; ``nan``
compared false everywhere, and 0 or less had every run taken over while it was driven.
Now ``lease_ttl`` must be a finite number of seconds above 0 and at most a day, and the
intervals finite and above 0: a :class:`~tether.exceptions.ConfigError` says so before
anything is opened.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tether import Runtime
from tether.exceptions import ConfigError, UserError


@pytest.mark.parametrize("ttl", [math.inf, math.nan, 0, 0.0, -1, -math.inf, 1e308, 86_401])
def test_a_lease_ttl_that_cannot_work_is_refused(tmp_path: Path, ttl: float) -> None:
    db = tmp_path / "never.db"
    with pytest.raises(ConfigError, match="lease_ttl") as refused:
        Runtime(f"sqlite:///{db}", lease_ttl=ttl)
    assert isinstance(refused.value, UserError)
    assert not db.exists()


@pytest.mark.parametrize("option", ["claim_interval", "timer_interval"])
@pytest.mark.parametrize("seconds", [math.inf, math.nan, 0, -1])
def test_an_interval_that_cannot_work_is_refused(
    tmp_path: Path, option: str, seconds: float
) -> None:
    with pytest.raises(ConfigError, match=option):
        Runtime(f"sqlite:///{tmp_path}/never.db", **{option: seconds})


async def test_a_finite_lease_ttl_is_kept_and_used(tmp_path: Path) -> None:
    async with Runtime(f"sqlite:///{tmp_path}/t.db", lease_ttl=86_400) as rt:
        assert rt.lease_ttl == 86_400
    async with Runtime(f"sqlite:///{tmp_path}/t.db", lease_ttl=0.2, claim_interval=0.1) as rt:
        assert rt.lease_ttl == 0.2
