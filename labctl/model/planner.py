"""Capacity planner: how many VIPs, and which priority matrix (homework question 3).

The model. B balancers, each behind a link of L bit/s, share incoming traffic T spread equally over
N VIPs (T/N each). Every VIP has a priority order over all balancers (master first, then backups);
when balancers fail, a VIP moves to the first balancer of its order that survives. A plan is good
when, for every failure set F with |F| <= tolerate (the empty set is normal operation):

  (a) capacity: every survivor carries strictly less than L * (1 - headroom/100). Exactly 100 %
      of the link is degradation already.
  (b) evenness: all survivors carry the same load (normal operation included).

Why N must be a multiple of M = lcm over k = 0..tolerate of B * C(B-1, k). Under (b), after k
failures each survivor holds N/(B-k) VIPs. Induction on k shows that, for every k-set F of failed
balancers and every survivor z, the number of VIPs whose first k entries are F (in any order) and
whose (k+1)-th entry is z must be the same, N / (B * C(B-1, k)): the loads under the subsets of F
are already equal, so the VIPs that were on F must fall evenly onto the survivors. Those counts are
whole numbers only when N is a multiple of every B * C(B-1, k).

Why M VIPs are enough (the construction in build_matrix). Build the orders one position at a
time. At position k, group the VIPs by the set S of balancers already in their prefix; failing
exactly S sends that group to its next entry, so hand the group out to the balancers outside S by
water-filling: each VIP goes to the survivor that carries the least under failure set S so far.
When N is a multiple of M every group splits exactly evenly, so (b) holds for every failure set
up to `tolerate`; when it is not, water-filling still keeps the loads close, which is what the
candidate table shows for the counts below M. Entries after position tolerate+1 are never reached
by a tolerated failure; they follow the balancers' cyclic order after the master.

plan_capacity walks N = B, B+1, ... and checks each matrix against (a) and (b) over every failure
set exhaustively (no sampling); the first N that passes is M when the traffic fits at all. With
(b) every survivor carries T/(B - tolerate) after the worst tolerated failure, so the traffic fits
exactly when T < (B - tolerate) * L * (1 - headroom/100); no N can do better than an even spread.
The count is bounded by max_vips (default 255: one VRRP instance per VIP, and VRRP router ids are
1..255 on a segment).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from labctl.errors import BadInput

BASE_PRIORITY = 100
DEFAULT_MAX_VIPS = 255  # VRRP virtual_router_id is one byte (1..255) per segment
_REL_EPS = 1e-9  # rates are floats: "equal" and "strictly under" allow this relative slack


class PlanError(BadInput, ValueError):
    """The planning question has no answer, or its inputs make no sense."""


# --- rates ------------------------------------------------------------------------------------

_RATE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?\s*([A-Za-z/]*)\s*$")
# Longest prefixes first so "Mi" is not read as "M" followed by "i".
_PREFIXES: tuple[tuple[str, float], ...] = (
    ("ki", 1024.0),
    ("mi", 1024.0**2),
    ("gi", 1024.0**3),
    ("ti", 1024.0**4),
    ("k", 1e3),
    ("m", 1e6),
    ("g", 1e9),
    ("t", 1e12),
    ("", 1.0),
)
_BIT_UNITS = {"", "b", "bit", "bits", "bps", "b/s", "bit/s", "bits/s"}
_BYTE_UNITS = {"B", "B/s", "Bps", "byte", "bytes", "byte/s", "bytes/s"}
_FORMAT_UNITS: tuple[tuple[str, float], ...] = (
    ("Tbit", 1e12),
    ("Gbit", 1e9),
    ("Mbit", 1e6),
    ("kbit", 1e3),
    ("bit", 1.0),
)


def parse_rate(value: str | int | float) -> float:
    """A rate in bits per second from text such as '1.5Gbit', '1.5 Gbit/s', '1500Mbit', '500mbps',
    '1G', '100M', '10kbit' or a plain number of bits/s. Prefixes are decimal (k, M, G, T; any
    case); Ki/Mi/Gi/Ti are binary. 'bps' means bits per second, as in network gear; byte units
    ('MB/s', 'MBps') are refused rather than guessed."""
    if isinstance(value, bool):
        raise PlanError(f"not a rate: {value!r}")
    if isinstance(value, (int, float)):
        return _checked_rate(float(value), repr(value))
    match = _RATE_RE.match(value)
    if not match:
        shown = repr(value) if len(value) <= 40 else repr(value[:36]) + "..."
        raise PlanError(f"not a rate: {shown} (try forms like 1.5Gbit, 500Mbit/s, 1G, 100M)")
    mantissa, exponent, unit = match.groups()
    try:
        number = float(mantissa) * (10.0 ** int(exponent) if exponent else 1.0)
    except (OverflowError, ValueError):
        number = math.inf  # refused just below, as any non-finite rate
    shown = repr(value) if len(value) <= 40 else repr(value[:36]) + "..."
    return _checked_rate(number * _unit_multiplier(unit, value), shown)


def _unit_multiplier(unit: str, original: str) -> float:
    for prefix, multiplier in _PREFIXES:
        if not unit.lower().startswith(prefix):
            continue
        rest = unit[len(prefix) :]
        if rest in _BYTE_UNITS or rest.lower().startswith("byte"):
            raise PlanError(f"{original!r} is a byte rate; give bits, e.g. 1.5Gbit or 500Mbit/s")
        if rest.lower() in _BIT_UNITS:
            return multiplier
    raise PlanError(f"unknown rate unit {unit!r} in {original!r} (use bit, kbit, Mbit, Gbit, Tbit)")


def _checked_rate(bps: float, shown: str) -> float:
    if not math.isfinite(bps) or bps <= 0:
        raise PlanError(f"a rate must be a positive number of bits/s, got {shown}")
    return bps


def format_rate(bps: float, unit: str | None = None) -> str:
    """'1.5 Gbit/s' for 1.5e9. UNIT ('bit', 'kbit', 'Mbit', 'Gbit', 'Tbit') forces one unit, so a
    table or a sentence can say 0.75 Gbit/s next to 1.5 Gbit/s rather than 750 Mbit/s."""
    scale = dict(_FORMAT_UNITS)
    if unit is None:
        unit = next((name for name, size in _FORMAT_UNITS if abs(bps) >= size), "bit")
    elif unit not in scale:
        raise PlanError(f"unknown rate unit {unit!r} (use one of {', '.join(scale)})")
    return f"{_trim_number(bps / scale[unit])} {unit}/s"


def _trim_number(value: float, decimals: int = 3) -> str:
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _unit_of(bps: float) -> str:
    return next((name for name, size in _FORMAT_UNITS if bps >= size), "bit")


# --- the priority matrix ---------------------------------------------------------------------


@dataclass(frozen=True)
class VipOrder:
    """One VIP's failover order. index is 1-based (VRRP instance VI_<index>); priorities are
    distinct, the master's highest: BASE_PRIORITY + (B - 1 - rank), so 102/101/100 for B = 3."""

    index: int
    master: str
    order: tuple[str, ...]
    priorities: dict[str, int]

    @classmethod
    def from_order(cls, index: int, order: tuple[str, ...]) -> VipOrder:
        last = len(order) - 1
        priorities = {name: BASE_PRIORITY + last - rank for rank, name in enumerate(order)}
        return cls(index=index, master=order[0], order=tuple(order), priorities=priorities)

    def holder(self, failed: frozenset[str] | set[str]) -> str | None:
        """The balancer that holds this VIP when FAILED are down; None when all of them are."""
        return next((name for name in self.order if name not in failed), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "master": self.master,
            "order": list(self.order),
            "priorities": dict(self.priorities),
        }


