"""What a lab brought back from saved memory (resume, snapshot restore) must get right besides
the plan: no VRRP transition after it woke up (keepalived would have seen a stale world), and
every ARP cache pointing each VIP at the MAC of the balancer that holds it now.

VRRP: labctl-vrrp-notify writes each instance's state word to /run/labctl/vrrp/<instance> on
every transition; the files' modification times (guest clock) are read before the lab slept
(the snapshot's record, the suspend's file) or else right after the wake, and again after the
checks: any file written in between is a transition, reported.
ARP: the guests' caches come back with their memory, consistent with the holders; the host
side of the lab network (the namespace) was not asleep, so its entries for the VIPs are
flushed on wake (a local table operation: nothing is sent) and compared after the checks,
which have refilled them. The client's are compared too."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor

from labctl.lab.nodes.ssh import run_parallel
from labctl.lab.nodes.verify import Check
from labctl.lab.running import RunningLab
from labctl.model.lab import Lab, Node
from labctl.observe.parse import ParseError, parse_ip_addr

VRRP_FILES = (
    "cd /run/labctl/vrrp 2>/dev/null || exit 0; "
    'for f in *; do [ -f "$f" ] && printf "%s %s %s\\n" "$f" "$(stat -c %.9Y "$f")" "$(cat "$f")"; done'
)
ADDR_AND_LINKS = "ip -o -4 addr show; echo @@links; ip -o link show"
# After the checks, one round trip per balancer: its state words, then its addresses and links.
WORDS_MARK = "@@addresses"
WORDS_THEN_ADDRESSES = f"( {VRRP_FILES} ); echo {WORDS_MARK}; {ADDR_AND_LINKS}"  # ( ): its exit is its own

_MAC = re.compile(r"link/ether ([0-9a-f:]{17})")


# --- pure --------------------------------------------------------------------------------------


def parse_vrrp_files(text: str) -> dict[str, tuple[str, str]]:
    """Instance -> (modification time, state word) from VRRP_FILES' output."""
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            found[parts[0]] = (parts[1], parts[2])
    return found


