import F2FPosix
import Testing

/// Which files and directories the switch trusts, judged from their status alone.
@Suite struct UnsafeFileTests {
    static let me: UInt32 = 1000

    private func status(_ permissions: UInt32, kind: FileStatus.Kind = .regular, owner: UInt32 = me) -> FileStatus {
        FileStatus(kind: kind, owner: owner, group: 100, permissions: permissions)
    }

    @Test func aSocketDirectoryMustBeOursAndWritableOnlyAsConfigured() throws {
        let path = "/d"
        try UnsafeFile.checkSocketDirectory(status(0o2700, kind: .directory), path: path, owner: Self.me, allowedMode: 0o2700)
        // `-m 660` makes a group-writable directory: finding it again after a crash is fine.
        try UnsafeFile.checkSocketDirectory(status(0o2770, kind: .directory), path: path, owner: Self.me, allowedMode: 0o2770)
        #expect(throws: UnsafeFile.writableByOthers(path: path, permissions: 0o777)) {
            try UnsafeFile.checkSocketDirectory(status(0o777, kind: .directory), path: path, owner: Self.me, allowedMode: 0o2700)
        }
        #expect(throws: UnsafeFile.writableByOthers(path: path, permissions: 0o2770)) {
            try UnsafeFile.checkSocketDirectory(status(0o2770, kind: .directory), path: path, owner: Self.me, allowedMode: 0o2700)
        }
        #expect(throws: UnsafeFile.notOwned(path: path, owner: 1001, expected: Self.me)) {
            try UnsafeFile.checkSocketDirectory(status(0o700, kind: .directory, owner: 1001), path: path, owner: Self.me, allowedMode: 0o2700)
        }
        #expect(throws: UnsafeFile.symbolicLink(path: path)) {
            try UnsafeFile.checkSocketDirectory(status(0o777, kind: .symbolicLink), path: path, owner: Self.me, allowedMode: 0o2700)
        }
        #expect(throws: UnsafeFile.notADirectory(path: path)) {
            try UnsafeFile.checkSocketDirectory(status(0o600, kind: .regular), path: path, owner: Self.me, allowedMode: 0o2700)
        }
    }

    @Test func aPrivateKeyIsOursAndNobodyElsesToReadOrWrite() throws {
        try UnsafeFile.checkPrivate(status(0o600), path: "/k", owner: Self.me)
        try UnsafeFile.checkPrivate(status(0o400), path: "/k", owner: Self.me)
        #expect(throws: UnsafeFile.notOwned(path: "/k", owner: 1001, expected: Self.me)) {
            try UnsafeFile.checkPrivate(status(0o600, owner: 1001), path: "/k", owner: Self.me)
        }
        for permissions: UInt32 in [0o640, 0o604, 0o620, 0o602] {
            #expect(throws: UnsafeFile.readableByOthers(path: "/k", permissions: permissions)) {
                try UnsafeFile.checkPrivate(status(permissions), path: "/k", owner: Self.me)
            }
        }
        #expect("\(UnsafeFile.readableByOthers(path: "/k", permissions: 0o644))" == "/k is accessible by others (mode 0644); run: chmod 600 /k")
    }

    @Test func aFriendsFileIsOursOrRootsAndWritableByNobodyElse() throws {
        try UnsafeFile.checkTrusted(status(0o644), path: "/f", owners: [Self.me, 0])
        try UnsafeFile.checkTrusted(status(0o644, owner: 0), path: "/f", owners: [Self.me, 0])
        #expect(throws: UnsafeFile.notOwned(path: "/f", owner: 1001, expected: Self.me)) {
            try UnsafeFile.checkTrusted(status(0o644, owner: 1001), path: "/f", owners: [Self.me, 0])
        }
        for permissions: UInt32 in [0o664, 0o646, 0o666] {
            #expect(throws: UnsafeFile.writableByOthers(path: "/f", permissions: permissions)) {
                try UnsafeFile.checkTrusted(status(permissions), path: "/f", owners: [Self.me, 0])
            }
        }
    }

    @Test func aConsoleSocketsParentIsOursOrRootsAndStickyIfShared() throws {
        try UnsafeFile.checkParentDirectory(status(0o1777, kind: .directory, owner: 0), path: "/tmp", owner: Self.me)
        try UnsafeFile.checkParentDirectory(status(0o755, kind: .directory), path: "/home/u", owner: Self.me)
        #expect(throws: UnsafeFile.writableByOthers(path: "/shared", permissions: 0o777)) {
            try UnsafeFile.checkParentDirectory(status(0o777, kind: .directory), path: "/shared", owner: Self.me)
        }
        #expect(throws: UnsafeFile.notOwned(path: "/theirs", owner: 1001, expected: Self.me)) {
            try UnsafeFile.checkParentDirectory(status(0o755, kind: .directory, owner: 1001), path: "/theirs", owner: Self.me)
        }
    }

    @Test func aPathIsTrustedWhenOnlyWeAndRootCouldRedirectIt() throws {
        let root = status(0o755, kind: .directory, owner: 0)
        let temporary = status(0o1777, kind: .directory, owner: 0)
        let mine = status(0o700, kind: .directory)
        let rootsLink = status(0o777, kind: .symbolicLink, owner: 0)
        try UnsafeFile.checkPath(
            links: [("/var", root), ("/var/run", rootsLink), ("/var/run/sw", mine)],
            directories: [("/", root), ("/run", root), ("/run/sw", mine)], owner: Self.me)
        try UnsafeFile.checkPath(links: [], directories: [("/", root), ("/tmp", temporary), ("/tmp/x", mine)], owner: Self.me)
        #expect(throws: UnsafeFile.untrustedLink(path: "/tmp/x", owner: 1001)) {
            try UnsafeFile.checkPath(
                links: [("/tmp", temporary), ("/tmp/x", status(0o777, kind: .symbolicLink, owner: 1001))],
                directories: [("/", root), ("/etc", root)], owner: Self.me)
        }
        #expect(throws: UnsafeFile.writableByOthers(path: "/srv", permissions: 0o777)) {
            try UnsafeFile.checkPath(
                links: [], directories: [("/", root), ("/srv", status(0o777, kind: .directory, owner: 0)), ("/srv/x", mine)],
                owner: Self.me)
        }
        #expect(throws: UnsafeFile.notOwned(path: "/home/them", owner: 1001, expected: Self.me)) {
            try UnsafeFile.checkPath(
                links: [], directories: [("/", root), ("/home/them", status(0o755, kind: .directory, owner: 1001))], owner: Self.me)
        }
    }
}
