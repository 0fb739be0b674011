import F2FPosix
import F2FSecure
import Foundation
import Testing

@testable import F2FSwitchNode

/// The friends file as invitations and SIGHUP use it: ids in either form, additions that keep
/// what was there.
@Suite struct FriendsFileTests {
    private func temporaryPath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("invite-friends-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        return directory + "/friends"
    }

    @Test func addCreatesThenAppendsOnceKeepingCommentsAndBothIDForms() throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: FileSystem.split(path).directory) }
        let (first, second, third) = (IdentityKey().id, IdentityKey().id, IdentityKey().id)
        try FriendsFile.add(first, note: "joined by invitation", to: path)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
        #expect(try FriendsFile.load(path) == [first])

        // A person adds one by hand in the checked form, with a comment.
        let handwritten = try String(contentsOfFile: path, encoding: .utf8) + "# by hand\n\(second.checkedDescription) bob"
        try handwritten.write(toFile: path, atomically: false, encoding: .utf8)
        try FriendsFile.add(third, note: "invited us", to: path)
        try FriendsFile.add(first, note: "again", to: path)
        #expect(try FriendsFile.load(path) == [first, second, third])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("# by hand\n\(second.checkedDescription) bob\n\(third)  # invited us\n"))
        #expect(!text.contains("again"), "an id already listed is not added twice")
    }

    @Test func aMistypedCheckedIDStopsTheLoadWithItsLine() throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: FileSystem.split(path).directory) }
        var typo = Array(IdentityKey().id.checkedDescription)
        typo[20] = typo[20] == "A" ? "B" : "A"
        try "# friends\n\(String(typo))\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: IdentityStore.Failure.self) { try FriendsFile.load(path) }
        do {
            _ = try FriendsFile.load(path)
        } catch {
            #expect(error.description.contains(":2:"), "\(error)")
        }
    }
}
