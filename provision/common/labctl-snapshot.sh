#!/bin/sh
# labctl snapshot: what this node holds now, as @@SECTION blocks between "@@sample <node time>"
# and "@@end". Run once (`labctl status`, `labctl up`'s checks: `sh -s -- SECTION...` over SSH)
# or every N seconds (a scenario's polling of the balancers), so one script and one parser serve
# both; the loop runs on the node, so samples are spaced by its own clock, not by SSH.
# Usage: labctl-snapshot.sh [--every SECONDS] [--vrrp-dir DIR] SECTION...
# Sections: hostname addr vrrp ipvs stats conns timeout services
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
# Reals have no IPVS: their sections are left out rather than filled with errors.
ipvs_here() { command -v ipvsadm >/dev/null 2>&1 && grep -q '^ip_vs ' /proc/modules; }
snapshot() {
    echo "@@sample $(date +%s.%N)"
    for section in $sections; do
        case "$section" in
            hostname) echo "@@hostname"; hostname ;;
            addr) echo "@@addr"; ip -o -4 addr show 2>&1 ;;
            vrrp)
                echo "@@vrrp"
                for f in "$vrrp_dir"/*; do
                    [ -f "$f" ] && echo "${f##*/} $(cat "$f" 2>/dev/null)"
                done ;;
            ipvs) if ipvs_here; then echo "@@ipvs"; ipvsadm -Ln 2>&1; fi ;;
            stats) if ipvs_here; then echo "@@stats"; ipvsadm -Ln --stats 2>&1; fi ;;
            conns) if ipvs_here; then echo "@@conns"; ipvsadm -Lnc 2>&1; fi ;;
            timeout) if ipvs_here; then echo "@@timeout"; ipvsadm -L --timeout 2>&1; fi ;;
            services)
                echo "@@services"
                for unit in keepalived nginx; do
                    if [ -e "/lib/systemd/system/$unit.service" ]; then
                        echo "$unit $(systemctl is-active "$unit" 2>/dev/null || true)"
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
