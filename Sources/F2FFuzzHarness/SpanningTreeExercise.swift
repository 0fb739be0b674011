import EthernetSwitch
import F2FBase

/// A small switch with the spanning tree on, so that a frame that parsed as a BPDU also runs
/// through `Switch.receive` → `SpanningTree.receive` and a few timer ticks, as on a real port.
enum SpanningTreeExercise {
    private static let ownAddress = MACAddress(0x02, 0x66, 0x00, 0x00, 0x00, 0x01)
    private static let edgePort = 1
    private static let peerPort = 2

    static func deliver(frame: [UInt8]) {
        var core = Switch(
            configuration: SwitchConfiguration(portCount: 4, maxFrameSize: 1518),
            spanningTree: SpanningTree(bridgeAddress: ownAddress))
        core.activatePort(edgePort, kind: .edge, now: .zero)
        core.activatePort(peerPort, kind: .pointToPoint, now: .zero)
        var now = Instant.zero
        for port in [edgePort, peerPort] {
            _ = core.receive(frame: frame.span, on: port, now: now)
            _ = core.takePendingBPDUs()
        }
        // Long enough for message age, max age and forward delay timers to fire.
        for _ in 0..<8 {
            now = now + .seconds(5)
            core.tick(now: now)
            _ = core.takePendingBPDUs()
        }
        _ = core.receive(frame: frame.span, on: peerPort, now: now)
    }
}
