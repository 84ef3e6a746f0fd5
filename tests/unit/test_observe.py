"""Parsers for balancer command output, against fixtures laid out like the real commands print.

ipvs_* fixtures follow ipvsadm's printf formats (the host kernel has no IPVS to capture from);
ipvsadm_ln_reference.txt is the homework's text verbatim; ip_* fixtures were captured from
`ip` in a network namespace holding the lab's addresses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.observe.parse import (
    IpAddress,
    IpvsTable,
    ParseError,
    diff_ipvs,
    normalize_forward,
    parse_ip_addr,
    parse_ipvsadm_connections,
    parse_ipvsadm_ln,
    parse_ipvsadm_stats,
    parse_ipvsadm_timeout,
    parse_large_number,
    parse_vrrp_states,
    vip_holders,
    vips_held,
)

FIXTURES = Path(__file__).parent / "fixtures"
VIPS = ["10.10.1.10", "10.10.1.20", "10.10.1.30"]
REALS = ["10.10.1.11", "10.10.1.12"]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def reference_spec() -> list[dict]:
    """The reference lab's IPVS as labctl would describe it."""
    return [
        {
            "vip": vip,
            "port": 80,
            "scheduler": "rr",
            "reals": [{"address": real, "forward": "DR", "weight": 1} for real in REALS],
        }
        for vip in VIPS
    ]


# --- ipvsadm -Ln -----------------------------------------------------------------------------


def test_reference_text_reads_exactly():
    table = parse_ipvsadm_ln(fixture("ipvsadm_ln_reference.txt"))
    assert (table.version, table.size) == ("1.2.1", 4096)
    assert [(s.proto, s.vip, s.port, s.scheduler) for s in table.services] == [("TCP", vip, 80, "rr") for vip in VIPS]
    for service in table.services:
        assert service.flags == [] and service.persistent is None
        assert [(r.address, r.port, r.forward, r.weight, r.active_conn, r.inact_conn) for r in service.reals] == [
            (real, 80, "Route", 1, 0, 0) for real in REALS
        ]


def test_reference_text_matches_the_reference_spec():
    table = parse_ipvsadm_ln(fixture("ipvsadm_ln_reference.txt"))
    assert diff_ipvs(reference_spec(), table) == []


def test_header_only_is_an_empty_table():
    table = parse_ipvsadm_ln(fixture("ipvsadm_ln_empty.txt"))
    assert table.services == [] and table.version == "1.2.1"
    assert parse_ipvsadm_ln("").services == []


def test_missing_header_lines_and_trailing_whitespace_are_fine():
    text = "TCP  10.10.1.10:80 rr   \n  -> 10.10.1.11:80   Route 1 0 0   \n\n"
    table = parse_ipvsadm_ln(text)
    assert table.version is None
    assert table.service("10.10.1.10").reals[0].address == "10.10.1.11"


@pytest.fixture(scope="module")
def mixed() -> IpvsTable:
    return parse_ipvsadm_ln(fixture("ipvsadm_ln_mixed.txt"))


def test_counters_and_other_forward_methods(mixed):
    web = mixed.service("10.10.1.10", 80)
    assert [(r.active_conn, r.inact_conn) for r in web.reals] == [(3, 22), (2, 25)]
    tls = mixed.service("10.10.1.20", 443)
    assert [(r.port, r.forward, r.weight) for r in tls.reals] == [(443, "Masq", 2), (8443, "Tunnel", 0)]


def test_persistent_flags_and_mask(mixed):
    tls = mixed.service("10.10.1.20", 443)
    assert (tls.scheduler, tls.persistent, tls.flags) == ("wlc", 300, ["persistent"])
    hashed = mixed.service("10.10.1.30", 80)
    assert hashed.scheduler == "sh"
    assert hashed.flags == ["sh-fallback", "sh-port", "persistent"]
    assert (hashed.persistent, hashed.netmask) == (60, "255.255.255.0")


