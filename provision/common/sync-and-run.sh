# labctl sends this with the node's rendered files as a tar on stdin (one SSH round trip per
# node): files that differ from /etc/labctl are installed and listed as "uploaded: NAME", then
# provision.sh runs (it prints "changed: ..." per change). Run as root.
set -eu
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
tar -x -C "$staging" -f -
mkdir -p -m 0700 /etc/labctl

# Modes of both sides in two calls (new processes are slow under emulation), read by builtins.
staged_modes=$(cd "$staging" && stat -c '%n:%a' -- *)
current_modes=$(cd /etc/labctl && stat -c '%n:%a' -- * 2>/dev/null || true)
mode_in() {
    found=""
    for entry in $2; do
        if [ "${entry%:*}" = "$1" ]; then found=${entry##*:}; fi
    done
    echo "$found"
}

for path in "$staging"/*; do
    name=${path##*/}
    want=$(mode_in "$name" "$staged_modes")
    have=$(mode_in "$name" "$current_modes")
    if [ "$want" != "$have" ] || ! cmp -s "$path" "/etc/labctl/$name"; then
        install -m "$want" "$path" "/etc/labctl/$name"
        echo "uploaded: $name"
    fi
done
sh /etc/labctl/provision.sh
