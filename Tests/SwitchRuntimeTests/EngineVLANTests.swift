import EthernetSwitch
import F2FBase
import F2FTesting
import Logging
import SwitchRuntime
import Testing

/// 802.1Q through the engine: each copy leaves in its port's form, a unicast retagged in its
/// own ingress buffer, a flood's other form built apart, and no frame of a batch disturbed
/// by the rewrite of another before the links send them.
@Suite struct EngineVLANTests {
    let loop = ManualEventLoop()
    let engine: SwitchEngine
    /// Port 1 untagged in VLAN 10, port 2 a tagged member of 10 (untagged in 0), port 3
    /// untagged in 10, port 4 untagged in 0 only. Each link reads staged frames at flush.
    let links = (1...4).map { RecordingLink("p\($0)", id: $0) }
    static let maxFrameSize = 1518
    let a: UInt64 = 0x0200_0000_00AA
    let x: UInt64 = 0x0200_0000_00EE

    init() throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        engine = SwitchEngine(
            configuration: SwitchConfiguration(portCount: 8, maxFrameSize: Self.maxFrameSize), loop: loop, logger: logger)
        for (index, link) in links.enumerated() {
            link.readsAtFlush = true
            engine.attach(link, port: index + 1)
        }
        try engine.createVLAN(10)
        try engine.setUntaggedVLAN(10, port: 1)
        try engine.addTaggedPort(2, vlan: 10)
        try engine.setUntaggedVLAN(10, port: 3)
    }

    /// Addresses, then a tag for `vlan` if given, then IPv4's EtherType and a payload that
    /// tells frames apart, `size` bytes in all (a tag in them: 64 bytes tagged are 60 untagged).
    static func frame(from source: UInt64, to destination: UInt64, vlan: UInt16? = nil, payload: UInt8 = 0x5A, size: Int = 60) -> [UInt8] {
        var bytes: [UInt8] = []
        for shift in stride(from: 40, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: destination >> UInt64(shift))) }
        for shift in stride(from: 40, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: source >> UInt64(shift))) }
        if let vlan { bytes += [0x81, 0x00, UInt8(vlan >> 8), UInt8(vlan & 0xFF)] }
        bytes += [0x08, 0x00]
        bytes += [UInt8](repeating: payload, count: size - bytes.count)
        return bytes
    }

    /// The frames in one dispatch: copied into consecutive ingress slots, flushed together.
    func send(_ frames: [[UInt8]], from port: Int) {
        for frame in frames { frame.withUnsafeBytes { engine.receive($0, from: port) } }
        loop.runAfterDispatch()
    }

    func received(_ port: Int) -> [[UInt8]] {
        links[port - 1].flushed
    }

    /// x sends a tagged broadcast on port 2: learned there in VLAN 10, it reaches ports 1 and
    /// 3 without the tag, port 4 (VLAN 0) not at all.
    func learnX() {
        send([Self.frame(from: x, to: 0xFFFF_FFFF_FFFF, vlan: 10, size: 64)], from: 2)
    }

    @Test func aFloodLeavesEachPortInItsForm() {
        learnX()
        let untagged = Self.frame(from: x, to: 0xFFFF_FFFF_FFFF)
        #expect(received(1) == [untagged])
        #expect(received(3) == [untagged])
        #expect(received(4).isEmpty)
        #expect(received(2).isEmpty)
    }

    @Test func aUnicastTakesItsTagInPlaceAndEveryFrameOfTheBatchStaysWhole() {
        learnX()
        // Three frames in one dispatch, each in its own slot, each tagged in its own buffer's
        // headroom: the link reads all three only at the flush.
        let frames = (1...3).map { Self.frame(from: a, to: x, payload: UInt8($0)) }
        send(frames, from: 1)
        #expect(received(2) == (1...3).map { Self.frame(from: a, to: x, vlan: 10, payload: UInt8($0), size: 64) })
        #expect(received(3).count == 1, "only x's broadcast: the unicasts were not flooded")
    }

    @Test func aUnicastLosesItsTagInPlace() {
        learnX()
        send([Self.frame(from: a, to: 0xFFFF_FFFF_FFFF)], from: 1)  // a learned on port 1
        let replies = (1...2).map { Self.frame(from: x, to: a, vlan: 10, payload: UInt8($0), size: 64) }
        send(replies, from: 2)
        #expect(received(1).suffix(2) == (1...2).map { Self.frame(from: x, to: a, payload: UInt8($0)) })
    }

    @Test func aUnicastInItsFormIsStagedAsItCame() throws {
        learnX()
        send([Self.frame(from: a, to: 0xFFFF_FFFF_FFFF)], from: 1)
        try engine.setUntaggedVLAN(10, port: 4)  // port 4 joins VLAN 10 untagged; stations stay
        let toA = Self.frame(from: 0x0200_0000_0044, to: a)
        send([toA], from: 4)
        #expect(received(1).last == toA)
    }

    @Test func aFullSizeFrameThatCannotTakeATagIsDroppedAndCounted() {
        learnX()
        let full = Self.frame(from: a, to: x, size: Self.maxFrameSize)
        send([full, Self.frame(from: a, to: x)], from: 1)
        #expect(received(2) == [Self.frame(from: a, to: x, vlan: 10, size: 64)])
        #expect(engine.core.ports[2].counters[dropped: .oversize] == 1)
    }
}