def test_service_without_reals(mixed):
    assert mixed.service("10.10.1.30", 80).reals == []


def test_udp_fwm_and_ipv6_services(mixed):
    dns = mixed.service("10.10.1.10", 53, proto="udp")
    assert dns.proto == "UDP" and dns.flags == ["ops"] and dns.reals[0].inact_conn == 4
    marks = [s for s in mixed.services if s.fwmark is not None]
    assert [(s.fwmark, s.scheduler, len(s.reals)) for s in marks] == [(7, "lc", 1), (8, "rr", 0)]
    v6 = mixed.service("2001:db8::10", 80)
    assert v6.reals[0].address == "2001:db8::11"


def test_to_dict_is_json_friendly(mixed):
    data = json.loads(json.dumps(mixed.to_dict()))
    assert data["services"][0]["reals"][0]["forward"] == "Route"


@pytest.mark.parametrize(
    ("text", "message", "line_no"),
    [
        ("  -> 10.10.1.11:80 Route 1 0 0\n", "real server line before any service", 1),
        ("TCP  10.10.1.10:80 rr\nhello world\n", "not an ipvsadm -Ln line", 2),
        ("TCP  10.10.1.10:http rr\n", "not a port number", 1),
        ("TCP  web.example:80 rr\n", "not an IP address", 1),
        ("TCP  10.10.1.10 rr\n", "expected ADDRESS:PORT", 1),
        ("TCP  10.10.1.10:80\n", "without a scheduler", 1),
        ("TCP  10.10.1.10:80 rr\n  -> 10.10.1.11:80 Teleport 1 0 0\n", "unknown forward", 2),
        ("TCP  10.10.1.10:80 rr\n  -> 10.10.1.11:80 Route one 0 0\n", "weight", 2),
        ("TCP  10.10.1.10:80 rr\n  -> 10.10.1.11:80 Route 1 0\n", "real server line needs", 2),
        ("TCP  10.10.1.10:80 rr persistent\n", "'persistent' without a value", 1),
        ("FWM  x rr\n", "firewall mark", 1),
        ("FWM  1\n", "without a scheduler", 1),
    ],
)
def test_garbage_is_rejected_naming_the_line(text, message, line_no):
    with pytest.raises(ParseError, match=message) as caught:
        parse_ipvsadm_ln(text)
    assert caught.value.line_no == line_no
    assert f"line {line_no}:" in str(caught.value)


# --- ipvsadm -Ln --stats ---------------------------------------------------------------------


def test_stats_after_the_curl_loop():
    stats = parse_ipvsadm_stats(fixture("ipvsadm_stats.txt"))
    web = stats.service("10.10.1.10")
    assert (web.counters.conns, web.counters.in_pkts, web.counters.in_bytes) == (50, 300, 19950)
    assert web.counters.out_pkts == 0  # direct routing: the director never sees replies
    assert [r.counters.conns for r in web.reals] == [25, 25]
    assert web.real("10.10.1.12").counters.in_bytes == 9975
    assert stats.service("10.10.1.20").reals == []
    assert not web.counters.approximate


def test_stats_with_k_m_g_t_suffixes():
    stats = parse_ipvsadm_stats(fixture("ipvsadm_stats_large.txt"))
    web = stats.services[0]
    assert web.counters.conns == 99_999_999
    assert web.counters.in_pkts == 123_456_000
    assert web.counters.in_bytes == 98_765_000_000
    assert web.counters.out_bytes == 123_000_000_000_000
    assert web.counters.approximate
    assert web.reals[0].counters.in_pkts == 1_500_000_000
    mark = stats.services[1]
    assert (mark.fwmark, mark.counters.out_bytes, mark.counters.approximate) == (7, 5, False)
    assert json.loads(json.dumps(stats.to_dict()))["services"][0]["in_pkts"] == 123_456_000