def transitions(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> list[str]:
    """Each instance whose state file was written between the two readings, in words."""
    changed = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            was = old[1] if old else "(none)"
            now = new[1] if new else "(gone)"
            changed.append(f"{name} {was} -> {now}" if was != now else f"{name} {now} again")
    return changed


def vrrp_verdict(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> tuple[bool, str]:
    """One balancer's VRRP since the wake: (ok, words). No state word in either reading is no
    evidence at all (keepalived writes one per instance at start): said so, not passed."""
    if not before and not after:
        return False, "no VRRP state words in /run/labctl/vrrp: transitions since the wake cannot be told"
    moved = transitions(before, after)
    if moved:
        return False, "transitions since the wake: " + ", ".join(moved)
    return True, "no VRRP transition since the wake"


Words = dict[str, dict[str, tuple[str, str]]]  # balancer -> instance -> (modification time, word)


def words_record(words: Words) -> dict[str, dict[str, list[str]]]:
    """WORDS as JSON keeps them (a snapshot's record, the suspend's file)."""
    return {node: {name: [mtime, word] for name, (mtime, word) in found.items()} for node, found in words.items()}


def words_from_record(record: object) -> Words:
    """words_record's JSON read back; what is not in its shape is left out."""
    words: Words = {}
    if not isinstance(record, dict):
        return words
    for node, found in record.items():
        if not isinstance(found, dict):
            continue
        words[str(node)] = {
            str(name): (str(pair[0]), str(pair[1]))
            for name, pair in found.items()
            if isinstance(pair, list) and len(pair) == 2
        }
    return words


def words_and_addresses(text: str) -> tuple[dict[str, tuple[str, str]], str]:
    """WORDS_THEN_ADDRESSES' output: the state words, and the addresses-and-links text."""
    words, _, addresses = text.partition(WORDS_MARK)
    return parse_vrrp_files(words), addresses


def holder_macs(text: str, vips: list[str]) -> dict[str, str]:
    """VIP -> MAC of the interface holding it, from ADDR_AND_LINKS' output on one balancer."""
    addr_text, _, links_text = text.partition("@@links")
    macs: dict[str, str] = {}
    for line in links_text.splitlines():
        parts = line.split(":", 2)
        match = _MAC.search(line)
        if len(parts) == 3 and match:
            macs[parts[1].strip().split("@")[0]] = match.group(1)
    try:
        addresses = parse_ip_addr(addr_text.strip())
    except ParseError:
        return {}
    return {a.address: macs[a.ifname] for a in addresses if a.address in vips and a.ifname in macs}


def parse_neighbours(text: str) -> dict[str, str | None]:
    """`ip -4 neigh show`: address -> MAC, or None for an entry without one (FAILED, INCOMPLETE)."""
    found: dict[str, str | None] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        found[parts[0]] = parts[parts.index("lladdr") + 1].lower() if "lladdr" in parts else None
    return found


def arp_mismatches(neighbours: dict[str, str | None], holders: dict[str, str]) -> list[str]:
    """Each VIP whose entry names a MAC other than its holder's (an entry with no MAC yet, or
    none, is resolved afresh: no mismatch)."""
    wrong = []
    for vip, mac in sorted(holders.items()):
        seen = neighbours.get(vip)
        if seen is not None and seen != mac.lower():
            wrong.append(f"{vip} at {seen}, held by {mac}")
    return wrong


# --- I/O ---------------------------------------------------------------------------------------


def read_vrrp_meanwhile(run: RunningLab, lab: Lab, recorded: Words | None = None) -> Future[Words]:
    """The balancers' state words before the wake: RECORDED ones (read before the lab slept:
    a transition right at the wake is seen too), read_vrrp after the wake for the balancers not
    recorded, in a thread of its own while the lab's checks run (both only read)."""
    known = {b.name: (recorded or {})[b.name] for b in lab.balancers if b.name in (recorded or {})}
    missing = [b for b in lab.balancers if b.name not in known]
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wake-vrrp")
    future = pool.submit(lambda: {**(read_vrrp(run, lab, missing) if missing else {}), **known})
    pool.shutdown(wait=False)
    return future


def read_vrrp(run: RunningLab, lab: Lab, balancers: list[Node] | None = None) -> Words:
    """Each reachable balancer's VRRP state files (a node that cannot be read is left out); of
    BALANCERS only, when given."""
    shells = run.shells([b.name for b in (lab.balancers if balancers is None else balancers)], wait=30.0)
    done = run_parallel(shells, lambda _, opened: opened.get().run(VRRP_FILES, sudo=False, timeout=30))
    return {n: parse_vrrp_files(r.stdout) for n, r in done.items() if not isinstance(r, BaseException)}


def flush_host_neighbours(run: RunningLab, lab: Lab) -> None:
    """Forget the host side's ARP entries for the VIPs (they predate the wake)."""
    if run.namespace is None:
        return
    for vip in lab.vips:
        subprocess.run(["ip", "-n", run.namespace, "neigh", "flush", "to", vip.address], capture_output=True)


def wake_checks(run: RunningLab, lab: Lab, vrrp_before: dict[str, dict[str, tuple[str, str]]]) -> list[Check]:
    """After the lab's checks: VRRP transitions since the wake (reported), and the client's
    and the host side's ARP entries for each VIP against its holder's MAC."""
    checks: list[Check] = []
    balancers = {b.name for b in lab.balancers}
    clients = [c.name for c in lab.clients]
    # One round trip per node, all at once: a balancer's words and addresses, a client's ARP.
    shells = run.shells(sorted(balancers) + clients, wait=30.0)
    seen = run_parallel(
        shells,
        lambda node, opened: opened.get().run(
            WORDS_THEN_ADDRESSES if node in balancers else "ip -4 neigh show", sudo=False, timeout=30
        ),
    )
    after: dict[str, dict[str, tuple[str, str]]] = {}
    addresses: dict[str, str] = {}
    for node in balancers:
        result = seen.get(node)
        if result is not None and not isinstance(result, BaseException):
            after[node], addresses[node] = words_and_addresses(result.stdout)
    for node in sorted(vrrp_before):
        if node not in after:
            continue
        ok, verdict = vrrp_verdict(vrrp_before[node], after[node])
        checks.append(Check("vrrp after wake", node, ok, verdict))
    vips = [v.address for v in lab.vips]
    holders: dict[str, str] = {}
    for text in addresses.values():
        holders.update(holder_macs(text, vips))
    tables: dict[str, str] = {}
    for client in clients:
        result = seen.get(client)
        if result is not None and not isinstance(result, BaseException):
            tables[client] = result.stdout
    if run.namespace is not None:
        host = subprocess.run(["ip", "-n", run.namespace, "-4", "neigh", "show"], capture_output=True, text=True)
        tables["host side"] = host.stdout
    for where, text in tables.items():
        wrong = arp_mismatches(parse_neighbours(text), holders)
        detail = "; ".join(wrong) if wrong else f"every VIP's entry names its holder's MAC ({len(holders)} held)"
        checks.append(Check("arp after wake", where, not wrong, detail))
    return checks
