import F2FPosix

/// Who a port belongs to, as vde_switch's `port/print` shows it.
public enum PortUser {
    /// "NONE" when unknown (an abstract socket has no owner), the number when the user has no
    /// passwd entry, else the login name.
    public static func name(_ userID: UInt32?) -> String {
        guard let userID else { return "NONE" }
        return ProcessEnvironment.userName(of: userID) ?? String(userID)
    }
}
