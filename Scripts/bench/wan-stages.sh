#!/usr/bin/env bash
# wan-stages.sh — where a loaded ping's milliseconds go in wan-bench's f2f row.
#
# Run beside a wan-bench run of one f2f row (as root):
#   Scripts/bench/wan-stages.sh OUTDIR & Scripts/bench/wan-bench.sh --rows f2f --reps 1 ...
# It waits for wan-bench's namespaces and the overlay taps, then timestamps every ping request
# at four points with tcpdump (kernel BPF filters: only pings and small datagrams are copied,
# so the capture costs little next to the transfer):
#   ovl0 in A (the guest's request leaves its stack)  ->  wan0 in A (the friend link's
#   datagram carrying it leaves switch A)  ->  wan0 in B (it arrives at B's UDP socket)  ->
#   ovl0 in B (switch B and vde_plug delivered it).
# A ping's datagram is told from the bulk by its size (a 98-byte IP ping in a frame sealed
# into a 142-byte UDP payload; override with PING_DATAGRAM=N). It also samples the UDP
# sockets' queues (/proc/net/udp), the taps' qdiscs and the vde unix sockets (ss -xm) into
# OUTDIR/samples. When the row ends it prints per stage p50/p90/p99/max in ms:
#   ovlA->wanA   A's tap ring, vde_plug, the unix socket, switch A, wan0's qdisc
#   wanA->wanB   minus the WAN's one-way delay: A's WAN tap ring, vde_plug, hubs, wirefilter
#   wanB->ovlB   B's UDP receive buffer, switch B, the unix socket, vde_plug B
set -uo pipefail
out=${1:?usage: wan-stages.sh OUTDIR}
size=${PING_DATAGRAM:-142} delay=${WAN_DELAY_MS:-20}
mkdir -p "$out"
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
while :; do
    A=$(ip netns list | awk '/^wanb-a-/{print $1; exit}') B=$(ip netns list | awk '/^wanb-b-/{print $1; exit}')
    [ -n "$A" ] && [ -n "$B" ] && ip -n "$A" link show ovl0 >/dev/null 2>&1 && ip -n "$B" link show ovl0 >/dev/null 2>&1 && break
    sleep 0.2
done
sleep 2
pids=()
ip netns exec "$A" tcpdump -n -tt -i ovl0 -s 80 icmp >"$out/ovlA" 2>/dev/null & pids+=($!)
ip netns exec "$A" tcpdump -n -tt -i wan0 -s 80 'udp and ip[2:2] < 400' >"$out/wanA" 2>/dev/null & pids+=($!)
ip netns exec "$B" tcpdump -n -tt -i wan0 -s 80 'udp and ip[2:2] < 400' >"$out/wanB" 2>/dev/null & pids+=($!)
ip netns exec "$B" tcpdump -n -tt -i ovl0 -s 80 icmp >"$out/ovlB" 2>/dev/null & pids+=($!)
while ip -n "$A" link show ovl0 >/dev/null 2>&1; do
    {
        echo "T $(date +%s.%N)"
        ip netns exec "$A" tc -s qdisc show dev ovl0; ip netns exec "$A" tc -s qdisc show dev wan0
        echo UDPA; ip netns exec "$A" tail -n +2 /proc/net/udp
        echo UDPB; ip netns exec "$B" tail -n +2 /proc/net/udp
        echo UNIXA; ip netns exec "$A" ss -xmn
    } >>"$out/samples" 2>&1
    sleep 0.1
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null
python3 - "$out" "$size" "$delay" <<'PY'
import bisect, re, sys
d, size, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
def requests(f):
    r = {}
    for l in open(f):
        m = re.match(r'(\S+) IP \S+ > \S+: ICMP echo request, id (\d+), seq (\d+)', l)
        if m: r[(int(m.group(2)), int(m.group(3)))] = float(m.group(1))
    return r
def datagrams(f):  # site A's datagrams of the ping's size, in time order
    return [float(p[0]) for p in (l.split() for l in open(f)) if len(p) > 3 and p[2].startswith('10.78.0.1.') and p[-1] == size]
t1, t4 = requests(d + '/ovlA'), requests(d + '/ovlB')
wa, wb = datagrams(d + '/wanA'), datagrams(d + '/wanB')
rows = []
for s in sorted(t1):
    if s not in t4: continue
    i = bisect.bisect_left(wa, t1[s])
    if i >= len(wa) or wa[i] > t4[s]: continue
    j = bisect.bisect_left(wb, wa[i] + delay / 2000)
    if j >= len(wb) or wb[j] > t4[s]: continue
    rows.append(((wa[i] - t1[s]) * 1e3, (wb[j] - wa[i]) * 1e3 - delay, (t4[s] - wb[j]) * 1e3, (t4[s] - t1[s]) * 1e3))
def q(v, p): v = sorted(v); return v[int(p * (len(v) - 1))]
print("%d pings; ms p50 / p90 / p99 / max" % len(rows))
for k, name in enumerate(['ovlA->wanA', 'wanA->wanB - %g' % delay, 'wanB->ovlB', 'one way']):
    v = [r[k] for r in rows]
    if v: print("%-16s %7.1f %7.1f %7.1f %7.1f" % (name, q(v, .5), q(v, .9), q(v, .99), max(v)))
PY