def default_balancer_names(count: int) -> list[str]:
    return [f"b{i}" for i in range(1, count + 1)]


def build_matrix(balancers: list[str], n_vips: int, tolerate: int) -> list[VipOrder]:
    """N VIP orders over BALANCERS built position by position with water-filling (see the module
    docstring). Masters go round-robin: VIP i is mastered by balancer i mod B."""
    _check_balancers(balancers)
    _check_tolerate(tolerate, len(balancers))
    if n_vips < 1:
        raise PlanError(f"the number of VIPs must be at least 1, got {n_vips}")
    count = len(balancers)
    prefixes = [[balancers[i % count]] for i in range(n_vips)]
    for _position in range(1, min(tolerate + 1, count)):
        _extend_prefixes(prefixes, balancers)
    orders = [_complete_order(prefix, balancers) for prefix in prefixes]
    return [VipOrder.from_order(i + 1, order) for i, order in enumerate(orders)]


def _extend_prefixes(prefixes: list[list[str]], balancers: list[str]) -> None:
    """Append one entry to every prefix: each group of VIPs sharing a prefix set S is water-filled
    onto the balancers outside S, by their load when exactly S has failed."""
    groups: dict[frozenset[str], list[int]] = {}
    for vip, prefix in enumerate(prefixes):
        groups.setdefault(frozenset(prefix), []).append(vip)
    for failed, members in groups.items():
        # Every VIP outside the group has an entry outside FAILED in its prefix already.
        load = {name: 0 for name in balancers if name not in failed}
        for prefix in prefixes:
            if frozenset(prefix) != failed:
                load[next(name for name in prefix if name not in failed)] += 1
        for vip in members:
            preference = _cyclic_after(prefixes[vip][0], balancers)
            rank = {name: position for position, name in enumerate(preference)}
            target = min(load, key=lambda name: (load[name], rank[name]))
            prefixes[vip].append(target)
            load[target] += 1