@pytest.mark.parametrize(
    ("token", "value"),
    [
        ("0", (0, False)),
        ("99999999", (99999999, False)),
        ("123456K", (123456000, True)),
        ("1500M", (1500000000, True)),
        ("99G", (99 * 10**9, True)),
        ("123T", (123 * 10**12, True)),
    ],
)
def test_large_numbers(token, value):
    assert parse_large_number(token) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("TCP  10.10.1.10:80  1 2 3 4\n", "ADDRESS:PORT|five counters"),
        ("TCP  10.0.0.1:80 1 2 3 4 5\n  -> 1 2 3 4 5\n", "ADDRESS:PORT and five counters"),
        ("TCP  10.10.1.10:80  1 2 3 4 5X\n", "counter"),
        ("  -> 10.10.1.11:80  1 2 3 4 5\n", "before any service"),
        (fixture("ipvsadm_ln_reference.txt"), "not --stats output"),
        ("Conns InPkts\n", "not an ipvsadm --stats line"),
    ],
)
def test_stats_errors(text, message):
    with pytest.raises(ParseError, match=message):
        parse_ipvsadm_stats(text)


# --- ipvsadm -Lnc ----------------------------------------------------------------------------


def test_connections_after_the_curl_loop():
    connections = parse_ipvsadm_connections(fixture("ipvsadm_lnc.txt"))
    assert len(connections) == 6
    first = connections[0]
    assert (first.proto, first.expire_s, first.state) == ("TCP", 112, "FIN_WAIT")
    assert (first.source, first.source_port) == ("10.10.1.100", 45678)
    assert (first.virtual, first.virtual_port) == ("10.10.1.10", 80)
    assert (first.destination, first.destination_port) == ("10.10.1.11", 80)
    assert [c.active for c in connections] == [False, False, True, False, False, False]
    assert connections[-1].expire_s == 6000  # more than 99 minutes: three-digit minutes
    assert connections[4].state == "UDP"


def test_connections_with_persistence_engine():
    [connection] = parse_ipvsadm_connections(fixture("ipvsadm_lnc_persistent.txt"))
    assert (connection.pe_name, connection.pe_data, connection.expire_s) == ("sip", "abc123@client", 150)


def test_connections_empty_listing():
    header = "pro expire state       source             virtual            destination"
    assert parse_ipvsadm_connections(f"IPVS connection entries\n{header}\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("TCP 1:5 FIN_WAIT 10.0.0.1:1 10.0.0.2:80 10.0.0.3:80\n", "mm:ss"),
        ("TCP 01:05 FIN_WAIT 10.0.0.1:1 10.0.0.2:80\n", "expected pro expire"),
        ("TCP 01:05 FIN_WAIT 10.0.0.1 10.0.0.2:80 10.0.0.3:80\n", "ADDRESS:PORT"),
    ],
)
def test_connection_errors(text, message):
    with pytest.raises(ParseError, match=message):
        parse_ipvsadm_connections(text)


# --- ipvsadm -L --timeout --------------------------------------------------------------------


def test_timeout_defaults():
    timeouts = parse_ipvsadm_timeout(fixture("ipvsadm_timeout.txt"))
    assert timeouts == (900, 120, 300)
    assert (timeouts.tcp, timeouts.tcpfin, timeouts.udp) == (900, 120, 300)
    assert timeouts.to_dict() == {"tcp": 900, "tcpfin": 120, "udp": 300}


def test_timeout_after_shortening_fin_wait():
    assert parse_ipvsadm_timeout("\nTimeout (tcp tcpfin udp): 900 10 300  \n").tcpfin == 10


@pytest.mark.parametrize("text", ["", "Timeout: 900 120 300", "Timeout (tcp tcpfin udp): 900 x 300"])
def test_timeout_errors(text):
    with pytest.raises(ParseError, match="Timeout"):
        parse_ipvsadm_timeout(text)


