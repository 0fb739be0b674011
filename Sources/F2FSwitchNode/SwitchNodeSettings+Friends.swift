import F2FPosix
import F2FSecure

extension SwitchNodeSettings {
    /// `--friends FILE`, else `friends` next to the identity: where friends made by invitation
    /// are written, and what SIGHUP re-reads.
    func friendsFilePath(identityPath: String) -> String {
        friendsFile ?? IdentityStore.defaultFriendsPath(identityPath: identityPath)
    }

    /// Everyone the configuration admits: `--friend`, pinned `--peer` ids, and the friends
    /// file when it exists (`--friends` must).
    func configuredFriends(identityPath: String) throws(IdentityStore.Failure) -> [PeerID] {
        var ids = friends + peers.compactMap(\.pinnedID)
        let path = friendsFilePath(identityPath: identityPath)
        if friendsFile != nil || FileSystem.isReadable(path) { ids += try FriendsFile.load(path) }
        return ids
    }
}
