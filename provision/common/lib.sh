# Shell helpers shared by every node's provision.sh (included when labctl renders it).
# Each change prints one "changed: ..." line, so a second run that prints none changed nothing.
# Under qemu emulation every new process costs tens of milliseconds: the checks below use
# shell builtins where they can.

changed() { echo "changed: $*"; }

# install_file SRC DEST MODE: put SRC (beside this script) at DEST when different; status 0 when
# it installed something, 1 when DEST was already right.
install_file() {
    if [ -f "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c %a "$2")" = "${3#0}" ]; then
        return 1
    fi
    install -D -m "$3" "$1" "$2"
    changed "$2"
    return 0
}

# need_package PKG...: install the packages that are missing (boxes built by labctl have them all).
need_package() {
    # dpkg keeps the checksums of an installed package's files, and drops them when the package
    # is removed (its file list stays while its configuration does): testing for them costs no
    # process, where dpkg-query reads the whole status database. Asked when one is missing.
    listed=0
    for pkg in "$@"; do
        if [ -f "/var/lib/dpkg/info/$pkg.md5sums" ] || [ -f "/var/lib/dpkg/info/$pkg:amd64.md5sums" ]; then
            listed=$((listed + 1))
        fi
    done
    [ "$listed" = "$#" ] && return 0
    installed=$(dpkg-query -W -f '${Status}\n' "$@" 2>/dev/null | grep -c 'install ok installed' || true)
    [ "$installed" = "$#" ] && return 0
    missing=""
    for pkg in "$@"; do
        dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $pkg"
    done
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086 # word splitting wanted: one argument per package
    apt-get install -y -q --no-install-recommends $missing >/dev/null
    changed "packages installed:$missing"
}

# set_hostname NAME: here rather than in the Vagrantfile, where it costs a network restart.
set_hostname() {
    read -r current < /proc/sys/kernel/hostname
    if [ "$current" != "$1" ]; then
        hostname "$1"
        changed "hostname $1"
    fi
    saved=""
    [ -f /etc/hostname ] && read -r saved < /etc/hostname
    if [ "$saved" != "$1" ]; then
        echo "$1" > /etc/hostname
        changed "/etc/hostname"
    fi
    if ! grep -q "^127.0.1.1[[:space:]]$1\$" /etc/hosts; then
        sed -i '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts
        echo "127.0.1.1	$1" >> /etc/hosts
        changed "/etc/hosts"
    fi
}

# restorable_clock: the kernel's clocksource made one that a snapshot puts back (hpet), now and
# at every boot (systemd-tmpfiles), on a VM without kvm-clock. Under emulation (TCG) the TSC is
# not part of what qemu saves: a guest restored from a snapshot taken minutes earlier found its
# monotonic clock minutes ahead (the TSC's distance), and systemd's watchdogs killed journald and
# udevd, keepalived's timers all fired at once. The HPET counts qemu's virtual clock, which is
# saved and restored with the memory. A clock read costs 6-10 us instead of 2-4 us there.
# Usage: restorable_clock [CLOCKSOURCE_DIR [TMPFILES_DIR]] (the defaults are the system's).
restorable_clock() {
    cs=${1:-/sys/devices/system/clocksource/clocksource0}
    tmpfiles=${2:-/etc/tmpfiles.d}
    [ -r "$cs/available_clocksource" ] || return 0
    read -r available < "$cs/available_clocksource"
    case " $available " in
        *" kvm-clock "*) return 0 ;;  # KVM's clock comes back with the memory
        *" hpet "*) ;;
        *) return 0 ;;
    esac
    rule="w $cs/current_clocksource - - - - hpet"
    saved=""
    [ -f "$tmpfiles/labctl-clocksource.conf" ] && read -r saved < "$tmpfiles/labctl-clocksource.conf"
    if [ "$saved" != "$rule" ]; then
        mkdir -p "$tmpfiles"
        echo "$rule" > "$tmpfiles/labctl-clocksource.conf"
        changed "$tmpfiles/labctl-clocksource.conf"
    fi
    read -r current < "$cs/current_clocksource"
    if [ "$current" != hpet ]; then
        echo hpet > "$cs/current_clocksource"
        changed "clocksource hpet"
    fi
}

# enable_at_boot UNIT: the wants link `systemctl enable` would make, without its daemon reload
# (seconds under emulation); systemd reads it at the next boot.
enable_at_boot() {
    link="/etc/systemd/system/multi-user.target.wants/$1.service"
    [ -e "$link" ] && return 0
    unit="/etc/systemd/system/$1.service"
    [ -f "$unit" ] || unit="/lib/systemd/system/$1.service"
    [ -d /etc/systemd/system/multi-user.target.wants ] || mkdir -p /etc/systemd/system/multi-user.target.wants
    ln -sf "$unit" "$link"
    changed "$1 enabled"
}

# unit_active UNIT: whether UNIT's cgroup holds a process (cgroup v2, as on Debian 12), read by
# the shell: the systemctl client alone costs a quarter second under emulation. Where there is
# no such cgroup tree, systemctl is asked.
unit_active() {
    if [ -d /sys/fs/cgroup/system.slice ]; then
        procs=""
        cgroup="/sys/fs/cgroup/system.slice/$1.service/cgroup.procs"
        [ -f "$cgroup" ] && read -r procs < "$cgroup"
        [ -n "$procs" ]
    else
        systemctl is-active -q "$1"
    fi
}

# disable_at_boot UNIT: the reverse, and stop it now if it runs.
disable_at_boot() {
    link="/etc/systemd/system/multi-user.target.wants/$1.service"
    if [ -e "$link" ] || [ -L "$link" ]; then
        rm -f "$link"
        changed "$1 disabled"
    fi
    if unit_active "$1"; then
        systemctl stop "$1"
        changed "$1 stopped"
    fi
}

# service_running UNIT RESTART: enable UNIT, restart it when RESTART is 1, else start it if stopped.
service_running() {
    enable_at_boot "$1"
    if [ "$2" = 1 ]; then
        systemctl restart "$1" || service_failed "$1"
        changed "$1 restarted"
    elif ! unit_active "$1"; then
        systemctl start "$1" || service_failed "$1"
        changed "$1 started"
    fi
}

# service_failed UNIT: why UNIT did not start (its last journal lines, a failed configuration
# test among them), then stop the provisioning.
service_failed() {
    journalctl -u "$1" -n 8 --no-pager -q >&2 || true
    exit 1
}

# lab_link IFACE ADDRESS/PREFIX: the node's lab address, now and at every boot. labctl's box
# runs systemd-networkd, which reads lab-link.network at boot; a box that configures its
# interfaces otherwise (Vagrant's, on VirtualBox) already has the address and skips both.
lab_link() {
    if [ -e /etc/systemd/system/multi-user.target.wants/systemd-networkd.service ]; then
        install_file lab-link.network /etc/systemd/network/20-labctl-lab.network 0644 || true
    fi
    case "$(ip -o -4 addr show dev "$1")" in
        *" $2 "*) ;;
        *) ip addr add "$2" dev "$1"; changed "$2 on $1" ;;
    esac
    flags=0
    [ -f "/sys/class/net/$1/flags" ] && read -r flags < "/sys/class/net/$1/flags"
    if [ $((flags & 1)) = 0 ]; then  # IFF_UP
        ip link set "$1" up
        changed "$1 up"
    fi
}