def _cyclic_after(master: str, balancers: list[str]) -> list[str]:
    start = balancers.index(master)
    return balancers[start + 1 :] + balancers[:start]


def _complete_order(prefix: list[str], balancers: list[str]) -> tuple[str, ...]:
    rest = [name for name in _cyclic_after(prefix[0], balancers) if name not in prefix]
    return tuple(prefix + rest)


def evaluate(
    matrix: list[VipOrder],
    balancers: list[str],
    traffic_bps: float,
    failed: frozenset[str] | set[str] = frozenset(),
) -> dict[str, float]:
    """Load in bits/s on every surviving balancer (failed ones are left out) when FAILED are down.
    VIPs whose whole order has failed are dropped: nobody carries them."""
    share = {name: 0 for name in balancers if name not in failed}
    for vip in matrix:
        holder = vip.holder(failed)
        if holder is not None:
            share[holder] += 1
    # Multiply before dividing: 2 * 1.5e9 / 3 is exactly 1e9, 2 * (1.5e9 / 3) need not be.
    return {name: count * traffic_bps / len(matrix) for name, count in share.items()}


def failure_sets(balancers: list[str], tolerate: int) -> list[frozenset[str]]:
    """Every failure set of size 0..tolerate, normal operation (the empty set) first."""
    return [frozenset(chosen) for size in range(tolerate + 1) for chosen in combinations(balancers, size)]


def min_balanced_vips(balancer_count: int, tolerate: int) -> int:
    """The smallest N that any matrix can spread evenly: lcm of B * C(B-1, k), k = 0..tolerate."""
    _check_tolerate(tolerate, balancer_count)
    result = 1
    for k in range(tolerate + 1):
        result = math.lcm(result, balancer_count * math.comb(balancer_count - 1, k))
    return result


# --- candidates and the plan -----------------------------------------------------------------


