#!/bin/sh
# labctl snapshot: what this node holds now, as @@SECTION blocks between "@@sample <node time>"
# and "@@end". Run once (`labctl status`, `labctl up`'s checks: `sh -s -- SECTION...` over SSH)
# or every N seconds (a scenario's polling of the balancers), so one script and one parser serve
# both; the loop runs on the node, so samples are spaced by its own clock, not by SSH.
# Usage: labctl-snapshot.sh [--every SECONDS] [--vrrp-dir DIR] SECTION...
# Sections: hostname addr vrrp ipvs ipvsproc stats conns timeout services
every=""
vrrp_dir=/run/labctl/vrrp
while [ $# -gt 0 ]; do
    case "$1" in
        --every) every=$2; shift 2 ;;
        --vrrp-dir) vrrp_dir=$2; shift 2 ;;
        *) break ;;
    esac
done
sections="$*"
# Under emulation every new process costs tens of milliseconds, more while other VMs boot: the
# sections read /proc, /sys and the state files with shell builtins; only `date`, `ip` and
# `ipvsadm` run as programs.
# first_line FILE: its first line into $line (no subshell: a fork costs too).
first_line() { line=""; read -r line < "$1" 2>/dev/null || true; }
# Reals have no IPVS: their sections are left out rather than filled with errors.
ipvs_here() {
    command -v ipvsadm >/dev/null 2>&1 || return 1
    while read -r module _; do
        [ "$module" = ip_vs ] && return 0
    done < /proc/modules
    return 1
}
# unit_state UNIT: "active" when its cgroup holds a process (cgroup v2, as on Debian 12),
# else "inactive"; where there is no such cgroup tree, what systemctl says.
unit_state() {
    if [ -d /sys/fs/cgroup/system.slice ]; then
        first_line "/sys/fs/cgroup/system.slice/$1.service/cgroup.procs"
        if [ -n "$line" ]; then echo active; else echo inactive; fi
    else
        state=$(systemctl is-active "$1" 2>/dev/null)
        echo "${state:-unknown}"
    fi
}
snapshot() {
    echo "@@sample $(date +%s.%N)"
    for section in $sections; do
        case "$section" in
            hostname) echo "@@hostname"; first_line /proc/sys/kernel/hostname; echo "$line" ;;
            addr) echo "@@addr"; ip -o -4 addr show 2>&1 ;;
            vrrp)
                echo "@@vrrp"
                # Read without root, the folder may still be root's (a lab provisioned by an
                # older labctl): say so, and the caller asks again with sudo.
                if [ -d "$vrrp_dir" ] && [ ! -x "$vrrp_dir" ]; then echo "labctl-snapshot: $vrrp_dir unreadable" >&2; fi
                for f in "$vrrp_dir"/*; do
                    [ -f "$f" ] || continue
                    first_line "$f"
                    echo "${f##*/} $line"
                done ;;
            ipvs) if ipvs_here; then echo "@@ipvs"; ipvsadm -Ln 2>&1; fi ;;
            # The same table from /proc/net/ip_vs: no program, and no root needed.
            ipvsproc)
                if [ -r /proc/net/ip_vs ]; then
                    echo "@@ipvs"
                    while IFS= read -r l; do printf '%s\n' "$l"; done < /proc/net/ip_vs
                fi ;;
            stats) if ipvs_here; then echo "@@stats"; ipvsadm -Ln --stats 2>&1; fi ;;
            conns) if ipvs_here; then echo "@@conns"; ipvsadm -Lnc 2>&1; fi ;;
            timeout) if ipvs_here; then echo "@@timeout"; ipvsadm -L --timeout 2>&1; fi ;;
            services)
                echo "@@services"
                if [ -d /run/labctl/daemons ]; then
                    # A node without systemd (the netns provider): each daemon labctl started
                    # there, its PID in /run/labctl/daemons/<name>.
                    for f in /run/labctl/daemons/*; do
                        [ -f "$f" ] || continue
                        first_line "$f"
                        state=inactive
                        if [ -n "$line" ]; then
                            first_line "/proc/$line/stat"  # "PID (comm) STATE ...": a zombie is gone
                            case "$line" in "" | *") Z "*) ;; *) state=active ;; esac
                        fi
                        echo "${f##*/} $state"
                    done
                    continue
                fi
                for unit in keepalived nginx; do
                    if [ -e "/lib/systemd/system/$unit.service" ]; then
                        printf '%s ' "$unit"
                        unit_state "$unit"
                    fi
                done ;;
        esac
    done
    echo "@@end"
}
if [ -n "$every" ]; then
    while :; do snapshot; sleep "$every"; done
else
    snapshot
fi
