import F2FCore
import F2FSecure

extension Peer {
    /// The Noise link under this peer, seen through the path switch of a link that may also
    /// carry frames over UDP; nil for a plaintext link.
    var secureConnection: SecureConnection? {
        let stream = (connection as? PathSwitchingConnection)?.stream ?? connection
        return stream as? SecureConnection
    }
}
