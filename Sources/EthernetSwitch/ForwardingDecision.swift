/// What to do with one received frame.
public enum ForwardingDecision: Equatable, Sendable {
    /// Known unicast: send to this port only.
    case unicast(port: Int)
    /// Broadcast, multicast or unknown unicast: send to every flood port but the ingress.
    case flood
    /// Not delivered; the reason has been counted on the ingress port.
    case drop(DropReason)
    /// A control frame (BPDU) the switch itself consumed.
    case consumed
}
