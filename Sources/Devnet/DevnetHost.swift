/// Where one devnet node runs when it does not run on loopback: a network namespace made
/// beforehand (`ip netns add`, a veth into a bridge this machine also has an address on) and the
/// node's address in it. `gonka devnet up --netns NAME=ADDRESS` (once per node) takes these, so a
/// fault test can cut or slow one node's link for real (Tests/python/netns.py).
public struct DevnetHost: Sendable, Hashable {
    /// The namespace's name (`ip netns exec NAME …`).
    public var netns: String
    /// The node's IPv4 address in the namespace.
    public var address: String

    public init(netns: String, address: String) {
        self.netns = netns
        self.address = address
    }

    /// Parses `NAME=ADDRESS` (a namespace name of letters, digits, `-`, `_`, `.`; a dotted IPv4 address).
    public init(parsing text: String) throws(DevnetError) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty,
            parts[0].allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
        else {
            throw DevnetError("--netns \(text): expected NAME=ADDRESS, e.g. gsoak-n0=10.213.7.2")
        }
        let octets = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else {
            throw DevnetError("--netns \(text): \(parts[1]) is not an IPv4 address")
        }
        self.init(netns: parts[0], address: parts[1])
    }
}
