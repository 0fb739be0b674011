import F2FBase
import F2FCore
import F2FTesting
import Testing

/// `DatagramDrain` over a fake socket shared by links with real `PathSwitchingConnection`
/// inboxes, read by fake peers: what the kernel holds, how much one `recvmmsg` may take, and
/// what the peers read. No sockets, no clock.
@Suite struct DatagramDrainTests {
    /// A peer that reads whole packets from its connection, at most `budget` per wake-up (as
    /// `Peer.pumpInbound`), or none while paused (it then asks for no readability, as a peer
    /// behind a backed-up port does).
    final class ReadingPeer: ConnectionEvents {
        let connection: PathSwitchingConnection
        let assembler = PacketAssembler()
        var budget: Int
        var read: [[UInt8]] = []
        var wakeUps = 0
        var paused = false {
            didSet { connection.reconfigure(paused ? [] : .readable) }
        }

        init(budget: Int = 512) {
            self.budget = budget
            connection = PathSwitchingConnection(stream: ScriptedConnection())
            connection.events = self
            connection.reconfigure(.readable)
        }

        func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool) {
            guard readable, !paused else { return }
            wakeUps += 1
            for _ in 0..<budget {
                guard case .packet(let type)? = try? assembler.read(from: connection) else { return }
                read.append(PacketBytes.packet(type, payload: Array(assembler.payload)))
                assembler.release()
            }
        }

