import F2FCore
import F2FTesting
import Logging

@testable import F2FSecure

/// What sits above a `SecureConnection` in these tests: records what it is told and moves bytes.
final class Endpoint: ConnectionEvents {
    var established = false
    var closedError: ConnectionError??
    var readError: ConnectionError?
    var received: [UInt8] = []
    var outgoing: [UInt8] = []
    var authorizedIDs: [PeerID] = []

    func connectionEstablished(_ connection: any Connection) {
        established = true
        connection.reconfigure(outgoing.isEmpty ? .readable : [.readable, .writable])
    }

    func connectionIsReady(_ connection: any Connection, readable: Bool, writable: Bool) {
        if readable { drain(connection) }
        if writable { send(on: connection) }
    }

    func connectionClosed(_ connection: any Connection, error: ConnectionError?) {
        closedError = .some(error)
    }

    func send(_ bytes: [UInt8], on connection: any Connection) {
        outgoing += bytes
        send(on: connection)
    }

    private func send(on connection: any Connection) {
        do {
            let count = try outgoing.withUnsafeBytes { (bytes) throws(ConnectionError) in try connection.write(bytes) }
            outgoing.removeFirst(count)
            connection.flush()
            connection.reconfigure(outgoing.isEmpty ? .readable : [.readable, .writable])
        } catch {
            readError = error as? ConnectionError
        }
    }

    private func drain(_ connection: any Connection) {
        var buffer = [UInt8](repeating: 0, count: 1000)
        while true {
            do {
                let result = try buffer.withUnsafeMutableBytes { (raw) throws(ConnectionError) in try connection.read(into: raw) }
                guard case .bytes(let count) = result else { return }
                received += buffer[..<count]
            } catch {
                readError = error as? ConnectionError
                return
            }
        }
    }
}

/// Two `SecureConnection`s over an in-memory pair; `pump()` plays the event loop.
final class SecureLinkHarness {
    let pair = ConnectionPair(aDescription: "bob", bDescription: "alice")
    let alice = IdentityKey()
    let bob = IdentityKey()
    let aliceEnd = Endpoint()
    let bobEnd = Endpoint()
    /// Whom each side admits; a test may change them before the handshake gets there.
    let aliceFriendList = FriendList()
    let bobFriendList = FriendList()
    private(set) var initiator: SecureConnection!
    private(set) var responder: SecureConnection!
    private var posted: [() -> Void] = []

    /// Alice dials Bob. Each side admits exactly the ids in its friend list.
    init(aliceFriends: [PeerID]? = nil, bobFriends: [PeerID]? = nil, aliceNetworkKey: NetworkKey? = nil, bobNetworkKey: NetworkKey? = nil) {
        for id in aliceFriends ?? [bob.id] { aliceFriendList.add(id) }
        for id in bobFriends ?? [alice.id] { bobFriendList.add(id) }
        initiator = makeEnd(
            over: pair.a, role: .initiator, identity: alice, networkKey: aliceNetworkKey, friends: aliceFriendList, endpoint: aliceEnd)
        responder = makeEnd(
            over: pair.b, role: .responder, identity: bob, networkKey: bobNetworkKey, friends: bobFriendList, endpoint: bobEnd)
    }

    /// One side: admits exactly `friends`, records every id it was asked about in `endpoint`.
    private func makeEnd(
        over connection: PairedConnection, role: NoiseHandshake.Role, identity: IdentityKey, networkKey: NetworkKey?, friends: FriendList,
        endpoint: Endpoint
    ) -> SecureConnection {
        let end = SecureConnection(
            over: connection, role: role, identity: identity, networkKey: networkKey, isConnected: role == .responder,
            authorize: { [endpoint] id in
                endpoint.authorizedIDs.append(id)
                return friends.contains(id) ? nil : "not a friend"
            },
            logger: Logger(label: "test.secure"), post: { [unowned self] in posted.append($0) })
        end.events = endpoint
        return end
    }

    /// Delivers readiness and posted work until nothing more happens.
    func pump() {
        while true {
            let delivered = pair.pump()
            let work = posted
            posted.removeAll()
            work.forEach { $0() }
            if delivered == 0, work.isEmpty { return }
        }
    }

    func connect() {
        pair.a.establish()
        pump()
    }
}

extension ConnectionError {
    /// The case without its text, so a test can name the outcome it expects.
    var kind: String {
        switch self {
        case .refused: "refused"
        case .notAdmitted: "notAdmitted"
        case .timedOut: "timedOut"
        case .authenticationFailed: "authenticationFailed"
        case .protocolViolation: "protocolViolation"
        case .closedByPeer: "closedByPeer"
        case .system: "system"
        case .alreadyClosed: "alreadyClosed"
        }
    }
}
