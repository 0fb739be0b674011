import EthernetSwitch
import F2FBase
import F2FTesting
import Logging
import SwitchRuntime
import Testing

/// The engine between links, on virtual time: forwarding, hellos, back-pressure and stalls
/// without sockets or processes.
@Suite struct EngineOnManualLoopTests {
    let loop = ManualEventLoop()
    let engine: SwitchEngine
    let a = RecordingLink("a", id: 1)
    let b = RecordingLink("b", id: 2)
    let c = RecordingLink("c", id: 3)

    init() {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let tree = SpanningTree(bridgeAddress: MACAddress(rawValue: 0x0200_0000_0001))
        engine = SwitchEngine(configuration: SwitchConfiguration(portCount: 8), spanningTree: tree, loop: loop, logger: logger, burstQueueCapacity: 4)
        engine.stallTimeout = .milliseconds(100)
        engine.attach(a, port: 1)
        engine.attach(b, port: 2)
        engine.attach(c, port: 3)
    }

    static func frame(from source: UInt64, to destination: UInt64, tag: UInt8 = 0) -> [UInt8] {
        var bytes = [UInt8](repeating: tag, count: 60)
        for index in 0..<6 {
            bytes[index] = UInt8(truncatingIfNeeded: destination >> (8 * (5 - index)))
            bytes[6 + index] = UInt8(truncatingIfNeeded: source >> (8 * (5 - index)))
        }
        bytes[12] = 0x08
        bytes[13] = 0x00
        return bytes
    }

    func send(_ frame: [UInt8], from port: Int) {
        frame.withUnsafeBytes { engine.receive($0, from: port) }
        loop.runAfterDispatch()
    }

    func dataFrames(_ link: RecordingLink) -> [[UInt8]] {
        link.flushed.filter { $0[0] & 1 == 0 || $0[0] == 0xFF }
    }

    @Test func unknownUnicastFloodsThenTheLearnedPortAlone() {
        let toB = Self.frame(from: 0x0200_0000_00AA, to: 0x0200_0000_00BB)
        send(toB, from: 1)
        #expect(dataFrames(b) == [toB])
        #expect(dataFrames(c) == [toB])
        #expect(dataFrames(a).isEmpty)

        let reply = Self.frame(from: 0x0200_0000_00BB, to: 0x0200_0000_00AA)
        send(reply, from: 2)
        #expect(dataFrames(a) == [reply])
        #expect(dataFrames(c) == [toB])  // the reply went to a alone
    }

    /// The application ticks the engine every 50 ms; so does this.
    func run(for duration: Duration) {
        let end = loop.now + duration
        while loop.now < end {
            loop.advance(by: .milliseconds(50))
            engine.tick()
        }
    }

    @Test func everyPortSaysHelloEveryHelloTime() {
        let atStart = [a, b, c].map(\.controlFrames.count)
        #expect(atStart == [1, 1, 1])  // the hello a port sends when it comes up
        run(for: .milliseconds(1_900))
        #expect([a, b, c].map(\.controlFrames.count) == [1, 1, 1])
        run(for: .milliseconds(200))
        #expect([a, b, c].map(\.controlFrames.count) == [2, 2, 2])
        run(for: .seconds(2))
        #expect([a, b, c].map(\.controlFrames.count) == [3, 3, 3])
    }

    @Test func aBackedUpPortPausesItsSendersUntilItDrains() {
        // Teach the switch where BB is, so frames for it go to b alone.
        send(Self.frame(from: 0x0200_0000_00BB, to: 0xFFFF_FFFF_FFFF), from: 2)
        b.refusesFrames = true
        send(Self.frame(from: 0x0200_0000_00AA, to: 0x0200_0000_00BB, tag: 1), from: 1)
        #expect(b.isBackedUp)
        #expect(a.isPaused)
        #expect(!c.isPaused)

        b.refusesFrames = false
        #expect(b.drain().count == 1)
        engine.egressDrained(port: 2)
        #expect(!a.isPaused)
    }

    @Test func aPortThatTakesNothingForTheStallTimeoutNoLongerHoldsItsSenders() {
        send(Self.frame(from: 0x0200_0000_00BB, to: 0xFFFF_FFFF_FFFF), from: 2)
        b.refusesFrames = true
        send(Self.frame(from: 0x0200_0000_00AA, to: 0x0200_0000_00BB, tag: 1), from: 1)
        #expect(a.isPaused)
        run(for: .milliseconds(50))
        #expect(a.isPaused)  // 50 ms: still waiting for b
        run(for: .milliseconds(100))
        #expect(!a.isPaused)  // 150 ms: b is stalled, a goes on (its frames for b are dropped)
    }
}
