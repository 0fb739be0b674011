import Glibc

/// A POSIX thread running one closure, for the few jobs that must not run on the loop (a
/// capture file's writes, a router's blocking UPnP requests). Its owner joins or detaches it.
public struct PosixThread {
    private final class Start: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private let handle: pthread_t

    /// Runs `body` on a new thread.
    public static func start(_ body: @escaping @Sendable () -> Void) throws(SystemError) -> PosixThread {
        let context = Unmanaged.passRetained(Start(body)).toOpaque()
        var handle = pthread_t()
        let status = pthread_create(&handle, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<Start>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            throw SystemError(errno: status, operation: "pthread_create")
        }
        return PosixThread(handle: handle)
    }

    /// Waits for the thread to end.
    public func join() {
        pthread_join(handle, nil)
    }

    /// Lets the thread end on its own, its resources freed when it does.
    public func detach() {
        pthread_detach(handle)
    }
}
