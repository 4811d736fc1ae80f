import ServerLifecycle

/// Free TCP ports on 127.0.0.1 for the devnet's nodes, all different, from below the kernel's
/// ephemeral range (``FreePorts``), so no outgoing connection or port-0 bind takes one before its
/// node binds it. Another program could still take one; the node then fails to bind and says so
/// in its log.
public enum DevnetPorts {
    /// `count` ports, all different.
    public static func allocate(_ count: Int) throws(DevnetError) -> [Int] {
        do {
            return try FreePorts.allocate(count)
        } catch {
            throw DevnetError("cannot find a free loopback port: \(error)")
        }
    }
}
