import F2FCore
import F2FTesting
import Testing

@testable import F2FSecure

/// The responder's `admitHandshake` hook: where a listener bounds the Diffie-Hellman work
/// strangers can ask for and learns who has spoken in time.
@Suite struct HandshakeAdmissionTests {
    @Test func theResponderAsksOnceWhenTheFirstMessageIsInAndGoesOnWhenAdmitted() {
        let link = SecureLinkHarness()
        var asked = 0
        link.responder.admitHandshake = {
            asked += 1
            return nil
        }
        link.connect()
        #expect(asked == 1)
        #expect(link.aliceEnd.established && link.bobEnd.established)
    }

    @Test func aFirstMessageNotAdmittedClosesTheConnectionWithoutAnAnswer() {
        let link = SecureLinkHarness()
        link.responder.admitHandshake = { "more than 5 handshakes per second from 192.0.2.1" }
        link.connect()
        #expect(link.pair.b.written.isEmpty, "no second message: no Diffie-Hellman work was done")
        let error = link.bobEnd.closedError ?? nil
        #expect(error?.kind == "notAdmitted", "counted apart from refusals and timeouts")
        #expect(link.bobEnd.authorizedIDs.isEmpty, "the initiator's identity was never read")
        #expect(link.pair.b.isClosed)
        #expect(!link.aliceEnd.established)
    }

    @Test func theInitiatorIsNeverAsked() {
        let link = SecureLinkHarness()
        var asked = 0
        link.initiator.admitHandshake = {
            asked += 1
            return "not for initiators"
        }
        link.connect()
        #expect(asked == 0, "the hook is for responders; an initiator's first message in is the answer it asked for")
        #expect(link.aliceEnd.established && link.bobEnd.established)
    }
}
