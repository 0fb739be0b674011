import F2FPosix
import Foundation
import Glibc
import Testing

/// What another local user can prepare for the switch: its socket directory, links inside it,
/// the key and friends files, the pid file. Each is refused or replaced, never followed.
@Suite(.serialized) struct FileSafetyTests {
    static let isRoot = geteuid() == 0
    static let rootOnly = "needs root: it creates a throwaway user to own the files (CI runs the tests as root)"

    // MARK: The socket directory

    @Test(.enabled(if: isRoot, Comment(rawValue: rootOnly)))
    func aDirectoryAnotherUserMadeIsRefusedAndNothingInItIsChowned() throws {
        let someone = try ThrowawayUser()
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let directory = work + "/sw"
        try makeDirectory(directory, mode: 0o755)
        try someone.give(directory)
        // What they hope root will chown or chmod for them: a root file, and links to it
        // under the names the switch uses.
        let victim = work + "/victim"
        try "root's\n".write(toFile: victim, atomically: false, encoding: .utf8)
        chmod(victim, 0o600)
        for name in ["ctl", "ctl~", "001.1"] {
            try link(directory + "/" + name, to: victim)
            try someone.give(directory + "/" + name)
        }

        let (status, errors) = try runSwitch(["-s", directory, "-g", "daemon", "-m", "660"], work: work)
        #expect(status != 0)
        #expect(errors.contains("\(directory) belongs to uid \(someone.userID)"), "\(errors)")
        #expect(try owner(victim) == (0, 0) && mode(victim) == 0o600)
        #expect(try owner(directory) == (someone.userID, someone.groupID) && mode(directory) == 0o755)
        for name in ["ctl", "ctl~", "001.1"] {
            #expect(try kind(directory + "/" + name) == S_IFLNK)
            #expect(try owner(directory + "/" + name) == (someone.userID, someone.groupID))
        }
    }

