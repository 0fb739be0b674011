/// Who may link with us: ids from `--friend`, the friends file, pinned `--peer ID@…` lines
/// and the console. Shared by every link's handshake, so a change applies to the next one.
public final class FriendList {
    public private(set) var friends: Set<PeerID>

    public init(_ friends: some Sequence<PeerID> = []) {
        self.friends = Set(friends)
    }

    public func contains(_ id: PeerID) -> Bool { friends.contains(id) }

    @discardableResult
    public func add(_ id: PeerID) -> Bool { friends.insert(id).inserted }

    @discardableResult
    public func remove(_ id: PeerID) -> Bool { friends.remove(id) != nil }

    /// Sorted for stable console output.
    public var sorted: [PeerID] { friends.sorted { $0.description < $1.description } }
}
