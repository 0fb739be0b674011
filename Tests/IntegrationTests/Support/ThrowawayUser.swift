import Foundation
import Glibc

/// A system user with a random name, made for one test (root only) and deleted afterwards:
/// "someone else" for files and directories the switch must not trust.
final class ThrowawayUser {
    let name: String
    let userID: UInt32
    let groupID: UInt32

    init() throws {
        name = "f2ft" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let add = try ChildProcess("useradd", ["--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name])
        let (status, _) = try add.finish()
        guard status == 0, let entry = getpwnam(name) else { throw TestFailure("useradd \(name) failed: \(add.errorText)") }
        userID = entry.pointee.pw_uid
        groupID = entry.pointee.pw_gid
    }

    /// Hands `path` (not following a link) to this user and group.
    func give(_ path: String) throws {
        guard lchown(path, userID, groupID) == 0 else { throw TestFailure("chown \(path): \(String(cString: strerror(errno)))") }
    }

    /// `setpriv` arguments that run the rest of a command line as this user, with no root groups.
    var setprivArguments: [String] {
        ["--reuid=\(userID)", "--regid=\(groupID)", "--clear-groups", "--"]
    }

    /// The arguments that run a program as this user with no supplementary groups.
    func runAs(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        ("setpriv", setprivArguments + [executable] + arguments)
    }

    /// Runs a program as this user to the end.
    func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let (executable, all) = runAs(program, arguments)
        return try ChildProcess(executable, all).finish()
    }

    deinit {
        if let remove = try? ChildProcess("userdel", [name]) { _ = try? remove.finish() }
    }
}