    @Test func aDirectoryOthersCanWriteIsRefusedUnlessItsModeWasAskedFor() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        for (permissions, arguments) in [(0o777 as mode_t, [String]()), (0o1777, []), (0o770, []), (0o2777, ["-m", "660"])] {
            let directory = work + "/sw"
            try makeDirectory(directory, mode: permissions)
            defer { rmdir(directory) }
            let (status, errors) = try runSwitch(["-s", directory] + arguments, work: work)
            #expect(status != 0, "mode \(String(permissions, radix: 8))")
            #expect(errors.contains("\(directory) is writable by group or others"), "\(errors)")
            #expect(try mode(directory) == permissions)
            #expect(!FileManager.default.fileExists(atPath: directory + "/ctl"))
        }
        // A directory `-m 660` made (2770) and left behind by a crash is taken up again.
        let sw = try SwitchProcess(arguments: ["-m", "660"]) { try makeDirectory($0 + "/sw", mode: 0o2770) }
        #expect(try mode(sw.socketDirectory) == 0o2770)
        try sw.stop()
    }

    @Test func theSocketDirectoryItselfMayNotBeALink() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let real = work + "/real"
        try makeDirectory(real, mode: 0o755)
        try link(work + "/sw", to: real)
        let (status, errors) = try runSwitch(["-s", work + "/sw"], work: work)
        #expect(status != 0)
        #expect(errors.contains("\(work)/sw is a symbolic link"), "\(errors)")
        #expect(try mode(real) == 0o755)
        #expect(try FileManager.default.contentsOfDirectory(atPath: real).isEmpty)
    }

    /// A link named `ctl` leading to someone's listening socket: the switch would otherwise
    /// connect through it, find it "live" and give up, or hand out the wrong switch.
    @Test func aLinkNamedCtlIsReplacedNeverConnectedThrough() throws {
        var decoy: Int32 = -1
        let sw = try SwitchProcess { work in
            try makeDirectory(work + "/sw", mode: 0o700)
            decoy = try listeningSocket(at: work + "/decoy")
            try link(work + "/sw/ctl", to: work + "/decoy")
            try link(work + "/sw/001.1", to: work + "/decoy")
        }
        defer { close(decoy) }
        #expect(try kind(sw.socketDirectory + "/ctl") == S_IFSOCK)
        let client = try TestClient(sw.socketDirectory, mac: "02:00:00:00:00:01")
        #expect(try kind(sw.socketDirectory + "/001.1") == S_IFSOCK)
        var poller = pollfd(fd: decoy, events: Int16(POLLIN), revents: 0)
        #expect(poll(&poller, 1, 0) == 0, "someone connected to the decoy through the link")
        client.close()
        try sw.stop()
    }

    /// The calls the switch makes inside its directory, one by one, against links planted
    /// under the names it uses.
    @Test func theDirectoryHandleNeverFollowsALinkInside() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let target = work + "/target"
        try "target\n".write(toFile: target, atomically: false, encoding: .utf8)
        chmod(target, 0o644)
        try makeDirectory(work + "/d", mode: 0o700)
        try link(work + "/d/link", to: target)
        let directory = try DirectoryHandle.open(work + "/d")
        let group = Self.isRoot ? try #require(getgrnam("daemon")).pointee.gr_gid : getegid()
        #expect(directory.status(of: "link")?.kind == .symbolicLink)
        #expect(throws: SystemError.self) { try directory.changeOwnerOfSocket(named: "link", owner: nil, group: group) }
        let socket = try UnixSocket.makeDatagram()
        #expect(throws: SystemError.self) { try directory.bind(socket.rawValue, name: "link", mode: 0o600) }
        #expect(throws: SystemError.self) { try directory.connect(socket.rawValue, toSocketNamed: "link") }
        #expect(try owner(target) == (geteuid(), getegid()) && mode(target) == 0o644)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "target\n")
        // A socket of ours gets its mode from bind and its group through the handle.
        try directory.bind(socket.rawValue, name: "s", mode: 0o660)
        try directory.changeOwnerOfSocket(named: "s", owner: nil, group: group)
        #expect(try kind(work + "/d/s") == S_IFSOCK && mode(work + "/d/s") == 0o660 && owner(work + "/d/s").1 == group)
        // A directory given as a link is not opened.
        try link(work + "/dlink", to: work + "/d")
        #expect(throws: SystemError.self) { _ = try DirectoryHandle.open(work + "/dlink") }
    }

    /// `-M /tmp/x/mgmt` or `-s /tmp/x/sw` where /tmp/x is someone's link to a directory of
    /// root's: following it would let them choose where root creates (and replaces) files.
    @Test(.enabled(if: isRoot, Comment(rawValue: rootOnly)))
    func aLinkAnotherUserOwnsOnTheWayIsNotFollowed() throws {
        let someone = try ThrowawayUser()
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let target = work + "/roots"
        try makeDirectory(target, mode: 0o755)
        try link(work + "/theirs", to: target)
        try someone.give(work + "/theirs")
        for arguments in [["-s", work + "/sw", "-M", work + "/theirs/mgmt"], ["-s", work + "/theirs/sw"]] {
            let (status, errors) = try runSwitch(arguments, work: work)
            #expect(status != 0, "\(arguments)")
            #expect(errors.contains("\(work)/theirs is a symbolic link that belongs to uid \(someone.userID)"), "\(errors)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: target).isEmpty)
        }
        // Root's own links on the way are fine (as /var/run → /run is).
        #expect(lchown(work + "/theirs", 0, 0) == 0)
        let sw = try ChildProcess(SwitchProcess.binaryPath, ["--plaintext", "-s", work + "/sw", "-M", work + "/theirs/mgmt"])
        defer { sw.terminate() }
        try waitUntil(timeout: .seconds(10), "the console socket through root's link") {
            guard sw.process.isRunning else { throw TestFailure("switch exited: \(sw.errorText)") }
            return (try? kind(target + "/mgmt")) == S_IFSOCK
        }
    }

    /// docs/vde-protocol.md 1.8, kept: a root switch hands each data socket to the client's user
    /// (owner bits of `-m` only), now through a no-follow handle; the client may then set its
    /// own mode on it.
    @Test(.enabled(if: isRoot, Comment(rawValue: rootOnly)))
    func asRootADataSocketGoesToTheClientsUser() throws {
        let someone = try ThrowawayUser()
        let sw = try SwitchProcess(arguments: ["--plaintext", "-m", "666"]) { chmod($0, 0o755) }
        let (executable, arguments) = someone.runAs("/usr/bin/vde_plug", ["-m", "0600", "vde://" + sw.socketDirectory])
        let plug = try ChildProcess(executable, arguments)
        defer { plug.terminate() }
        var dataSocket = ""
        try waitUntil(timeout: .seconds(5), "the client's data socket") {
            dataSocket = sw.filesInSocketDirectory().first { $0.hasPrefix("001.") } ?? ""
            return !dataSocket.isEmpty
        }
        let path = sw.socketDirectory + "/" + dataSocket
        #expect(try kind(path) == S_IFSOCK)
        #expect(try owner(path).0 == someone.userID)
        #expect(try mode(path) & 0o077 == 0)
        try sw.stop()
    }

    @Test func aConsoleSocketInADirectoryOthersCanWriteIsRefused() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let open = work + "/open"
        try makeDirectory(open, mode: 0o777)
        let (status, errors) = try runSwitch(["-s", work + "/sw", "-M", open + "/mgmt"], work: work)
        #expect(status != 0)
        #expect(errors.contains("\(open) is writable by group or others"), "\(errors)")
        #expect(!FileManager.default.fileExists(atPath: open + "/mgmt"))
        #expect(!FileManager.default.fileExists(atPath: work + "/sw"), "the directory it made is removed again")
    }

    /// Without `XDG_RUNTIME_DIR` (sudo, cron, services) the default was /tmp/f2f-switch-$UID,
    /// which anyone can create first. Root gets /run/f2f-switch; a user without a runtime
    /// directory (the throwaway user has none) a fresh private one per switch.
    @Test func theDefaultDirectoryWithoutXDGRuntimeDirIsNotAPredictableName() throws {
        let someone = Self.isRoot ? try ThrowawayUser() : nil
        let userID = someone?.userID ?? geteuid()
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        var binary = SwitchProcess.binaryPath
        if let someone {
            // Their own copy: the build directory may be in a home they cannot enter.
            binary = work + "/f2f-switch"
            try FileManager.default.copyItem(atPath: SwitchProcess.binaryPath, toPath: binary)
            chmod(binary, 0o755)
            try someone.give(work)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_RUNTIME_DIR"] = nil
        func start(_ name: String) throws -> (ChildProcess, String) {
            let arguments = ["--plaintext", "-M", work + "/" + name]
            let (executable, all) = someone?.runAs(binary, arguments) ?? (binary, arguments)
            let child = try ChildProcess(executable, all, environment: environment)
            var printed = ""
            try waitUntil(timeout: .seconds(10), "the switch to print its socket directory") {
                guard child.process.isRunning else { throw TestFailure("switch exited: \(child.errorText)") }
                printed += String(decoding: child.output.fileHandleForReading.availableData, as: UTF8.self)
                return printed.contains("socket directory: ") && printed.contains("\n")
            }
            let line = try #require(printed.split(separator: "\n").first { $0.contains("socket directory: ") })
            return (child, String(line.split(separator: " ").last ?? ""))
        }
        let (first, firstPath) = try start("mgmt1")
        defer { first.terminate() }
        #expect(firstPath != "/tmp/f2f-switch-\(userID)")
        var status = stat()
        #expect(lstat(firstPath, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR)
        #expect(status.st_uid == userID && status.st_mode & 0o022 == 0)
        if firstPath.hasPrefix("/tmp/") {
            #expect(status.st_mode & 0o077 == 0)
            let (second, secondPath) = try start("mgmt2")
            #expect(secondPath != firstPath && secondPath.hasPrefix("/tmp/f2f-switch-"))
            second.terminate()
            first.terminate()
            // A daemon prints nothing, so it cannot tell its clients a random name.
            let (executable, all) = someone?.runAs(binary, ["--plaintext", "-d"]) ?? (binary, ["--plaintext", "-d"])
            let daemon = try ChildProcess(executable, all, environment: environment)
            let (status, _) = try daemon.finish()
            #expect(status != 0 && daemon.errorText.contains("--daemon needs -s DIR"), "\(daemon.errorText)")
            #expect(!FileManager.default.fileExists(atPath: firstPath) && !FileManager.default.fileExists(atPath: secondPath))
        } else {
            #expect(firstPath == (Self.isRoot ? "/run/f2f-switch" : "/run/user/\(userID)/f2f-switch"))
        }
    }

    // MARK: Identity, friends and pid file

    @Test func withoutHomeAndWithoutIdentityTheSwitchRefusesToStart() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = nil
        environment["XDG_CONFIG_HOME"] = nil
        for arguments in [["-s", work + "/sw", "-M", work + "/mgmt"], ["id"]] {
            let child = try ChildProcess(SwitchProcess.binaryPath, arguments, environment: environment)
            let (status, output) = try child.finish()
            let errors = child.errorText
            #expect(status != 0 && output.isEmpty, "\(arguments)")
            #expect(errors.contains("--identity") && errors.contains("--friends"), "\(errors)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: work).isEmpty, "nothing created: no key, no sockets")
    }

    @Test(.enabled(if: isRoot, Comment(rawValue: rootOnly)))
    func aKeyOrFriendsFileOfAnotherUserIsRefused() throws {
        let someone = try ThrowawayUser()
        let friends = try FriendGroup(count: 2)
        let key = friends.keyPaths[0]
        try someone.give(key)
        let run = try ChildProcess(SwitchProcess.binaryPath, ["id", "--identity", key])
        let (status, output) = try run.finish()
        #expect(status != 0 && output.isEmpty)
        #expect(run.errorText.contains("\(key) belongs to uid \(someone.userID)"))

        let file = friends.directory + "/friends"
        try "\(friends.ids[1])\n".write(toFile: file, atomically: false, encoding: .utf8)
        try someone.give(file)
        let (switchStatus, errors) = try runSwitch(
            ["-s", friends.directory + "/sw", "--identity", friends.keyPaths[1], "--friends", file], work: friends.directory)
        #expect(switchStatus != 0)
        #expect(errors.contains("\(file) belongs to uid \(someone.userID)"), "\(errors)")
    }

    @Test func aFriendsFileOthersCanWriteIsRefused() throws {
        let friends = try FriendGroup(count: 2)
        let file = friends.directory + "/friends"
        try "\(friends.ids[1])\n".write(toFile: file, atomically: false, encoding: .utf8)
        for permissions: mode_t in [0o664, 0o646] {
            chmod(file, permissions)
            let (status, errors) = try runSwitch(
                ["-s", friends.directory + "/sw", "--identity", friends.keyPaths[0], "--friends", file], work: friends.directory)
            #expect(status != 0)
            #expect(errors.contains("\(file) is writable by group or others"), "\(errors)")
        }
        // The same file as the default next to the key (read whenever it exists).
        let (status, errors) = try runSwitch(["-s", friends.directory + "/sw", "--identity", friends.keyPaths[0]], work: friends.directory)
        #expect(status != 0)
        #expect(errors.contains("\(file) is writable by group or others"), "\(errors)")
    }

    @Test func aPidFileThatIsALinkIsReplacedNotWrittenThrough() throws {
        let work = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let pidFile = work + "/pid"
        let target = work + "/precious"
        try "precious\n".write(toFile: target, atomically: false, encoding: .utf8)
        try link(pidFile, to: target)
        let sw = try SwitchProcess(arguments: ["--plaintext", "-p", pidFile])
        try waitUntil(timeout: .seconds(5), "the pid file") { (try? kind(pidFile)) == S_IFREG }
        #expect(try String(contentsOfFile: pidFile, encoding: .utf8) == "\(sw.pid)\n")
        #expect(try mode(pidFile) == 0o644)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: work).sorted() == ["pid", "precious"], "no temporary file left")
        try sw.stop()
        #expect(!FileManager.default.fileExists(atPath: pidFile))
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious\n")
    }

    // MARK: Helpers

    /// Runs a switch that is expected to refuse to start; returns its exit status and log.
    private func runSwitch(_ arguments: [String], work: String) throws -> (Int32, String) {
        let identity = arguments.contains("--identity") ? [] : SwitchProcess.identityArguments(in: work)
        let child = try ChildProcess(SwitchProcess.binaryPath, arguments + identity)
        let (status, _) = try child.finish(timeout: .seconds(5))
        return (status, child.errorText)
    }
}