# --- ip addr ---------------------------------------------------------------------------------


def test_ip_o_4_addr_on_a_balancer_holding_two_vips():
    parsed = parse_ip_addr(fixture("ip_o_4_addr_balancer.txt"))
    assert IpAddress("eth1", "10.10.1.10", 24) in parsed
    assert IpAddress("lo", "10.10.1.20", 32) in parsed  # the label lo:vip is not the device
    assert parsed[0] == ("lo", "127.0.0.1", 8)
    assert len(parsed) == 6
    assert vips_held(parsed, VIPS) == {"10.10.1.10", "10.10.1.20", "10.10.1.30"}
    assert vips_held(parsed, ["10.10.1.10/24", "10.10.1.40"]) == {"10.10.1.10"}


def test_plain_ip_addr_and_ipv6_lines_read_the_same():
    plain = parse_ip_addr(fixture("ip_addr_plain.txt"))
    oneline = parse_ip_addr(fixture("ip_o_addr_all.txt"))
    assert plain == oneline
    assert ("lo", "::1", 128) in plain
    assert ("eth1", "10.10.1.2", 24) in plain  # "eth1@p1" in the header
    assert parse_ip_addr("3: eth0@if7    inet 10.0.0.2/24 scope global eth0\n")[0].ifname == "eth0"


def test_vip_holders_spots_two_holders_and_none():
    b1 = [IpAddress("eth1", "10.10.1.2", 24), IpAddress("eth1", "10.10.1.10", 24)]
    b2 = [IpAddress("eth1", "10.10.1.3", 24), IpAddress("eth1", "10.10.1.10", 24)]
    assert vip_holders({"b2": b2, "b1": b1}, ["10.10.1.10/24", "10.10.1.20"]) == {
        "10.10.1.10": ["b1", "b2"],
        "10.10.1.20": [],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garbage\n", "not an `ip addr` line"),
        ("    inet 10.0.0.1/24 scope global eth0\n", "not an `ip addr` line"),
        ("2: eth0    inet 10.0.0.300/24 scope global eth0\n", "not an address/prefix"),
    ],
)
def test_ip_addr_errors(text, message):
    with pytest.raises(ParseError, match=message):
        parse_ip_addr(text)


# --- VRRP states -----------------------------------------------------------------------------


def test_vrrp_states():
    assert parse_vrrp_states(fixture("vrrp_states.txt")) == {"VI_1": "MASTER", "VI_2": "BACKUP", "VI_3": "FAULT"}


def test_vrrp_states_log_latest_wins_and_notify_arguments():
    assert parse_vrrp_states(fixture("vrrp_states_log.txt")) == {"VI_1": "MASTER", "VI_2": "BACKUP", "VI_3": "BACKUP"}
    assert parse_vrrp_states("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [("VI_1 SLEEPING\n", "unknown VRRP state"), ("VI_1\n", "expected"), ("VI_1 MASTER extra words\n", "expected")],
)
def test_vrrp_state_errors(text, message):
    with pytest.raises(ParseError, match=message):
        parse_vrrp_states(text)


# --- diff_ipvs -------------------------------------------------------------------------------

REFERENCE_TEXT = fixture("ipvsadm_ln_reference.txt")


def edited(old: str, new: str, count: int = 1) -> IpvsTable:
    assert old in REFERENCE_TEXT
    return parse_ipvsadm_ln(REFERENCE_TEXT.replace(old, new, count))


def test_diff_identical_tables_and_counters_ignored():
    table = parse_ipvsadm_ln(REFERENCE_TEXT)
    busy = edited("Route   1      0          0", "Route   1      7          50", 6)
    assert diff_ipvs(table, busy) == []
    assert diff_ipvs(table.to_dict(), busy) == []
    assert diff_ipvs(table.services, busy) == []


