import CF2FSystem
import Glibc

/// UDP sockets for friend links over datagrams (issue 15): bound on the `--listen` port (or an
/// ephemeral one), non-blocking, close-on-exec. IPv6 sockets are IPv6-only so that an IPv4
/// socket can share the port, as the TCP listener does.
public enum InetDatagramSocket {
    /// SO_RCVBUF asked for (the kernel doubles it and charges each datagram its whole
    /// buffer, ~2.3 KiB for a full-size frame): about 220 full-size datagrams, 9 ms of a
    /// 290 Mbit/s stream, 2.5 ms at 1 Gbit/s. Frames wait here first in first out, before any
    /// fair queue or CoDel can see them, so the buffer holds a scheduling hiccup's worth and no
    /// more: 1 MiB (2 MiB charged) held over 30 ms at 290 Mbit/s, which pings in wan-bench
    /// waited behind. What overflows is dropped by the kernel, as a full link drops, and shown
    /// in `limits/print` (`udp-receive-buffer … overflowed N`).
    public static let receiveBufferSize = 256 << 10

    /// Binds a UDP socket on each of `addresses` and hands each to `take` with its family.
    /// Fails only when none could be bound, with the last address's error.
    public static func bind(
        on addresses: [InetSocketAddress], description: String, _ take: (consuming Descriptor, _ isIPv6: Bool) -> Void
    ) throws(SystemError) {
        try InetSocketBinding.bindEach(addresses, type: Int32(SOCK_DGRAM.rawValue), operation: "bind UDP on \(description)") { raw, address in
            // DF set and never lowered on an ICMP message we cannot authenticate: the link
            // sizes its datagrams itself (docs/udp-data-path.md).
            var probe = IP_PMTUDISC_PROBE
            // The default receive buffer (~208 KiB) holds only a few hundred datagrams of any
            // size (each is charged its whole buffer): a burst while the loop is busy elsewhere
            // overflows it and the guests' TCP sees loss. The kernel caps this at rmem_max.
            var receiveBuffer = Int32(receiveBufferSize)
            setsockopt(raw, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, socklen_t(MemoryLayout<Int32>.size))
            if address.family == AF_INET6 {
                setsockopt(raw, Int32(IPPROTO_IPV6), IPV6_MTU_DISCOVER, &probe, socklen_t(MemoryLayout<Int32>.size))
            } else {
                setsockopt(raw, Int32(IPPROTO_IP), IP_MTU_DISCOVER, &probe, socklen_t(MemoryLayout<Int32>.size))
            }
        } _: { socket, address in
            take(socket, address.family == AF_INET6)
        }
    }

    /// Sends one datagram to `address` without blocking; `.wouldBlock` when the socket buffer
    /// is full (the datagram is then the caller's to drop).
    @inline(__always)
    public static func send(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, to address: InetSocketAddress) throws(SystemError) -> IOResult<Int> {
        try syscall("sendto") {
            address.withSockaddr { Glibc.sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), $0, $1) }
        }
    }

    /// Receives one datagram without blocking, its sender written into `source` (reused, so
    /// receiving allocates nothing). A datagram longer than `buffer` is cut; the returned
    /// count is then larger than the buffer, which tells the caller it was oversize.
    @inline(__always)
    public static func receive(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, source: DatagramSource) throws(SystemError) -> IOResult<Int> {
        source.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return try withUnsafeMutablePointer(to: &source.storage) { pointer throws(SystemError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw throws(SystemError) in
                try syscall("recvfrom") {
                    Glibc.recvfrom(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT | MSG_TRUNC), raw, &source.length)
                }
            }
        }
    }

    /// Asks the kernel to hand runs of datagrams from one sender coalesced (`UDP_GRO`, Linux
    /// 5.0): a run sent segmented on loopback, or coalesced by a receiving device, then costs
    /// one pass through the stack and one receive slot (`InetReceiveBatch.segmentSize`). False
    /// when the kernel does not offer it; datagrams then come one by one, as before.
    public static func enableCoalescing(_ descriptor: Int32) -> Bool {
        cf2f_enable_udp_gro(descriptor) == 0
    }

    /// The port a socket is bound to (useful with port 0).
    public static func boundPort(_ descriptor: Int32) -> UInt16? {
        InetStreamSocket.boundPort(descriptor)
    }
}

/// The sender of the last datagram `InetDatagramSocket.receive` took: kept in place so that
/// comparing it with a link's endpoint costs no allocation; only a new address (a roam) is
/// copied out as an `InetSocketAddress`.
public final class DatagramSource {
    var storage = sockaddr_storage()
    var length = socklen_t(0)

    public init() {}

    /// A sender as if `address` had sent the last datagram (for tests of what receives it).
    public init(address: InetSocketAddress) {
        withUnsafeMutableBytes(of: &storage) { raw in
            address.bytes.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        length = socklen_t(address.bytes.count)
    }

    /// Whether the sender is `address` (same family, host and port).
    @inline(__always)
    public func matches(_ address: InetSocketAddress) -> Bool {
        guard Int(length) == address.bytes.count else { return false }
        return withUnsafeBytes(of: &storage) { raw in
            address.bytes.withUnsafeBytes { memcmp(raw.baseAddress!, $0.baseAddress!, Int(length)) == 0 }
        }
    }

    /// The sender as an address to keep (allocates: for a roam, not per datagram).
    public var address: InetSocketAddress {
        withUnsafeBytes(of: &storage) { InetSocketAddress(bytes: Array($0.prefix(Int(length)))) }
    }
}

extension InetSocketAddress {
    public var isIPv6: Bool { family == AF_INET6 }

    public var port: UInt16 {
        guard bytes.count >= 4 else { return 0 }
        return UInt16(bytes[2]) << 8 | UInt16(bytes[3])
    }

    /// The same host with another port (a friend's UDP port next to its TCP address).
    public func withPort(_ port: UInt16) -> InetSocketAddress {
        guard bytes.count >= 4 else { return self }
        var copy = bytes
        copy[2] = UInt8(port >> 8)
        copy[3] = UInt8(port & 0xFF)
        return InetSocketAddress(bytes: copy)
    }
}
