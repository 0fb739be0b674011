/// Everything the engine keeps about one port, in one record: the link, the batch's
/// bookkeeping, the back-pressure on it as an egress and its reported rule drops. A class,
/// so that resuming the sources behind one port can reach the others' links while its
/// back-pressure value is being changed.
final class EnginePort {
    /// Nil while the port is free.
    var link: (any PortLink)?
    /// Frames were staged on the link during the current batch: it is flushed at its end.
    var isTouched = false
    var backPressure = EgressBackPressure()
    /// MAC- and storm-rule drops already reported.
    var reportedDrops = RuleDrops()
    /// `pcap/start`: what the port receives and is sent is written here. Nil for ports not
    /// captured, which then pay one test per frame and direction.
    var capture: PacketCapture?
}
