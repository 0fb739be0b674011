import F2FPosix
import F2FSecure

/// `--network-key FILE`: the network's pre-shared key, a secret like the identity key (owner
/// only, refused when others may read it).
public enum NetworkKeyFile {
    public static func load(_ path: String) throws(IdentityStore.Failure) -> NetworkKey {
        let text: String
        do {
            text = try FileSystem.readPrivateText(path)
        } catch {
            throw IdentityStore.Failure(description: "network key: \(error)")
        }
        guard let key = NetworkKey(parsing: text) else {
            throw IdentityStore.Failure(description: "network key \(path): expected one key of 64 hex digits or 52 base32 letters (make one with `f2f-switch network-key \(path)`)")
        }
        return key
    }

    public static func create(_ path: String) throws(IdentityStore.Failure) {
        let text = """
            # f2f-switch network key: every node of this network needs this file (--network-key).
            # Keep it secret: whoever has it can make this network's nodes show their ids.
            \(NetworkKey().encoded)

            """
        do {
            try FileSystem.createOwnerOnlyFile(path, contents: text)
        } catch {
            throw IdentityStore.Failure(description: "cannot create network key: \(error)")
        }
    }
}
