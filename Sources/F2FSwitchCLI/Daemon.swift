import ArgumentParser
import Glibc

/// Classic double-duty daemonisation, done before the loop or any thread exists.
enum Daemon {
    static func detach() throws {
        switch fork() {
        case -1:
            throw ValidationError("fork failed: \(String(cString: strerror(errno)))")
        case 0:
            setsid()
            let null = open("/dev/null", O_RDWR)
            if null >= 0 {
                dup2(null, 0)
                dup2(null, 1)
                dup2(null, 2)
                if null > 2 { close(null) }
            }
        default:
            exit(0)
        }
    }
}
