import EthernetSwitch
import F2FCore
import F2FSecure

/// The tagged VLANs each friend's link carries (`peer/setvlans`, `--peer-vlans`), kept by
/// friend id: a list outlives the link and applies again whenever the friend links. A
/// plaintext link has no id to keep it by, so its list lasts as long as the link.
final class PeerVLANLists {
    private(set) var byFriend: [PeerID: VLANList]
    /// Plaintext links' lists, by `Peer.id` (never reused while the process runs).
    private var byLink: [Int: VLANList] = [:]

    init(_ byFriend: [PeerID: VLANList]) {
        self.byFriend = byFriend.filter { !$0.value.isAll }
    }

    func list(for peer: Peer) -> VLANList {
        if let list = byLink[peer.id] { return list }
        return peer.linkedFriend.flatMap { byFriend[$0] } ?? .all
    }

    func set(_ list: VLANList, friend: PeerID) {
        byFriend[friend] = list.isAll ? nil : list
    }

    /// For a link without an id; `live` drops the lists of links gone since.
    func set(_ list: VLANList, plaintextLink peer: Peer, live: some Collection<Int>) {
        byLink = byLink.filter { live.contains($0.key) }
        byLink[peer.id] = list.isAll ? nil : list
    }
}
