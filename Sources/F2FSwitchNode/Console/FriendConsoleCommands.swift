import F2FCore
import F2FSecure
import F2FTransportTCP
import SwitchRuntime
import VDEServer

/// `friend/*`: who may link with this node. `friend/add` and `friend/del` last until the
/// switch stops (the `--friends` file is what persists, re-read on SIGHUP); a friend made by
/// `friend/join` is written to the file at both ends.
enum FriendConsoleCommands {
    static func register(on console: Console, links: FriendLinks, node: F2FNode, dialer: PeerDialer) {
        console.addMenu(ConsoleMenu("friend", title: "F2F FRIEND MENU"))
        console.add(ConsoleCommand("friend/print", help: "print this node's id and its friends", printsData: true) { _ in
            var output = ["Self \(links.identity.id)"]
            let linked = Dictionary(
                node.peers.values.compactMap { peer in peer.linkedFriend.map { ($0, peer.id) } },
                uniquingKeysWith: min)
            for id in links.friends.sorted {
                output.append("Friend \(id) " + (linked[id].map { "LINKED peer \($0)" } ?? "not linked"))
            }
            return output
        })
        console.add(ConsoleCommand("friend/add", syntax: "ID", help: "admit the node with this id") { argument throws(ConsoleError) in
            guard let id = PeerID(parsing: argument) else { throw .invalidArgument }
            guard links.friends.add(id) else { throw .exists }
            return []
        })
        console.add(ConsoleCommand("friend/del", syntax: "ID", help: "stop admitting a node and close its link") { argument throws(ConsoleError) in
            guard let id = PeerID(parsing: argument) else { throw .invalidArgument }
            guard links.friends.remove(id) else { throw .noSuchDeviceOrAddress }
            links.disconnect(id)
            return []
        })
        console.add(ConsoleCommand("friend/join", syntax: "LINK", help: "become friends with the node that gave this invitation link (f2f-switch invite)", printsData: true) { argument throws(ConsoleError) in
            guard let invitation = Invitation(link: argument), let invitations = links.invitations else { throw .invalidArgument }
            do {
                return [try invitations.join(invitation, ownID: links.identity.id, friends: links.friends, dialer: dialer, now: node.now())]
            } catch {
                throw .exists
            }
        })
    }
}
