import Testing

@testable import F2FSecure

@Suite struct Base32Tests {
    @Test func encodesTheRFC4648Vectors() {
        // RFC 4648 §10, lowercase and unpadded.
        let vectors = ["": "", "f": "my", "fo": "mzxq", "foo": "mzxw6", "foob": "mzxw6yq", "fooba": "mzxw6ytb", "foobar": "mzxw6ytboi"]
        for (plain, encoded) in vectors {
            #expect(Base32.encode(Array(plain.utf8)) == encoded)
            #expect(Base32.decode(encoded) == Array(plain.utf8))
            #expect(Base32.decode(encoded.uppercased()) == Array(plain.utf8))
        }
    }

    @Test func refusesForeignCharactersAndNonCanonicalTails() {
        #expect(Base32.decode("mzxw6=") == nil)
        #expect(Base32.decode("mzxw1") == nil)
        #expect(Base32.decode("mz") == nil)  // "mz" carries non-zero bits past the byte
    }

    @Test func aPeerIDRoundTripsThroughItsText() throws {
        let id = IdentityKey().id
        #expect(id.description.count == 52)
        #expect(PeerID(parsing: id.description) == id)
        #expect(PeerID(parsing: id.description.uppercased()) == id)
        #expect(PeerID(parsing: String(id.description.dropLast())) == nil)
        #expect(PeerID(parsing: id.description + "a") == nil)
    }
}
