# Sent to a node's shell by `labctl status` and `labctl up`'s checks: what the node holds now.
# Sections start with @@NAME so one SSH round trip answers everything.
echo "@@hostname"
hostname
echo "@@addr"
ip -o -4 addr show
if command -v ipvsadm >/dev/null 2>&1 && grep -q '^ip_vs ' /proc/modules; then
    echo "@@ipvs"
    ipvsadm -Ln
fi
echo "@@vrrp"
for f in /run/labctl/vrrp/*; do
    [ -f "$f" ] && echo "$(basename "$f") $(cat "$f")"
done
echo "@@services"
for unit in keepalived nginx; do
    if [ -e "/lib/systemd/system/$unit.service" ]; then
        echo "$unit $(systemctl is-active "$unit" 2>/dev/null || true)"
    fi
done
