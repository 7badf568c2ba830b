"""The verdict vocabulary: intervals make a check pass only when the effect is detected; controls that
misbehave make a verdict inconclusive; nothing is set by hand."""

from __future__ import annotations

import math

import pytest

from empirical.registry.core import Check, Control, verdict_kind, verdict_of


def _c(measured, op=">", threshold=0.0, interval=None, name="effect"):
    return Check(name, measured, op, threshold, "test", interval=interval)


@pytest.mark.parametrize("op,interval,status", [
    (">", (0.1, 0.5), "pass"), (">", (-0.5, -0.1), "fail"), (">", (-0.1, 0.5), "undetermined"),
    (">=", (0.0, 0.5), "pass"), ("<", (-0.5, -0.1), "pass"), ("<", (0.1, 0.5), "fail"),
    ("<", (-0.1, 0.1), "undetermined"), ("<=", (-1.0, 0.0), "pass"),
    (">", (math.nan, 0.5), "fail"),
])
def test_interval_status(op, interval, status):
    assert _c(0.2, op, 0.0, interval).status == status


def test_no_interval_is_a_plain_comparison_and_nan_never_passes():
    assert _c(1.0).status == "pass" and _c(-1.0).status == "fail" and _c(math.nan).status == "fail"


def test_interval_must_be_ordered():
    with pytest.raises(ValueError, match="interval"):
        _c(0.0, interval=(1.0, -1.0))


def test_a_flat_curve_is_not_a_detected_decrease():
    """The non-rejection trap: 'no significant increase' passes a flat curve; 'decrease detected' does not."""
    slope_ci = (-0.02, 0.02)  # a flat curve: the interval of the slope straddles zero
    assert _c(0.0, "<", 0.0, slope_ci).status == "undetermined"
    assert verdict_of([_c(0.0, "<", 0.0, slope_ci)]).startswith("inconclusive: effect interval")


def _pos(ok: bool) -> Control:
    return Control("pos", "positive", "holds by construction", [_c(1.0 if ok else -1.0)])


def _neg(fails: bool, undetermined: bool = False) -> Control:
    check = _c(0.0, interval=(-0.1, 0.1)) if undetermined else _c(-1.0 if fails else 1.0)
    return Control("neg", "negative", "false by construction", [check])


@pytest.mark.parametrize("model_ok,pos_ok,neg_fails,expected", [
    (True, True, True, "verified"),
    (False, True, True, "not reproduced"),
    (True, False, True, "inconclusive"),
    (False, False, True, "inconclusive"),
    (True, True, False, "inconclusive"),
    (False, True, False, "inconclusive"),
])
def test_controls_decide_whether_the_instrument_can_read(model_ok, pos_ok, neg_fails, expected):
    v = verdict_of([_c(1.0 if model_ok else -1.0)], [_pos(pos_ok), _neg(neg_fails)])
    assert verdict_kind(v) == expected
    if expected == "inconclusive":
        assert "control" in v


def test_a_negative_control_that_is_merely_undetermined_has_not_failed():
    v = verdict_of([_c(1.0)], [_pos(True), _neg(False, undetermined=True)])
    assert v.startswith("inconclusive: negative control neg passed")


def test_control_roles_are_checked():
    with pytest.raises(ValueError, match="role"):
        Control("x", "neutral", "", [_c(1.0)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="checks"):
        Control("x", "positive", "", [])


def test_json_of_a_control_carries_its_checks_and_behaviour():
    d = _pos(True).as_dict()
    assert d["behaved"] is True and d["checks"][0]["status"] == "pass" and d["role"] == "positive"


def test_an_unmet_precondition_makes_the_verdict_inconclusive_not_negative():
    at_chance = Check("model_above_chance", 0.01, ">", 0.05, "the experiment needs a model that learned",
                      interval=(-0.001, 0.02), precondition=True)
    v = verdict_of([_c(-1.0), at_chance])
    assert v.startswith("inconclusive: precondition model_above_chance not met")
    ok = Check("model_above_chance", 0.3, ">", 0.05, "", interval=(0.2, 0.4), precondition=True)
    assert verdict_of([_c(-1.0), ok]) == "not reproduced" and verdict_of([_c(1.0), ok]) == "verified"
    assert ok.as_dict()["precondition"] is True and "precondition" not in _c(1.0).as_dict()
