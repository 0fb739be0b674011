# shellcheck shell=bash
# Network namespaces a script creates for its taps and bridges. Every namespace made with
# ns_create is listed in NAMESPACES and removed by ns_delete_all (call it from the EXIT
# trap), so an interrupted run leaves none behind. Sourced by lib/common.sh.

NAMESPACES=()

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }  # ns_exists NAME

# A fresh namespace NAME (a leftover of an earlier, killed run is removed first) with lo up.
ns_create() {  # ns_create NAME
    ns_exists "$1" && ip netns del "$1"
    ip netns add "$1" || return 1
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

# Remove one namespace made by ns_create (and everything in it: taps, bridges, veths).
ns_delete() {  # ns_delete NAME
    local n keep=()
    ns_exists "$1" && ip netns del "$1" 2>/dev/null
    for n in "${NAMESPACES[@]}"; do [ "$n" != "$1" ] && keep+=("$n"); done
    NAMESPACES=("${keep[@]}")
}

ns_delete_all() {
    local n
    for n in "${NAMESPACES[@]}"; do ns_exists "$n" && ip netns del "$n" 2>/dev/null; done
    NAMESPACES=()
    return 0
}

# Does interface IFNAME exist in namespace NS (a tap a vde_plug is still creating)?
ns_has_link() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; }  # ns_has_link NS IFNAME
