import F2FCore
import F2FSecure
import SwitchRuntime
import VDEServer

/// `friend/*`: who may link with this node. Changes last until the switch stops; the
/// `--friends` file is what persists.
enum FriendConsoleCommands {
    static func register(on console: Console, links: FriendLinks, node: F2FNode) {
        console.addMenu(ConsoleMenu("friend", title: "F2F FRIEND MENU"))
        console.add(ConsoleCommand("friend/print", help: "print this node's id and its friends", printsData: true) { _ in
            var output = ["Self \(links.identity.id)"]
            let linked = Dictionary(
                node.peers.values.compactMap { peer in (peer.secureConnection?.remoteID ?? peer.friendID).map { ($0, peer.id) } },
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
    }
}
