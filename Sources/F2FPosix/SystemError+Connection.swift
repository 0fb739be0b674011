import Glibc

extension SystemError {
    /// A send on a connected datagram socket failed because the other socket is gone
    /// (`ECONNREFUSED`) and the kernel has dropped the connection (`ENOTCONN` afterwards).
    public var isPeerGone: Bool {
        errno == ECONNREFUSED || errno == ENOTCONN
    }
}
