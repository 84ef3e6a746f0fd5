"""Capacity planner: the homework's numbers, cases worked out by hand, and the error messages."""

from __future__ import annotations

import json
from itertools import combinations_with_replacement, permutations

import pytest

from labctl.model.planner import (
    PlanError,
    VipOrder,
    build_matrix,
    evaluate,
    failure_sets,
    format_rate,
    min_balanced_vips,
    parse_rate,
    plan_capacity,
)

G = 1e9
B3 = ["b1", "b2", "b3"]


def approx_loads(loads: dict[str, float]) -> dict[str, float]:
    return {name: pytest.approx(value) for name, value in loads.items()}


def assert_even_everywhere(matrix: list[VipOrder], balancers: list[str], tolerate: int) -> None:
    for failed in failure_sets(balancers, tolerate):
        loads = evaluate(matrix, balancers, 1.0, failed)
        assert max(loads.values()) == pytest.approx(min(loads.values())), failed


def assert_no_ties(matrix: list[VipOrder], balancers: list[str]) -> None:
    for vip in matrix:
        assert sorted(vip.priorities) == sorted(balancers)
        assert len(set(vip.priorities.values())) == len(balancers)
        assert max(vip.priorities, key=vip.priorities.__getitem__) == vip.master == vip.order[0]
        ranked = sorted(vip.priorities, key=vip.priorities.__getitem__, reverse=True)
        assert tuple(ranked) == vip.order


# --- the homework: 3 balancers, 1.5 Gbit/s in, 1 Gbit/s links, lose one ----------------------


@pytest.fixture(scope="module")
def homework():
    return plan_capacity(3, "1.5Gbit", "1Gbit", tolerate=1)


def test_homework_needs_six_vips(homework):
    assert homework.vips == 6
    assert [c.vips for c in homework.candidates] == [3, 4, 5, 6]
    assert [c.ok for c in homework.candidates] == [False, False, False, True]


def test_homework_three_vips_put_a_survivor_at_exactly_the_link(homework):
    three = homework.candidates[0]
    assert three.worst_load_bps == pytest.approx(1.0 * G)
    assert three.worst_pct_of_link == pytest.approx(100.0)
    assert three.fits is False  # 100 % of the link is degradation, not "fits"
    assert "1 Gbit/s" in three.reason and "100 %" in three.reason


def test_homework_four_vips_fit_but_are_uneven(homework):
    four = homework.candidates[1]
    assert four.fits is True
    assert four.balanced is False
    assert sorted(four.normal_loads.values()) == pytest.approx([0.375 * G, 0.375 * G, 0.75 * G])
    assert four.worst_load_bps == pytest.approx(0.75 * G)  # stays under the link after a loss
    assert "multiple of 6" in four.reason


def test_homework_five_vips_are_uneven(homework):
    five = homework.candidates[2]
    assert five.balanced is False
    assert five.fits is True  # 3 of 5 VIPs on one survivor: 0.9 Gbit/s


def test_homework_six_vips_split_evenly_before_and_after_any_loss(homework):
    six = homework.chosen
    assert six.normal_loads == approx_loads({"b1": 0.5 * G, "b2": 0.5 * G, "b3": 0.5 * G})
    for lost in B3:
        loads = evaluate(homework.matrix, B3, 1.5 * G, frozenset({lost}))
        assert sorted(loads.values()) == pytest.approx([0.75 * G, 0.75 * G])
    assert six.worst_pct_of_link == pytest.approx(75.0)


def test_homework_matrix_two_masters_each_with_backups_on_different_peers(homework):
    for name in B3:
        mastered = [vip for vip in homework.matrix if vip.master == name]
        assert len(mastered) == 2
        assert {vip.order[1] for vip in mastered} == set(B3) - {name}
    assert_no_ties(homework.matrix, B3)
    assert homework.matrix[0].priorities == {"b1": 102, "b2": 101, "b3": 100}


def test_homework_explanation_says_why(homework):
    text = homework.explanation
    assert "3 VIPs" in text and "100 %" in text
    assert "6 VIPs work" in text and "0.75 Gbit/s" in text


def test_to_dict_is_json_friendly(homework):
    data = json.loads(json.dumps(homework.to_dict()))
    assert data["vips"] == 6
    assert len(data["matrix"]) == 6
    assert data["matrix"][0] == {
        "index": 1,
        "master": "b1",
        "order": ["b1", "b2", "b3"],
        "priorities": {"b1": 102, "b2": 101, "b3": 100},
    }
    assert [c["vips"] for c in data["candidates"]] == [3, 4, 5, 6]
    assert data["candidates"][0]["ok"] is False


# --- other cases, worked out by hand ---------------------------------------------------------


def test_two_balancers_one_failure_need_two_vips():
    # One VIP each, each backing up the other: 0.45 normally, the survivor takes 0.9 < 1.
    result = plan_capacity(2, "0.9G", "1G", tolerate=1)
    assert result.vips == 2
    assert [vip.order for vip in result.matrix] == [("b1", "b2"), ("b2", "b1")]
    assert result.chosen.worst_load_bps == pytest.approx(0.9 * G)


