import F2FBase
import F2FPosix

/// Where friend links build their datagrams: the next slot of a socket's send batch, staged
/// there and sent with one `sendmmsg` at the flush (`UDPTransport`; a fake in unit tests,
/// which run links on virtual time without sockets). Both kinds of link use it: those keyed
/// over TCP (`DatagramLink`) and those that started over UDP (`DatagramConnection`).
protocol DatagramBatching: AnyObject {
    var now: Instant { get }
    /// Room to build one datagram for `endpoint` in; nil when no socket can reach it.
    func datagramSlot(for endpoint: InetSocketAddress) -> UnsafeMutableRawBufferPointer?
    /// Stages the first `byteCount` bytes of the slot just handed out; they leave at the next
    /// `flushDatagrams()`. If the socket refuses the datagram then, `sender.sendRefused()`.
    func commitDatagram(byteCount: Int, to endpoint: InetSocketAddress, from sender: any StagedDatagramSender)
    /// Sends every staged datagram (one `sendmmsg` per socket).
    func flushDatagrams()
    /// A link's peer read every packet its inbox held, or reads again after a pause: a socket
    /// left unread may be read again.
    func inboxMayTakeMore()
}

/// A link that stages datagrams: told when the socket refuses one at the flush.
protocol StagedDatagramSender: AnyObject {
    func sendRefused(byteCount: Int)
}
