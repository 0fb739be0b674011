/// The transport protocol of one mapping.
public enum PortMappingProtocol: String, Sendable, Hashable {
    case udp
    case tcp
}
