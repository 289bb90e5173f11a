"""Temperature and alpha schedules over rounds."""

from __future__ import annotations

import pytest

from fedkd.config import FedKDConfig
from fedkd.distill.schedules import RoundValues, round_values, scheduled_value


def test_linear_schedule_goes_from_start_to_final_evenly() -> None:
    values = [scheduled_value("linear", start=8.0, final=2.0, server_round=r, num_rounds=4) for r in range(1, 5)]
    assert values == pytest.approx([8.0, 6.0, 4.0, 2.0])


def test_cosine_schedule_hits_both_ends_and_the_midpoint() -> None:
    values = [scheduled_value("cosine", start=8.0, final=2.0, server_round=r, num_rounds=5) for r in range(1, 6)]
    assert values[0] == pytest.approx(8.0) and values[-1] == pytest.approx(2.0)
    assert values[2] == pytest.approx(5.0)
    assert values[1] > 6.5  # slow start: above the linear value 6.5
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_constant_schedule_and_out_of_range_rounds_stay_in_bounds() -> None:
    assert scheduled_value("constant", start=4.0, final=1.0, server_round=3, num_rounds=5) == 4.0
    assert scheduled_value("linear", start=4.0, final=1.0, server_round=0, num_rounds=5) == 4.0
    assert scheduled_value("linear", start=4.0, final=1.0, server_round=9, num_rounds=5) == 1.0
    assert scheduled_value("cosine", start=4.0, final=1.0, server_round=1, num_rounds=1) == 4.0


def test_unknown_schedule_raises_naming_it() -> None:
    with pytest.raises(ValueError, match="'step'"):
        scheduled_value("step", start=1.0, final=0.0, server_round=1, num_rounds=2)


def test_round_values_follow_both_schedules() -> None:
    config = FedKDConfig.from_mapping({"num-server-rounds": 3, "kd-temperature": 8.0,
                                       "kd-temperature-schedule": "linear", "kd-temperature-final": 2.0,
                                       "kd-alpha": 0.1, "kd-alpha-schedule": "cosine", "kd-alpha-final": 0.9})
    assert [round_values(config, r).kd_temperature for r in (1, 2, 3)] == pytest.approx([8.0, 5.0, 2.0])
    assert [round_values(config, r).kd_alpha for r in (1, 2, 3)] == pytest.approx([0.1, 0.5, 0.9])


def test_round_values_travel_under_their_own_keys_and_come_back_equal() -> None:
    values = RoundValues(kd_temperature=3.5, kd_alpha=0.25)

    record = values.to_record()

    assert set(record) == {"round-kd-temperature", "round-kd-alpha"}
    assert RoundValues.from_record({**record, "kd-temperature": 8.0}) == values


def test_round_values_missing_from_a_message_raise_naming_the_key() -> None:
    with pytest.raises(ValueError, match="round-kd-alpha"):
        RoundValues.from_record({"round-kd-temperature": 2.0})