func makeDirectory(_ path: String, mode: mode_t) throws {
    guard mkdir(path, 0o700) == 0, chmod(path, mode) == 0 else { throw TestFailure("mkdir \(path): \(String(cString: strerror(errno)))") }
}

func link(_ path: String, to target: String) throws {
    guard symlink(target, path) == 0 else { throw TestFailure("symlink \(path): \(String(cString: strerror(errno)))") }
}

func mode(_ path: String) throws -> mode_t {
    var status = stat()
    guard lstat(path, &status) == 0 else { throw TestFailure("stat \(path)") }
    return status.st_mode & 0o7777
}

func kind(_ path: String) throws -> mode_t {
    var status = stat()
    guard lstat(path, &status) == 0 else { throw TestFailure("stat \(path)") }
    return status.st_mode & S_IFMT
}

func owner(_ path: String) throws -> (UInt32, UInt32) {
    var status = stat()
    guard lstat(path, &status) == 0 else { throw TestFailure("stat \(path)") }
    return (status.st_uid, status.st_gid)
}

/// A unix stream socket listening at `path` (a decoy the switch must not reach).
func listeningSocket(at path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: Array(path.utf8)) }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0, listen(fd, 4) == 0 else { throw TestFailure("listen \(path): \(String(cString: strerror(errno)))") }
    return fd
}
