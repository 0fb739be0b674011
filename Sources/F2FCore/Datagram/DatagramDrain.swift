/// What `DatagramDrain` drives: one UDP socket that several links share (`UDPTransport`; a
/// fake in unit tests), and the inboxes where the datagrams' packets wait for the links' peers.
public protocol DrainableSocket: AnyObject {
    /// The bytes the fullest inbox can still take: every packet of a receive slot may be for
    /// its link, and a slot's packets never take more room than the slot's bytes.
    var inboxRoom: Int { get }
    /// Reads at most `slots` receive slots (one `recvmmsg`) and opens their datagrams into the
    /// links' inboxes; nil when the socket is empty, else the slots filled and the datagrams
    /// they held (a coalesced slot holds several).
    func receive(slots: Int) -> (slots: Int, datagrams: Int)?
    /// Tells each peer whose inbox holds packets, if it reads now; true when any peer read.
    func offerWaitingPackets() -> Bool
}

/// One wake-up's reading of a shared UDP socket (issue 15): never more than the links' inboxes
/// can take, so a datagram the switch cannot forward stays in the kernel's socket buffer,
/// unread and undecrypted (dropped there, if at all, and counted as `RcvbufErrors`), instead of
/// being received, opened and then thrown away. Between two `recvmmsg` the peers read what
/// came (and the engine forwards it), which makes the room for the next.
///
/// Bounded per wake-up (`datagramBudget`, `roundBudget`), so a flood on UDP does not starve the
/// other ports or the link's stream; what is left waits for the next wake-up (the socket is
/// level-triggered).
public struct DatagramDrain: Sendable {
    public enum Outcome: Equatable, Sendable {
        /// The socket had no more datagrams.
        case emptied
        /// The wake-up's budget is spent; the socket may hold more.
        case budgetSpent
        /// An inbox has no room and its peer does not read (it is paused behind a backed-up
        /// port): the socket is left alone until that peer reads again.
        case held
    }

    /// The largest number of bytes one receive slot hands over.
    public let slotSize: Int
    /// Slots per `recvmmsg`.
    public let slotCapacity: Int
    /// Datagrams per wake-up; a `recvmmsg` started under it may pass it by one batch.
    public let datagramBudget: Int
    /// `recvmmsg` calls per wake-up, whatever the datagrams were.
    public let roundBudget: Int

    public init(slotSize: Int, slotCapacity: Int, datagramBudget: Int, roundBudget: Int) {
        precondition(slotSize > 0 && slotCapacity > 0)
        self.slotSize = slotSize
        self.slotCapacity = slotCapacity
        self.datagramBudget = datagramBudget
        self.roundBudget = roundBudget
    }

    /// The slots one `recvmmsg` may fill when the fullest inbox has `room` bytes free.
    public func slots(forRoom room: Int) -> Int {
        min(slotCapacity, max(0, room) / slotSize)
    }

    public func run(_ socket: some DrainableSocket) -> Outcome {
        // What earlier wake-ups (or a peer's own read budget) left in the inboxes goes first.
        while socket.offerWaitingPackets() {}
        var datagrams = 0
        var rounds = 0
        while true {
            guard rounds < roundBudget, datagrams < datagramBudget else { return .budgetSpent }
            let slots = slots(forRoom: socket.inboxRoom)
            guard slots > 0 else { return .held }
            rounds += 1
            guard let received = socket.receive(slots: slots) else { return .emptied }
            datagrams += received.datagrams
            // The peers read this batch now (the engine forwards it as one), until the
            // inboxes are empty or their peers stop: that is the room for the next `recvmmsg`.
            while socket.offerWaitingPackets() {}
            if received.slots < slots { return .emptied }
        }
    }
}
