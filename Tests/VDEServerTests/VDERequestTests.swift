import F2FBase
import F2FPosix
import F2FTesting
import Testing
import VDEServer

@Suite struct VDERequestTests {
    static let fixtures = ["vde/request-vdeplug4.hex", "vde/request-qemu-port5.hex"]

    @Test func parsesVdePlug4Request() throws {
        let bytes = Fixture.bytes("vde/request-vdeplug4.hex")
        let request = try VDERequest(parsing: bytes.span)
        #expect(request.version == 3)
        #expect(request.kind == .newControl(port: nil))
        #expect(request.clientAddress.path == "/tmp/sw/.16597-00000")
        #expect(request.description == "vdeplug: user=root pid=16597")
    }

    @Test func parsesQEMURequestWithPort() throws {
        let request = try VDERequest(parsing: Fixture.bytes("vde/request-qemu-port5.hex").span)
        #expect(request.kind == .newControl(port: 5))
        #expect(request.description == "QEMU user=root pid=16659")
    }

    @Test(arguments: fixtures)
    func reencodesByteExact(_ name: String) throws {
        let bytes = Fixture.bytes(name)
        let request = try VDERequest(parsing: bytes.span)
        var encoded: [UInt8] = []
        request.encode(into: &encoded)
        #expect(encoded == bytes)
        #expect(request.encodedCount == bytes.count)
    }

    @Test(arguments: fixtures)
    func everyTruncatedHeaderThrows(_ name: String) {
        let bytes = Fixture.bytes(name)
        for length in 0..<VDERequest.Layout.version3HeaderCount {
            let prefix = Array(bytes.prefix(length))
            let complete = VDERequest.isComplete(prefix.span)
            #expect(!complete)
            #expect(throws: VDERequestError.self) { try VDERequest(parsing: prefix.span) }
        }
        // No description at all (user-mode-linux) is a valid request.
        let headerOnly = Array(bytes.prefix(VDERequest.Layout.version3HeaderCount))
        #expect((try? VDERequest(parsing: headerOnly.span))?.description == "")
    }

    @Test func version1RequestIsAccepted() throws {
        let original = VDERequest(kind: .newControl(port: nil), clientAddress: UnixSocketAddress(path: "/tmp/x/.1-0")!, description: "old", version: 1)
        var bytes: [UInt8] = []
        original.encode(into: &bytes)
        #expect(bytes.count == 124 + 3)
        let parsed = try VDERequest(parsing: bytes.span)
        #expect(parsed == original)
    }

    @Test func port0AndAbstractAddresses() throws {
        var abstractPath = [UInt8](repeating: 0, count: 108)
        abstractPath[1] = 0x42
        let request = VDERequest(kind: .newPort0, clientAddress: UnixSocketAddress(pathBytes: abstractPath), description: "")
        var bytes: [UInt8] = []
        request.encode(into: &bytes)
        let parsed = try VDERequest(parsing: bytes.span)
        #expect(parsed.kind == .newPort0)
        #expect(parsed.clientAddress.isAbstract)
        #expect(parsed.clientAddress.path == nil)
    }

    @Test func descriptionStopsAtNUL() throws {
        var bytes = Fixture.bytes("vde/request-qemu-port5.hex")
        bytes.insert(0, at: 122 + 4)
        #expect(try VDERequest(parsing: bytes.span).description == "QEMU")
    }

    @Test func rejectsEachBadField() {
        let good = Fixture.bytes("vde/request-vdeplug4.hex")
        func mutated(_ offset: Int, _ values: [UInt8]) -> [UInt8] {
            var bytes = good
            bytes.replaceSubrange(offset..<(offset + values.count), with: values)
            return bytes
        }
        #expect(throws: VDERequestError.badMagic(0xFEED_FACF)) { try VDERequest(parsing: mutated(0, [0xCF]).span) }
        #expect(throws: VDERequestError.unsupportedVersion(2)) { try VDERequest(parsing: mutated(4, [2]).span) }
        #expect(throws: VDERequestError.unsupportedVersion(4)) { try VDERequest(parsing: mutated(4, [4]).span) }
        #expect(throws: VDERequestError.badRequestType(7)) { try VDERequest(parsing: mutated(8, [7]).span) }
        #expect(throws: VDERequestError.badAddressFamily(2)) { try VDERequest(parsing: mutated(12, [2]).span) }
        let tooLong = good + [UInt8](repeating: 0x41, count: 200)
        #expect(throws: VDERequestError.oversized(tooLong.count)) { try VDERequest(parsing: tooLong.span) }
    }

    @Test func randomBuffersNeverTrap() {
        var generator = SeededGenerator(seed: 0x5EED)
        let good = Fixture.bytes("vde/request-vdeplug4.hex")
        for round in 0..<10_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                // Mostly valid requests with a few bytes flipped reach deeper.
                bytes = good
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            _ = VDERequest.isComplete(bytes.span)
            _ = try? VDERequest(parsing: bytes.span)
        }
    }
}

@Suite struct SocketPermissionsTests {
    // Derivations verified against vde_switch (docs/vde-protocol.md 1.1).
    @Test func defaults() {
        let permissions = SocketPermissions()
        #expect(permissions.socketMode == 0o600)
        #expect(permissions.directoryMode == 0o2700)
    }

    @Test(arguments: [(0o600, 0o2700), (0o660, 0o2770), (0o666, 0o2777), (0o640, 0o2750), (0o200, 0o2300)] as [(UInt32, UInt32)])
    func directoryModeFollowsSocketMode(_ socket: UInt32, _ directory: UInt32) {
        let permissions = SocketPermissions(socketMode: socket)
        #expect(permissions.directoryMode == directory)
    }

    @Test func directoryModeAloneGivesSocketMode() {
        #expect(SocketPermissions(directoryMode: 0o2750).socketMode == 0o640)
        let both = SocketPermissions(socketMode: 0o600, directoryMode: 0o755)
        #expect(both.socketMode == 0o600)
        #expect(both.directoryMode == 0o755)
    }

    @Test func parsesOctal() {
        #expect(SocketPermissions.parseMode("660") == 0o660)
        #expect(SocketPermissions.parseMode("0660") == 0o660)
        #expect(SocketPermissions.parseMode("2750") == 0o2750)
        #expect(SocketPermissions.parseMode("9") == nil)
        #expect(SocketPermissions.parseMode("") == nil)
        #expect(SocketPermissions.parseMode("77777") == nil)
    }
}
