/// Why the node could not start or had to stop: a bad home directory, config, genesis or store.
public struct NodeError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case config(String)
        case genesis(String)
        case keys(String)
        case storage(String)
        case consensus(String)
        case diverged(String)
        case upgradeRequired(String)
    }

    private let code: Code

    public static func config(_ why: String) -> Self { Self(code: .config(why)) }
    public static func genesis(_ why: String) -> Self { Self(code: .genesis(why)) }
    public static func keys(_ why: String) -> Self { Self(code: .keys(why)) }
    public static func storage(_ why: String) -> Self { Self(code: .storage(why)) }
    public static func consensus(_ why: String) -> Self { Self(code: .consensus(why)) }
    /// This node's state disagrees with a block +2/3 of the validators committed.
    public static func diverged(_ why: String) -> Self { Self(code: .diverged(why)) }
    /// The chain reached a software upgrade this binary does not know (PROTOCOL §10); `message`
    /// names it and what to run.
    public static func upgradeRequired(_ message: String) -> Self { Self(code: .upgradeRequired(message)) }

    /// Whether this is a software-upgrade halt.
    public var isUpgradeRequired: Bool {
        if case .upgradeRequired = code { return true }
        return false
    }

    /// The message without the category prefix.
    public var detail: String {
        switch code {
        case .config(let why), .genesis(let why), .keys(let why), .storage(let why), .consensus(let why),
            .diverged(let why), .upgradeRequired(let why):
            why
        }
    }

    /// A label without values.
    public var shortDescription: String {
        switch code {
        case .config: "config"
        case .genesis: "genesis"
        case .keys: "keys"
        case .storage: "storage"
        case .consensus: "consensus"
        case .diverged: "diverged"
        case .upgradeRequired: "upgrade_required"
        }
    }

    public var description: String {
        switch code {
        case .config(let why): "config: \(why)"
        case .genesis(let why): "genesis: \(why)"
        case .keys(let why): "keys: \(why)"
        case .storage(let why): "storage: \(why)"
        case .consensus(let why): "consensus: \(why)"
        case .diverged(let why): "state diverged: \(why)"
        case .upgradeRequired(let why): "upgrade required: \(why)"
        }
    }
}
