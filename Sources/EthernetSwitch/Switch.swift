import F2FBase

/// The learning Ethernet switch: pure decisions over numbered ports, virtual time.
///
/// The I/O layer feeds every received frame to `receive(frame:on:now:)` and performs the
/// decision; it reports what happened at egress with `recordSent`/`recordDrop`.
public struct Switch: Sendable {
    public struct Port: Sendable {
        public var isActive = false
        public var counters = PortCounters()
    }

    public private(set) var configuration: SwitchConfiguration
    public private(set) var macTable: MACTable
    /// Indexed by port number. Counters outlive a client, like vde_switch's inactive ports.
    public private(set) var ports: [Port]
    /// Active ports in ascending order: the targets of a flood (the ingress is skipped).
    public private(set) var floodPorts: [Int] = []
    /// Frames that flooded because the table had no room for their source.
    public var refusedLearnCount: UInt64 { macTable.refusedCount }

    public init(configuration: SwitchConfiguration = SwitchConfiguration()) {
        precondition(configuration.portCount > 0, "a switch needs ports")
        self.configuration = configuration
        macTable = MACTable(capacity: configuration.macTableCapacity, agingTime: configuration.macAgingTime)
        ports = Array(repeating: Port(), count: configuration.portCount)
        floodPorts.reserveCapacity(configuration.portCount)
    }

    // MARK: Ports

    public func isActive(_ port: Int) -> Bool {
        ports.indices.contains(port) && ports[port].isActive
    }

    /// The lowest inactive port at or above `lowest`, as vde_switch allocates.
    public func lowestFreePort(from lowest: Int = 1) -> Int? {
        (max(lowest, 0)..<ports.count).first { !ports[$0].isActive }
    }

    public mutating func activatePort(_ port: Int) {
        precondition(ports.indices.contains(port) && !ports[port].isActive, "port \(port) not free")
        ports[port].isActive = true
        let insertAt = floodPorts.firstIndex { $0 > port } ?? floodPorts.endIndex
        floodPorts.insert(port, at: insertAt)
    }

    /// The port goes away and takes its stations with it.
    public mutating func deactivatePort(_ port: Int) {
        guard isActive(port) else { return }
        ports[port].isActive = false
        floodPorts.removeAll { $0 == port }
        macTable.removeEntries(onPort: port)
    }

    /// Grows or shrinks the port range; refuses to drop an active port.
    public mutating func setPortCount(_ count: Int) -> Bool {
        guard count > 0, !ports[min(count, ports.count)...].contains(where: \.isActive) else { return false }
        if count < ports.count {
            ports.removeLast(ports.count - count)
        } else {
            ports.append(contentsOf: repeatElement(Port(), count: count - ports.count))
        }
        configuration.portCount = count
        return true
    }

    public mutating func resetCounters(port: Int? = nil) {
        for index in ports.indices where port == nil || port == index {
            ports[index].counters = PortCounters()
        }
    }

    // MARK: Data path

    /// Decides where one frame goes, learning its source on the way.
    public mutating func receive(frame: Span<UInt8>, on port: Int, now: Instant) -> ForwardingDecision {
        guard frame.count >= EthernetHeader.minimumCount else { return drop(.runt, on: port) }
        guard frame.count <= configuration.maxFrameSize else { return drop(.oversize, on: port) }
        guard ports[port].isActive else { return drop(.portBlocked, on: port) }
        ports[port].counters.framesIn &+= 1
        ports[port].counters.bytesIn &+= UInt64(frame.count)

        let destination = MACAddress(rawValue: frame.bigEndianUInt48(at: EthernetHeader.Field.destination))
        let source = MACAddress(rawValue: frame.bigEndianUInt48(at: EthernetHeader.Field.source))
        let vlanID = Self.vlanID(of: frame)
        if !source.isMulticast {
            macTable.learn(source, vlanID: vlanID, port: port, now: now)
        }
        if destination.isMulticast {
            return .flood
        }
        guard let egress = macTable.lookup(destination, vlanID: vlanID, now: now) else {
            return .flood
        }
        return egress == port ? drop(.hairpin, on: port) : .unicast(port: egress)
    }

    public mutating func recordSent(port: Int, byteCount: Int) {
        ports[port].counters.framesOut &+= 1
        ports[port].counters.bytesOut &+= UInt64(byteCount)
    }

    public mutating func recordDrop(port: Int, reason: DropReason) {
        ports[port].counters[dropped: reason] &+= 1
    }

    // MARK: Time and configuration

    /// Periodic housekeeping (the loop calls it about once a second).
    public mutating func tick(now: Instant) {
        macTable.expire(now: now)
    }

    public mutating func setMACAgingTime(_ agingTime: Duration) {
        configuration.macAgingTime = agingTime
        macTable.agingTime = agingTime
    }

    public mutating func flushMACTable() {
        macTable.removeAll()
    }

    private mutating func drop(_ reason: DropReason, on port: Int) -> ForwardingDecision {
        if ports.indices.contains(port) {
            ports[port].counters[dropped: reason] &+= 1
        }
        return .drop(reason)
    }

    /// 802.1Q VID of a tagged frame, 0 otherwise (priority tags included).
    @inline(__always)
    private static func vlanID(of frame: Span<UInt8>) -> UInt16 {
        guard frame.count >= EthernetHeader.taggedCount,
            frame.bigEndianUInt16(at: EthernetHeader.Field.etherType) == EthernetHeader.vlanTagType
        else { return 0 }
        return frame.bigEndianUInt16(at: EthernetHeader.Field.tagControl) & 0x0FFF
    }
}