def test_four_balancers_one_failure_need_twelve_vips():
    # Even after losing x: each of the 3 peers takes 1/3 of x's VIPs, so x masters a multiple
    # of 3 and there are 4 masters: N = 4 * 3 = 12, one VIP per ordered (master, backup) pair.
    balancers = ["b1", "b2", "b3", "b4"]
    result = plan_capacity(balancers, "2G", "1G", tolerate=1)
    assert result.vips == 12
    pairs = {(vip.master, vip.order[1]) for vip in result.matrix}
    assert len(pairs) == 12
    assert result.chosen.worst_load_bps == pytest.approx(2 * G / 3)
    assert_even_everywhere(result.matrix, balancers, 1)


def test_four_balancers_two_failures_need_twelve_vips():
    # Losing one: 1 VIP per ordered pair again (12). Losing {x, y}: survivors u, v have 3 + 1 + 1
    # and must reach 6, so (x, y, .) and (y, x, .) go to different survivors: 12 still works.
    balancers = ["b1", "b2", "b3", "b4"]
    result = plan_capacity(balancers, "1.5G", "1G", tolerate=2)
    assert result.vips == 12
    assert_even_everywhere(result.matrix, balancers, 2)
    assert result.chosen.worst_load_bps == pytest.approx(0.75 * G)
    for x, y in [("b1", "b2"), ("b1", "b3"), ("b2", "b4")]:
        thirds = {vip.order[2] for vip in result.matrix if set(vip.order[:2]) == {x, y}}
        assert len(thirds) == 2


def test_no_failure_tolerated_needs_one_vip_per_balancer():
    result = plan_capacity(3, "2.5G", "1G", tolerate=0)
    assert result.vips == 3
    assert result.chosen.worst_load_bps == pytest.approx(2.5 * G / 3)


def test_single_balancer():
    assert plan_capacity(1, "1G", "2G", tolerate=0).vips == 1


@pytest.mark.parametrize(
    ("count", "tolerate", "expected"),
    [
        (2, 1, 2),
        (3, 0, 3),
        (3, 1, 6),
        (3, 2, 6),
        (4, 1, 12),
        (4, 2, 12),
        (4, 3, 12),
        (5, 1, 20),
        (5, 2, 60),
        (6, 2, 60),
        (6, 3, 60),
    ],
)
def test_min_balanced_vips(count, tolerate, expected):
    assert min_balanced_vips(count, tolerate) == expected


@pytest.mark.parametrize(("count", "tolerate"), [(3, 1), (3, 2), (4, 1), (4, 2), (4, 3), (5, 2), (6, 2)])
def test_construction_reaches_the_lower_bound(count, tolerate):
    balancers = [f"n{i}" for i in range(count)]
    n_vips = min_balanced_vips(count, tolerate)
    matrix = build_matrix(balancers, n_vips, tolerate)
    assert_even_everywhere(matrix, balancers, tolerate)
    assert_no_ties(matrix, balancers)
    assert [vip.index for vip in matrix] == list(range(1, n_vips + 1))


def test_no_smaller_matrix_is_even_for_three_balancers_brute_force():
    # Every multiset of orders with N = 3, 4, 5 VIPs is uneven somewhere: the bound is tight.
    for n_vips in (3, 4, 5):
        for orders in combinations_with_replacement(permutations(B3), n_vips):
            matrix = [VipOrder.from_order(i + 1, order) for i, order in enumerate(orders)]
            assert not all(
                max(loads.values()) - min(loads.values()) < 1e-9
                for failed in failure_sets(B3, 1)
                for loads in [evaluate(matrix, B3, 1.0, failed)]
            )


def test_headroom_lowers_the_limit():
    # 1.2 Gbit/s over 3 with 3 VIPs: a survivor takes 0.8. Without headroom that fits (0.8 < 1);
    # with 25 % headroom the limit is 0.75, so it does not.
    plain = plan_capacity(3, "1.2G", "1G")
    assert plain.candidates[0].fits is True
    tight = plan_capacity(3, "1.2G", "1G", headroom_pct=25)
    assert tight.candidates[0].fits is False
    assert "headroom" in tight.candidates[0].reason
    assert tight.vips == 6  # the even spread puts 0.6 on each survivor, under 0.75
    assert tight.limit_bps == pytest.approx(0.75 * G)


@pytest.mark.parametrize("headroom", [25, 30])
def test_headroom_can_make_the_homework_impossible(headroom):
    # Even spread after a loss is 0.75 Gbit/s: not strictly under 0.75 or 0.7.
    with pytest.raises(PlanError, match="cannot be carried"):
        plan_capacity(3, "1.5G", "1G", headroom_pct=headroom)


def test_homework_with_twenty_percent_headroom_still_six():
    assert plan_capacity(3, "1.5G", "1G", headroom_pct=20).vips == 6


