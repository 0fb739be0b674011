import EthernetSwitch
import F2FPosix
import Glibc
import VDEPlug

/// A VDE client through the real libvdeplug, with deadline-bounded receives.
final class TestClient: TestFrameSource {
    let connection: VDEPlugConnection
    let mac: MACAddress
    private var buffer = [UInt8](repeating: 0, count: 65536)

    init(_ directory: String, mac: String, port: Int32 = 0, description: String = "test") throws {
        connection = try VDEPlugConnection(url: "vde://" + directory, description: description, port: port)
        self.mac = MACAddress(parsing: mac)!
    }

    func send(_ frame: [UInt8]) throws {
        guard case .processed(let count) = try connection.send(frame), count == frame.count else {
            throw TestFailure("short send")
        }
    }

    /// The next frame, or nil if none arrives before the timeout. The switch's spanning tree
    /// hellos (every edge port gets them) are passed over unless `bpdus` asks for them.
    func receive(timeout: Duration = .seconds(5), bpdus: Bool = false) throws -> [UInt8]? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            let milliseconds = max(0, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            var poller = pollfd(fd: connection.dataDescriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, milliseconds) > 0 else { return nil }
            let result = try buffer.withUnsafeMutableBytes { raw in try connection.receive(into: raw) }
            guard case .processed(let count) = result else { return nil }
            let frame = Array(buffer[..<count])
            if bpdus || !Self.isBPDU(frame) { return frame }
        }
    }

    static func isBPDU(_ frame: [UInt8]) -> Bool {
        frame.count >= 6 && frame[..<6].elementsEqual([0x01, 0x80, 0xC2, 0x00, 0x00, 0x00])
    }

    /// Frames that arrive before `marker`; fails if the marker does not come.
    func framesBefore(_ marker: [UInt8], timeout: Duration = .seconds(5)) throws -> [[UInt8]] {
        var before: [[UInt8]] = []
        while let frame = try receive(timeout: timeout) {
            if frame == marker { return before }
            before.append(frame)
        }
        throw TestFailure("marker frame never arrived")
    }

    func close() {
        connection.close()
    }
}

/// A test client with its own MAC address, which makes its test frames.
protocol TestFrameSource {
    var mac: MACAddress { get }
}

extension TestFrameSource {
    /// A frame from this client: header (EtherType 0x88B5), then bytes counting up from `tag`
    /// to `size`.
    func frame(to destination: MACAddress, size: Int = 60, tag: UInt8 = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        EthernetHeader(destination: destination, source: mac, etherType: 0x88B5).encode(into: &bytes)
        var value = tag
        while bytes.count < size {
            bytes.append(value)
            value &+= 1
        }
        return bytes
    }
}