@dataclass
class Candidate:
    """One VIP count N checked against (a) capacity and (b) evenness with build_matrix's matrix.
    worst_loads: each balancer's highest load over the tolerated failure sets it survives;
    worst_failure: the failure set that puts the single highest load on a balancer."""

    vips: int
    per_vip_bps: float
    normal_loads: dict[str, float]
    worst_loads: dict[str, float]
    worst_failure: tuple[str, ...]
    worst_balancer: str
    worst_load_bps: float
    worst_pct_of_link: float
    fits: bool
    balanced: bool
    fit_reason: str  # why (a) fails, or the worst case when it holds
    balance_reason: str  # why (b) fails; empty when it holds

    @property
    def ok(self) -> bool:
        return self.fits and self.balanced

    @property
    def reason(self) -> str:
        if self.ok:
            return self.fit_reason
        return "; ".join(part for part in ("" if self.fits else self.fit_reason, self.balance_reason) if part)

    def to_dict(self) -> dict[str, Any]:
        return {
            "vips": self.vips,
            "per_vip_bps": self.per_vip_bps,
            "normal_loads": dict(self.normal_loads),
            "worst_loads": dict(self.worst_loads),
            "worst_failure": list(self.worst_failure),
            "worst_balancer": self.worst_balancer,
            "worst_load_bps": self.worst_load_bps,
            "worst_pct_of_link": self.worst_pct_of_link,
            "fits": self.fits,
            "balanced": self.balanced,
            "ok": self.ok,
            "reason": self.reason,
            "fit_reason": self.fit_reason,
            "balance_reason": self.balance_reason,
        }


@dataclass
class PlanResult:
    balancers: list[str]
    traffic_bps: float
    link_bps: float
    tolerate: int
    headroom_pct: float
    limit_bps: float
    vips: int
    matrix: list[VipOrder]
    candidates: list[Candidate]
    explanation: str

    @property
    def chosen(self) -> Candidate:
        return self.candidates[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "vips": self.vips,
            "balancers": list(self.balancers),
            "traffic_bps": self.traffic_bps,
            "traffic": format_rate(self.traffic_bps),
            "link_bps": self.link_bps,
            "link": format_rate(self.link_bps),
            "tolerate": self.tolerate,
            "headroom_pct": self.headroom_pct,
            "limit_bps": self.limit_bps,
            "per_vip_bps": self.traffic_bps / self.vips,
            "matrix": [vip.to_dict() for vip in self.matrix],
            "candidates": [candidate.to_dict() for candidate in self.candidates],
            "explanation": self.explanation,
        }


@dataclass
class _Context:
    balancers: list[str]
    traffic_bps: float
    link_bps: float
    limit_bps: float
    tolerate: int
    headroom_pct: float
    failure_sets: list[frozenset[str]] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return _unit_of(self.link_bps)

    def rate(self, bps: float) -> str:
        return format_rate(bps, self.unit)

    def under_limit(self, load: float) -> bool:
        return load < self.limit_bps * (1 - _REL_EPS)

    def equal(self, loads: list[float]) -> bool:
        return not loads or max(loads) - min(loads) <= self.traffic_bps * _REL_EPS


def plan_capacity(
    balancers: int | list[str],
    traffic_bps: float | str,
    link_bps: float | str,
    tolerate: int = 1,
    headroom_pct: float = 0.0,
    max_vips: int = DEFAULT_MAX_VIPS,
) -> PlanResult:
    """The smallest VIP count (and its matrix) meeting capacity and evenness for every failure
    set up to TOLERATE; candidates lists every N from B to the answer."""
    if isinstance(balancers, int):
        if balancers < 1:
            raise PlanError(f"there must be at least one balancer, got {balancers}")
        names = default_balancer_names(balancers)
    else:
        names = list(balancers)
    ctx = _context(names, traffic_bps, link_bps, tolerate, headroom_pct)
    needed = min_balanced_vips(len(names), tolerate)
    if needed > max_vips:
        raise PlanError(
            f"spreading evenly over {len(names)} balancers while tolerating {tolerate} failures "
            f"needs {needed} VIPs (a multiple of {needed}), more than the bound of {max_vips}"
        )
    candidates: list[Candidate] = []
    for n_vips in range(len(names), max_vips + 1):
        matrix = build_matrix(names, n_vips, tolerate)
        candidates.append(_assess(matrix, ctx))
        if candidates[-1].ok:
            return PlanResult(
                balancers=names,
                traffic_bps=ctx.traffic_bps,
                link_bps=ctx.link_bps,
                tolerate=tolerate,
                headroom_pct=ctx.headroom_pct,
                limit_bps=ctx.limit_bps,
                vips=n_vips,
                matrix=matrix,
                candidates=candidates,
                explanation=_explain(candidates, ctx, needed),
            )
    # Unreachable when the checks above hold; kept so a planner bug cannot pass silently.
    raise PlanError(f"no VIP count up to {max_vips} meets both criteria")