        func connectionEstablished(_ connection: any Connection) {}
        func connectionClosed(_ connection: any Connection, error: ConnectionError?) {}
    }

    /// The kernel's socket buffer: datagrams (here their opened packets) for link 0 or 1. A
    /// receive slot takes a run of them up to `slotSize` bytes, as UDP GRO coalesces a run.
    final class FakeSocket: DrainableSocket {
        var kernel: [(link: Int, packet: [UInt8])] = []
        let peers: [ReadingPeer]
        let slotSize: Int
        /// The slots each `receive` was allowed.
        var slotsAsked: [Int] = []
        var datagramsReceived = 0

        init(peers: [ReadingPeer], slotSize: Int) {
            self.peers = peers
            self.slotSize = slotSize
        }

        var inboxRoom: Int { peers.map(\.connection.inboxRoom).min() ?? .max }

        func receive(slots: Int) -> (slots: Int, datagrams: Int)? {
            slotsAsked.append(slots)
            guard !kernel.isEmpty else { return nil }
            var filled = 0
            var datagrams = 0
            while filled < slots, !kernel.isEmpty {
                var bytes = 0
                while let next = kernel.first, bytes + next.packet.count <= slotSize {
                    kernel.removeFirst()
                    bytes += next.packet.count
                    datagrams += 1
                    next.packet.withUnsafeBytes { peers[next.link].connection.deliver(packet: $0) }
                }
                filled += 1
            }
            datagramsReceived += datagrams
            return (filled, datagrams)
        }

        func offerWaitingPackets() -> Bool {
            var read = false
            for peer in peers where peer.connection.offerPackets() { read = true }
            return read
        }
    }

    static func frames(_ count: Int, size: Int, link: Int = 0) -> [(link: Int, packet: [UInt8])] {
        (0..<count).map { index in (link, PacketBytes.packet(.ethernetFrame, payload: Array(repeating: UInt8(truncatingIfNeeded: index), count: size))) }
    }

    /// GRO's receive batch: 16 slots of 64 KiB, against an inbox of 256 KiB.
    static let coalesced = DatagramDrain(slotSize: 65_536, slotCapacity: 16, datagramBudget: 256, roundBudget: 8)

    @Test func aReadNeverBringsMoreThanTheInboxTakesAndThePeersReadBetweenReads() {
        let peer = ReadingPeer()
        let socket = FakeSocket(peers: [peer], slotSize: 65_536)
        socket.kernel = Self.frames(1000, size: 1514)
        let outcome = Self.coalesced.run(socket)
        #expect(outcome == .budgetSpent)
        #expect(socket.slotsAsked.allSatisfy { $0 > 0 && $0 <= 4 }, "256 KiB of room is four 64 KiB slots: \(socket.slotsAsked)")
        #expect(peer.connection.counters.inboxDropped == 0)
        #expect(peer.read.count == socket.datagramsReceived, "every packet received was read in the same wake-up")
        #expect(peer.read == Self.frames(socket.datagramsReceived, size: 1514).map(\.packet), "in order")
        #expect(socket.datagramsReceived >= 256 && socket.datagramsReceived < 256 + 4 * 43, "the budget, passed by one batch at most")
        #expect(socket.kernel.count == 1000 - socket.datagramsReceived, "the rest waits in the kernel")
        #expect(Self.coalesced.run(socket) == .budgetSpent, "the next wake-up goes on")
        #expect(peer.read.count == socket.datagramsReceived && peer.connection.counters.inboxDropped == 0)
    }

    @Test func aPausedPeerLeavesTheRestInTheKernelUnopenedAndReadingResumesWithIt() {
        let peer = ReadingPeer()
        peer.paused = true
        let socket = FakeSocket(peers: [peer], slotSize: 65_536)
        socket.kernel = Self.frames(1000, size: 1514)
        #expect(Self.coalesced.run(socket) == .held)
        let received = socket.datagramsReceived
        #expect(received > 0 && received <= 4 * 43, "one read of the room there was, then none")
        #expect(peer.connection.counters.inboxDropped == 0, "nothing opened and thrown away")
        #expect(socket.kernel.count == 1000 - received)
        // Still paused: a later wake-up reads nothing more.
        #expect(Self.coalesced.run(socket) == .held)
        #expect(socket.datagramsReceived == received)
        peer.paused = false
        #expect(Self.coalesced.run(socket) == .budgetSpent)
        #expect(peer.read.count == socket.datagramsReceived && socket.datagramsReceived > received)
        #expect(peer.connection.counters.inboxDropped == 0)
    }

    @Test func smallFramesBeyondThePeersOwnBudgetAreOfferedUntilRead() {
        // 64-byte frames: one coalesced slot holds about 970 of them, a peer reads 512 a wake-up.
        let peer = ReadingPeer(budget: 512)
        let socket = FakeSocket(peers: [peer], slotSize: 65_536)
        socket.kernel = Self.frames(3000, size: 64)
        let drain = DatagramDrain(slotSize: 65_536, slotCapacity: 16, datagramBudget: 256, roundBudget: 8)
        #expect(drain.run(socket) == .budgetSpent)
        #expect(!peer.connection.holdsPackets, "offered again until the inbox was empty")
        #expect(peer.wakeUps > 1)
        #expect(peer.read.count == socket.datagramsReceived && peer.connection.counters.inboxDropped == 0)
        while drain.run(socket) != .emptied {}
        #expect(peer.read.count == 3000 && socket.kernel.isEmpty)
    }

    @Test func oneWakeUpIsBoundedInRoundsWhateverTheDatagrams() {
        let peer = ReadingPeer()
        let socket = FakeSocket(peers: [peer], slotSize: 9216)
        // One small datagram per slot: the datagram budget alone would allow many reads.
        socket.kernel = Self.frames(10_000, size: 9000)
        let drain = DatagramDrain(slotSize: 9216, slotCapacity: 2, datagramBudget: 10_000, roundBudget: 3)
        #expect(drain.run(socket) == .budgetSpent)
        #expect(socket.slotsAsked.count == 3 && socket.datagramsReceived == 6)
    }

    @Test func theFullestInboxBoundsTheReadForEveryLinkSharingTheSocket() {
        let busy = ReadingPeer()
        let idle = ReadingPeer()
        busy.paused = true
        let socket = FakeSocket(peers: [busy, idle], slotSize: 65_536)
        socket.kernel = Self.frames(200, size: 1514, link: 0) + Self.frames(10, size: 1514, link: 1)
        #expect(Self.coalesced.run(socket) == .held, "the busy link's inbox fills; the socket is left alone")
        #expect(busy.connection.counters.inboxDropped == 0 && idle.connection.counters.inboxDropped == 0)
        #expect(socket.kernel.count > 0)
        busy.paused = false
        while Self.coalesced.run(socket) != .emptied {}
        #expect(busy.read.count == 200 && idle.read.count == 10)
    }

    @Test func slotsFollowTheRoom() {
        let drain = DatagramDrain(slotSize: 9216, slotCapacity: 64, datagramBudget: 256, roundBudget: 8)
        #expect(drain.slots(forRoom: 9215) == 0)
        #expect(drain.slots(forRoom: 9216 * 3 + 1) == 3)
        #expect(drain.slots(forRoom: .max) == 64)
        #expect(drain.slots(forRoom: -1) == 0)
    }
}
