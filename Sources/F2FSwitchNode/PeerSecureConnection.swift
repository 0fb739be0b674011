import F2FCore
import F2FSecure

extension Peer {
    /// The Noise link under this peer, seen through the path switch of a link that may also
    /// carry frames over UDP; nil for a plaintext link.
    var secureConnection: SecureConnection? {
        let stream = (connection as? PathSwitchingConnection)?.stream ?? connection
        return stream as? SecureConnection
    }

    /// The friend this link proved, whichever provider proved it (a TCP link's Noise layer or
    /// a link that started over UDP).
    var friendID: PeerID? {
        connection.authenticatedIdentity.flatMap { PeerID(publicKeyBytes: $0.publicKey) }
    }

    /// The friend at the other end: the Noise layer's remote key, or whichever provider
    /// proved the link. Nil for a plaintext link.
    var linkedFriend: PeerID? {
        secureConnection?.remoteID ?? friendID
    }
}