def _context(
    names: list[str],
    traffic: float | str,
    link: float | str,
    tolerate: int,
    headroom_pct: float,
) -> _Context:
    _check_balancers(names)
    _check_tolerate(tolerate, len(names))
    traffic_bps, link_bps = _as_rate(traffic, "traffic"), _as_rate(link, "link")
    if not 0 <= headroom_pct <= 99:
        raise PlanError(f"headroom must be between 0 and 99 %, got {headroom_pct}")
    limit = link_bps * (1 - headroom_pct / 100)
    ctx = _Context(names, traffic_bps, link_bps, limit, tolerate, headroom_pct)
    survivors = len(names) - tolerate
    if not ctx.under_limit(traffic_bps / survivors):
        raise PlanError(
            f"{format_rate(traffic_bps)} cannot be carried by any number of VIPs: after losing "
            f"{tolerate} of {len(names)} balancers, {_survivors_phrase(survivors)} "
            f"{ctx.rate(traffic_bps / survivors)}, which is not strictly under "
            f"{_limit_phrase(ctx)}"
        )
    ctx.failure_sets = failure_sets(names, tolerate)
    return ctx


def _survivors_phrase(survivors: int) -> str:
    if survivors == 1:
        return "the one survivor must carry all of it:"
    return f"some of the {survivors} survivors must carry at least"


def _as_rate(value: float | str, what: str) -> float:
    try:
        return parse_rate(value)
    except PlanError as exc:
        raise PlanError(f"{what}: {exc}") from None


def _check_balancers(names: list[str]) -> None:
    if not names:
        raise PlanError("there must be at least one balancer")
    if any(not isinstance(name, str) or not name.strip() for name in names):
        raise PlanError(f"balancer names must be non-empty strings: {names!r}")
    if len(set(names)) != len(names):
        raise PlanError(f"balancer names must be unique: {names!r}")


def _check_tolerate(tolerate: int, balancer_count: int) -> None:
    if balancer_count < 1:
        raise PlanError(f"there must be at least one balancer, got {balancer_count}")
    if tolerate < 0:
        raise PlanError(f"tolerate must be 0 or more failures, got {tolerate}")
    if tolerate >= balancer_count:
        raise PlanError(
            f"cannot tolerate {tolerate} failures with {balancer_count} balancers: at least one must survive"
        )


def _assess(matrix: list[VipOrder], ctx: _Context) -> Candidate:
    normal = evaluate(matrix, ctx.balancers, ctx.traffic_bps)
    worst_loads = {name: 0.0 for name in ctx.balancers}
    worst: tuple[float, tuple[str, ...], str] = (-1.0, (), "")
    overload: tuple[frozenset[str], str, float] | None = None
    uneven: tuple[frozenset[str], dict[str, float]] | None = None
    for failed in ctx.failure_sets:
        loads = evaluate(matrix, ctx.balancers, ctx.traffic_bps, failed)
        for name, load in loads.items():
            worst_loads[name] = max(worst_loads[name], load)
            if load > worst[0] + ctx.traffic_bps * _REL_EPS:
                worst = (load, tuple(sorted(failed, key=ctx.balancers.index)), name)
            if overload is None and not ctx.under_limit(load):
                overload = (failed, name, load)
        if uneven is None and not ctx.equal(list(loads.values())):
            uneven = (failed, loads)
    worst_load, worst_failure, worst_balancer = worst
    return Candidate(
        vips=len(matrix),
        per_vip_bps=ctx.traffic_bps / len(matrix),
        normal_loads=normal,
        worst_loads=worst_loads,
        worst_failure=worst_failure,
        worst_balancer=worst_balancer,
        worst_load_bps=worst_load,
        worst_pct_of_link=100 * worst_load / ctx.link_bps,
        fits=overload is None,
        balanced=uneven is None,
        fit_reason=_fit_reason(overload, worst, ctx),
        balance_reason=_balance_reason(len(matrix), uneven, ctx),
    )


