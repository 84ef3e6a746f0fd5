#!/bin/sh
# labctl capture loop: pushed to a balancer by labctl and run there, printing one record every
# INTERVAL seconds so SSH round trips do not distort timing. A record:
#   @@sample <node clock, s since epoch>
#   @@addr      `ip -o -4 addr show` (who holds which VIP)
#   @@vrrp      "<instance> <state>" from keepalived's notify files
#   @@ipvs      `ipvsadm -Ln` (and @@stats, @@conns, @@timeout when asked)
#   @@end
# Usage: labctl-capture.sh INTERVAL VRRP_DIR [ipvs] [stats] [conns] [timeout]
interval=${1:-0.2}
vrrp_dir=${2:-/run/labctl/vrrp}
shift 2 2>/dev/null || shift $#
flags=" $* "
has() { case "$flags" in *" $1 "*) return 0;; esac; return 1; }
while :; do
    echo "@@sample $(date +%s.%N)"
    echo "@@addr"
    ip -o -4 addr show 2>&1
    echo "@@vrrp"
    for f in "$vrrp_dir"/*; do
        [ -f "$f" ] && echo "${f##*/} $(cat "$f" 2>/dev/null)"
    done
    if has ipvs; then echo "@@ipvs"; ipvsadm -Ln 2>&1; fi
    if has stats; then echo "@@stats"; ipvsadm -Ln --stats 2>&1; fi
    if has conns; then echo "@@conns"; ipvsadm -Lnc 2>&1; fi
    if has timeout; then echo "@@timeout"; ipvsadm -L --timeout 2>&1; fi
    echo "@@end"
    sleep "$interval"
done