def test_diff_missing_service():
    actual = parse_ipvsadm_ln(REFERENCE_TEXT.split("TCP  10.10.1.30:80")[0])
    assert diff_ipvs(reference_spec(), actual) == ["missing service TCP 10.10.1.30:80"]


def test_diff_wrong_scheduler():
    actual = edited("TCP  10.10.1.20:80 rr", "TCP  10.10.1.20:80 wlc")
    assert diff_ipvs(reference_spec(), actual) == ["TCP 10.10.1.20:80: scheduler is wlc, expected rr"]


def test_diff_missing_real_wrong_forward_wrong_weight():
    lines = REFERENCE_TEXT.splitlines()
    lines[4] = "  -> 10.10.1.11:80                Masq    1      0          0"
    del lines[5]  # 10.10.1.10:80 loses 10.10.1.12
    lines[6] = "  -> 10.10.1.11:80                Route   0      0          0"
    assert diff_ipvs(reference_spec(), parse_ipvsadm_ln("\n".join(lines))) == [
        "TCP 10.10.1.10:80 -> 10.10.1.11:80: forward is Masq, expected Route",
        "TCP 10.10.1.10:80: missing real 10.10.1.12:80",
        "TCP 10.10.1.20:80 -> 10.10.1.11:80: weight is 0, expected 1",
    ]


def test_diff_extras_and_persistence():
    actual = parse_ipvsadm_ln(
        REFERENCE_TEXT + "TCP  10.10.1.40:80 rr\n" + "  -> 10.10.1.13:80                Route   1      0          0\n"
    )
    actual.services[0].reals.append(actual.services[3].reals[0])
    actual.services[1].persistent = 300
    spec = reference_spec()
    spec[1]["persistent"] = None
    assert diff_ipvs(spec, actual) == [
        "TCP 10.10.1.10:80: unexpected real 10.10.1.13:80",
        "TCP 10.10.1.20:80: persistence is 300 s, expected off",
        "unexpected service TCP 10.10.1.40:80",
    ]
    assert diff_ipvs(spec, actual, allow_extra=True) == [
        "TCP 10.10.1.20:80: persistence is 300 s, expected off",
    ]


def test_diff_spec_keys_left_out_are_not_compared():
    actual = edited("TCP  10.10.1.10:80 rr", "TCP  10.10.1.10:80 wlc")
    spec = [{"vip": "10.10.1.10/24", "reals": [{"address": real} for real in REALS]}]
    assert diff_ipvs(spec, actual, allow_extra=True) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [("DR", "Route"), ("-g", "Route"), ("route", "Route"), ("NAT", "Masq"), ("TUN", "Tunnel"), ("Masq", "Masq")],
)
def test_forward_aliases(name, expected):
    assert normalize_forward(name) == expected


def test_forward_alias_unknown():
    with pytest.raises(ValueError, match="unknown forward method"):
        normalize_forward("carrier-pigeon")


def test_proc_net_ip_vs_reads_as_ipvsadm_ln():
    from labctl.observe.parse import parse_ipvsadm_ln

    proc = (
        "IP Virtual Server version 1.2.1 (size=4096)\n"
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
        "TCP  0A0A010A:0050 rr \n"
        "  -> 0A0A010C:0050      Route   1      0          3         \n"
        "  -> 0A0A010B:0050      Route   1      2          0         \n"
        "TCP  0A0A0114:0050 sh persistent 300 FFFFFFFF\n"
    )
    table = parse_ipvsadm_ln(proc)
    first = table.service("10.10.1.10", 80)
    assert first is not None and first.scheduler == "rr"
    assert [(r.address, r.port, r.forward, r.weight, r.active_conn, r.inact_conn) for r in first.reals] == [
        ("10.10.1.12", 80, "Route", 1, 0, 3),
        ("10.10.1.11", 80, "Route", 1, 2, 0),
    ]
    second = table.service("10.10.1.20", 80)
    assert second is not None and second.persistent == 300
    assert table.version == "1.2.1" and table.size == 4096