def _fit_reason(
    overload: tuple[frozenset[str], str, float] | None,
    worst: tuple[float, tuple[str, ...], str],
    ctx: _Context,
) -> str:
    if overload is not None:
        failed, name, load = overload
        return (
            f"{_situation(failed, ctx)} puts {ctx.rate(load)} on {name} "
            f"({_pct(load, ctx.link_bps)} of its link), not strictly under {_limit_phrase(ctx)}"
        )
    load, worst_failed, name = worst
    return (
        f"at most {ctx.rate(load)} ({_pct(load, ctx.link_bps)} of the link) on {name} "
        f"{_situation(frozenset(worst_failed), ctx, during=True)}"
    )


def _balance_reason(
    n_vips: int,
    uneven: tuple[frozenset[str], dict[str, float]] | None,
    ctx: _Context,
) -> str:
    if uneven is None:
        return ""
    failed, loads = uneven
    shown = ", ".join(f"{name} {ctx.rate(load)}" for name, load in loads.items())
    needed = min_balanced_vips(len(ctx.balancers), ctx.tolerate)
    return (
        f"uneven {_situation(failed, ctx, during=True)} ({shown}); no matrix of {n_vips} VIPs "
        f"can be even: that needs a multiple of {needed}"
    )


def _situation(failed: frozenset[str], ctx: _Context, during: bool = False) -> str:
    if not failed:
        return "in normal operation" if during else "normal operation"
    names = " and ".join(sorted(failed, key=ctx.balancers.index))
    return f"after losing {names}" if during else f"losing {names}"


def _limit_phrase(ctx: _Context) -> str:
    if ctx.headroom_pct:
        return (
            f"{ctx.rate(ctx.limit_bps)} (the {ctx.rate(ctx.link_bps)} link less "
            f"{_trim_number(ctx.headroom_pct)} % headroom)"
        )
    return f"the {ctx.rate(ctx.link_bps)} link"


def _pct(load: float, link: float) -> str:
    return f"{_trim_number(100 * load / link, 1)} %"


def _explain(candidates: list[Candidate], ctx: _Context, needed: int) -> str:
    first, chosen = candidates[0], candidates[-1]
    sentences = []
    if not first.ok:
        why = first.balance_reason if first.fits else first.fit_reason
        sentences.append(
            f"{_vips(first.vips)} (one per balancer, {ctx.rate(first.per_vip_bps)} each) are not enough: {why}."
        )
    between = candidates[1:-1]
    if between:
        sentences.append(
            f"{_count_list([c.vips for c in between])} VIPs cannot be spread evenly: an even "
            f"spread over {len(ctx.balancers)} balancers, losing up to {ctx.tolerate}, needs a "
            f"multiple of {needed} VIPs."
        )
    sentences.append(_explain_chosen(chosen, ctx))
    return " ".join(sentences)


def _explain_chosen(chosen: Candidate, ctx: _Context) -> str:
    count = len(ctx.balancers)
    normal = ctx.rate(ctx.traffic_bps / count)
    masters = chosen.vips // count
    text = (
        f"{_vips(chosen.vips)} work: each balancer masters {masters} "
        f"({ctx.rate(chosen.per_vip_bps)} per VIP) and carries {normal} in normal operation"
    )
    if ctx.tolerate == 0:
        return text + f" ({_pct(ctx.traffic_bps / count, ctx.link_bps)} of its link)."
    worst = ctx.traffic_bps / (count - ctx.tolerate)
    losing = "any 1 balancer" if ctx.tolerate == 1 else f"any {ctx.tolerate} balancers"
    return text + (
        f"; a failed balancer's VIPs have their backups spread evenly over the peers, so after "
        f"losing {losing} each survivor carries {ctx.rate(worst)} "
        f"({_pct(worst, ctx.link_bps)} of its link)."
    )


def _vips(count: int) -> str:
    return f"{count} VIP" if count == 1 else f"{count} VIPs"


def _count_list(values: list[int]) -> str:
    if len(values) <= 3:
        return (
            " and ".join(str(v) for v in values) if len(values) < 3 else (f"{values[0]}, {values[1]} and {values[2]}")
        )
    return f"{values[0]} to {values[-1]}"
