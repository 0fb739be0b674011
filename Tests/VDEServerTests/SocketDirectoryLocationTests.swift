import F2FPosix
import Testing
import VDEServer

/// Where the sockets go without `-s`: never a name in /tmp that another user could create first.
@Suite struct SocketDirectoryLocationTests {
    static let user: UInt32 = 1000
    static let privateDirectory = FileStatus(kind: .directory, owner: user, group: user, permissions: 0o700)

    private func choose(runtime: String?, user: UInt32 = user, _ parents: [String: FileStatus]) -> SocketDirectoryLocation {
        SocketDirectoryLocation.choose(runtimeDirectory: runtime, effectiveUserID: user) { parents[$0] }
    }

    @Test func theRuntimeDirectoryComesFirst() {
        let parents = ["/run/user/1000": Self.privateDirectory, "/home/u/run": Self.privateDirectory, "/home/u/run/": Self.privateDirectory]
        #expect(choose(runtime: "/home/u/run", parents) == .path("/home/u/run/f2f-switch"))
        #expect(choose(runtime: "/home/u/run/", parents) == .path("/home/u/run/f2f-switch"))
    }

    @Test func withoutXDGRuntimeDirTheUsersRunDirectory() {
        #expect(choose(runtime: nil, ["/run/user/1000": Self.privateDirectory]) == .path("/run/user/1000/f2f-switch"))
    }

    @Test func rootFallsBackToRun() {
        let run = FileStatus(kind: .directory, owner: 0, group: 0, permissions: 0o755)
        #expect(choose(runtime: nil, user: 0, ["/run": run]) == .path("/run/f2f-switch"))
        // /run is root's: an ordinary user never gets it.
        #expect(choose(runtime: nil, ["/run": run]) == .privateTemporary(prefix: "/tmp/f2f-switch-"))
    }

    @Test func aParentSomeoneElseControlsIsSkipped() {
        let theirs = FileStatus(kind: .directory, owner: 1001, group: 1001, permissions: 0o700)
        let groupWritable = FileStatus(kind: .directory, owner: Self.user, group: 50, permissions: 0o770)
        let sharedTemporary = FileStatus(kind: .directory, owner: 0, group: 0, permissions: 0o1777)
        let file = FileStatus(kind: .regular, owner: Self.user, group: Self.user, permissions: 0o600)
        for parent in [theirs, groupWritable, sharedTemporary, file] {
            #expect(choose(runtime: "/x", ["/x": parent, "/run/user/1000": parent]) == .privateTemporary(prefix: "/tmp/f2f-switch-"))
        }
        #expect(choose(runtime: "/x", ["/x": theirs, "/run/user/1000": Self.privateDirectory]) == .path("/run/user/1000/f2f-switch"))
    }

    @Test func failingAllAFreshRandomDirectoryNotThePredictableName() {
        let location = choose(runtime: nil, [:])
        #expect(location == .privateTemporary(prefix: "/tmp/f2f-switch-"))
        #expect(location != .path("/tmp/f2f-switch-1000"))
    }
}
