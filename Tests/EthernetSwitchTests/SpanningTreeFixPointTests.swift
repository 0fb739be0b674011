@testable import EthernetSwitch
import F2FBase
import Testing

/// The bound on role selection and port transitions per update: never binding in practice,
/// so the only way to see it reported is to lower it.
@Suite struct SpanningTreeFixPointTests {
    static let start = Instant(nanoseconds: 1_000_000_000)

    static func notices(in actions: [STPAction]) -> [UInt64] {
        actions.compactMap { if case .notice(.fixPointCapReached(let count)) = $0 { count } else { nil } }
    }

    @Test func theDefaultLimitSettlesAndReportsNothing() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        var actions: [STPAction] = []
        for port in 1...4 {
            tree.enablePort(port, pathCost: 2000, edge: port > 2, pointToPoint: true, now: Self.start, actions: &actions)
        }
        tree.tick(now: Self.start + .seconds(1), actions: &actions)
        #expect(tree.fixPointCapHits == 0)
        #expect(Self.notices(in: actions).isEmpty)
    }

    @Test func hittingTheLimitIsCountedAndNoticedWithBackoff() {
        var tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0009))
        // One pass cannot both select roles and see that nothing else changes.
        tree.fixPointPassLimit = 1
        var actions: [STPAction] = []
        for port in 1...5 {
            tree.enablePort(port, pathCost: 2000, edge: false, pointToPoint: true, now: Self.start, actions: &actions)
        }
        #expect(tree.fixPointCapHits >= 3)
        let noticed = Self.notices(in: actions)
        #expect(noticed.first == 1)
        // Reported on the 1st, 2nd, 4th... hit only.
        #expect(noticed.allSatisfy { $0 & ($0 - 1) == 0 })
        #expect(UInt64(noticed.count) < tree.fixPointCapHits)
    }
}