def test_custom_names_and_evaluate_with_everyone_down():
    names = ["lb-a", "lb-b", "lb-c"]
    result = plan_capacity(names, 1.5 * G, 1 * G)
    assert set(result.chosen.normal_loads) == set(names)
    assert evaluate(result.matrix, names, 1.5 * G, frozenset(names)) == {}


def test_evaluate_follows_the_priority_order():
    matrix = [
        VipOrder.from_order(1, ("b1", "b2", "b3")),
        VipOrder.from_order(2, ("b2", "b3", "b1")),
    ]
    assert evaluate(matrix, B3, 2.0, frozenset()) == {"b1": 1.0, "b2": 1.0, "b3": 0.0}
    assert evaluate(matrix, B3, 2.0, frozenset({"b2"})) == {"b1": 1.0, "b3": 1.0}
    assert evaluate(matrix, B3, 2.0, frozenset({"b1", "b2"})) == {"b3": 2.0}


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"balancers": 0}, "at least one balancer"),
        ({"balancers": -2}, "at least one balancer"),
        ({"balancers": []}, "at least one balancer"),
        ({"balancers": ["b1", "b1"]}, "unique"),
        ({"tolerate": 3}, "cannot tolerate 3 failures with 3 balancers"),
        ({"tolerate": -1}, "tolerate must be 0 or more"),
        ({"traffic_bps": 0}, "traffic: a rate must be a positive"),
        ({"traffic_bps": -1e9}, "traffic: a rate must be a positive"),
        ({"link_bps": "0G"}, "link: a rate must be a positive"),
        ({"link_bps": "fast"}, "link: not a rate"),
        ({"traffic_bps": "2G"}, "cannot be carried by any number of VIPs"),
        ({"traffic_bps": "3G"}, "cannot be carried by any number of VIPs"),
        ({"headroom_pct": -1}, "headroom must be between 0 and 99"),
        ({"headroom_pct": 100}, "headroom must be between 0 and 99"),
        ({"max_vips": 5}, "needs 6 VIPs"),
    ],
)
def test_plan_errors(kwargs, message):
    args = {"balancers": 3, "traffic_bps": "1.5G", "link_bps": "1G", **kwargs}
    with pytest.raises(PlanError, match=message):
        plan_capacity(**args)


def test_bound_too_small_for_many_failures():
    with pytest.raises(PlanError, match="needs 60 VIPs.*bound of 59"):
        plan_capacity(6, "1G", "1G", tolerate=2, max_vips=59)


def test_build_matrix_rejects_nonsense():
    with pytest.raises(PlanError):
        build_matrix(B3, 0, 1)
    with pytest.raises(PlanError):
        build_matrix(B3, 6, 3)


# --- rates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("1.5Gbit", 1.5e9),
        ("1.5 Gbit/s", 1.5e9),
        ("1500Mbit", 1.5e9),
        ("500mbps", 5e8),
        ("1G", 1e9),
        ("100M", 1e8),
        ("10kbit", 1e4),
        ("10Kbit", 1e4),
        ("1500000000", 1.5e9),
        ("2.5e9", 2.5e9),
        (" 1 Gbps ", 1e9),
        ("1Gb", 1e9),
        ("1 gbit/s", 1e9),
        ("1Tbit", 1e12),
        ("800bit", 800.0),
        ("1Mibit", 1048576.0),
        (".5G", 5e8),
        (1e9, 1e9),
        (100, 100.0),
    ],
)
def test_parse_rate_forms(text, bps):
    assert parse_rate(text) == pytest.approx(bps)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a rate"),
        ("fast", "not a rate"),
        ("1,5G", "not a rate"),
        ("-1G", "not a rate"),
        ("1 G bit", "not a rate"),
        ("1Xbit", "unknown rate unit"),
        ("1Gbitz", "unknown rate unit"),
        ("1GB", "byte rate"),
        ("100MB/s", "byte rate"),
        ("1 Gbytes", "byte rate"),
        ("0", "positive"),
        ("0Mbit", "positive"),
        (float("nan"), "positive"),
        (float("inf"), "positive"),
        (True, "not a rate"),
    ],
)
def test_parse_rate_rejects_nonsense(text, message):
    with pytest.raises(PlanError, match=message):
        parse_rate(text)


@pytest.mark.parametrize(
    ("bps", "unit", "text"),
    [
        (1.5e9, None, "1.5 Gbit/s"),
        (1e9, None, "1 Gbit/s"),
        (7.5e8, None, "750 Mbit/s"),
        (7.5e8, "Gbit", "0.75 Gbit/s"),
        (1e4, None, "10 kbit/s"),
        (12.0, None, "12 bit/s"),
        (2e12, None, "2 Tbit/s"),
        (1e9 / 3, "Gbit", "0.333 Gbit/s"),
    ],
)
def test_format_rate(bps, unit, text):
    assert format_rate(bps, unit) == text


def test_format_rate_round_trips():
    assert parse_rate(format_rate(1.5e9)) == 1.5e9
