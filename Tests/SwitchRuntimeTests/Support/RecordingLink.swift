import SwitchRuntime

/// A port link that keeps what the engine hands it, and can refuse frames (a slow client):
/// the engine's side of a link, without a socket.
final class RecordingLink: PortLink {
    let kind = "test"
    let linkDescription: String
    let userName = "NONE"
    let endpointID: Int
    private(set) var flushed: [[UInt8]] = []
    private(set) var controlFrames: [[UInt8]] = []
    private var staged: [[UInt8]] = []
    private(set) var isClosed = false
    private(set) var isPaused = false
    /// While set, flushed frames stay queued (the other end takes nothing).
    var refusesFrames = false
    private(set) var queued: [[UInt8]] = []

    init(_ name: String, id: Int) {
        linkDescription = name
        endpointID = id
    }

    /// Routed packets (mesh header + frame), in the order the engine staged them.
    private(set) var routed: [[UInt8]] = []

    /// While set, staged frames are read only at `flush`, as a datagram link's `sendmmsg`
    /// reads them: what the engine does to its buffers in between shows.
    var readsAtFlush = false
    private var stagedPointers: [UnsafeRawBufferPointer] = []

    func stage(_ frame: UnsafeRawBufferPointer) {
        if readsAtFlush { stagedPointers.append(frame) } else { staged.append(Array(frame)) }
    }

    func stageRouted(_ packet: UnsafeRawBufferPointer) { routed.append(Array(packet)) }

    func flush() {
        staged += stagedPointers.map { Array($0) }
        stagedPointers.removeAll()
        if refusesFrames { queued += staged } else { flushed += staged }
        staged.removeAll()
    }

    func close() { isClosed = true }
    func sendControl(_ frame: UnsafeRawBufferPointer) { controlFrames.append(Array(frame)) }
    var isBackedUp: Bool { !queued.isEmpty }

    func pauseReceiving() -> Bool {
        guard !isPaused, !isClosed else { return false }
        isPaused = true
        return true
    }

    func resumeReceiving() { isPaused = false }

    /// The other end took everything: what waited is delivered.
    func drain() -> [[UInt8]] {
        defer { queued.removeAll() }
        flushed += queued
        return queued
    }
}
