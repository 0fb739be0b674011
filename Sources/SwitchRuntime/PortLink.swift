/// The I/O side of one switch port: a VDE client's data socket, a libvdeplug connection, or
/// (later) an F2F peer. The engine stages frames during a batch and flushes once at its end.
public protocol PortLink: AnyObject {
    /// For `port/print`: `unix prog`, `vdeplug`, …
    var kind: String { get }
    /// The client's description (QEMU, vdeplug: user=… pid=…, a URL).
    var linkDescription: String { get }
    /// The owning user's name or id, for `port/print`.
    var userName: String { get }
    /// Stable number for this endpoint (vde_switch shows its control fd).
    var endpointID: Int { get }

    /// Takes a frame for this port. The bytes stay valid only until `flush()` returns.
    func stage(_ frame: UnsafeRawBufferPointer)
    /// Takes a routed packet (mesh header, then the frame) for this port; only peer links
    /// carry them. The bytes stay valid only until `flush()` returns.
    func stageRouted(_ packet: UnsafeRawBufferPointer)
    /// Sends what was staged.
    func flush()
    /// Releases descriptors and files; the engine has already removed the port.
    func close()
    /// Sends a control frame (a BPDU) now, ahead of bulk frames where the link can.
    func sendControl(_ frame: UnsafeRawBufferPointer)

    /// True while frames wait in the link's queue because the other end refused them. When
    /// the queue empties, the link calls `SwitchEngine.egressDrained(port:)`, which resumes
    /// the senders paused behind it.
    var isBackedUp: Bool { get }
    /// Stops (and restarts) reading from this link: what its client sends waits in the
    /// kernel, which slows the client down instead of making the switch drop its frames.
    /// False when the link was already paused or has closed.
    func pauseReceiving() -> Bool
    func resumeReceiving()
}

extension PortLink {
    /// Links other than friend links never get routed packets (the engine routes to peer ports only).
    public func stageRouted(_ packet: UnsafeRawBufferPointer) {}

    /// Sends a control frame (a BPDU) now. Links with a priority path (F2F peers) override it.
    public func sendControl(_ frame: UnsafeRawBufferPointer) {
        stage(frame)
        flush()
    }
}
