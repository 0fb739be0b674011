import F2FBase
import F2FPosix
import F2FSecure
import Testing

@testable import F2FTransportUDP

/// The NAT-traversal packets' codecs: round trips, every truncated prefix refused, random
/// bytes never trap.
@Suite struct NATPacketsTests {
    let v4 = InetSocketAddress(ip: [198, 51, 100, 3], port: 40_001)!
    let v6 = InetSocketAddress(ip: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [7], port: 443)!
    let id = IdentityKey().id

    func bytes(_ encode: (inout [UInt8]) -> Void) -> [UInt8] {
        var output: [UInt8] = []
        encode(&output)
        return output
    }

    @Test func anEndpointKeepsItsAddressAndPort() {
        #expect(v4.description == "198.51.100.3:40001")
        #expect(v4.ipBytes == [198, 51, 100, 3])
        #expect(v6.ipBytes.count == 16 && v6.port == 443 && v6.isIPv6)
        #expect(InetSocketAddress(ip: [1, 2, 3], port: 1) == nil)
    }

    @Test func observedAddressRoundTripsAndRefusesEveryPrefix() {
        for endpoint in [v4, v6] {
            let encoded = bytes { ObservedAddress(endpoint: endpoint).encode(into: &$0) }
            #expect(encoded.withUnsafeBytes { ObservedAddress(parsing: $0) } == ObservedAddress(endpoint: endpoint))
            for count in 0..<encoded.count {
                #expect(encoded.prefix(count).withUnsafeBytes { ObservedAddress(parsing: $0) } == nil)
            }
        }
        #expect([5, 0, 1, 1, 2, 3, 4].withUnsafeBytes { ObservedAddress(parsing: $0) } == nil, "family 5")
    }

    @Test func wantedFriendsRoundTrips() {
        let other = IdentityKey().id
        let wanted = WantedFriends(localEndpoints: [v4, v6], friends: [id, other])
        let encoded = bytes { wanted.encode(into: &$0) }
        #expect(encoded.count == 1 + 7 + 19 + 64)
        #expect(encoded.withUnsafeBytes { WantedFriends(parsing: $0) } == wanted)
        let empty = bytes { WantedFriends(localEndpoints: [], friends: []).encode(into: &$0) }
        #expect(empty == [0])
        #expect(encoded.dropLast().withUnsafeBytes { WantedFriends(parsing: $0) } == nil, "a key cut short")
        #expect([3].withUnsafeBytes { WantedFriends(parsing: $0) } == nil, "endpoints announced, none there")
    }

    @Test func introductionRoundTripsAndRefusesEveryPrefix() {
        let introduction = Introduction(friend: id, endpoints: [v4, v6])
        let encoded = bytes { introduction.encode(into: &$0) }
        #expect(encoded.withUnsafeBytes { Introduction(parsing: $0) } == introduction)
        for count in 0..<encoded.count {
            #expect(encoded.prefix(count).withUnsafeBytes { Introduction(parsing: $0) } == nil)
        }
        #expect((encoded + [0]).withUnsafeBytes { Introduction(parsing: $0) } == nil, "trailing bytes")
    }

    @Test func randomBytesNeverTrap() {
        var rng = SeededGenerator(seed: 0x18)
        for _ in 0..<10_000 {
            let count = Int.random(in: 0...120, using: &rng)
            var buffer = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if count > 0, Bool.random(using: &rng) { buffer[0] = [4, 6][Int.random(in: 0...1, using: &rng)] }
            buffer.withUnsafeBytes { raw in
                _ = ObservedAddress(parsing: raw)
                _ = WantedFriends(parsing: raw)
                _ = Introduction(parsing: raw)
            }
        }
    }
}
