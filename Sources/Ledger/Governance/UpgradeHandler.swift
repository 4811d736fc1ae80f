import GonkaCore

/// A named software upgrade this binary knows (PROTOCOL §10 `SoftwareUpgrade`): when the chain
/// reaches the upgrade's height, the ledger runs `migrate` before the block's transactions and
/// goes on. A node whose binary has no handler for a scheduled upgrade halts there instead
/// (`LedgerError.upgradeRequired`).
public struct UpgradeHandler: Sendable {
    public let name: String
    /// Rewrites state as the new version needs it; runs inside the block's state, so its writes
    /// are in the app hash of the upgrade block. Must be deterministic.
    public let migrate: @Sendable (UpgradeMigration) throws(LedgerError) -> Void

    public init(name: String, migrate: @escaping @Sendable (UpgradeMigration) throws(LedgerError) -> Void) {
        self.name = name
        self.migrate = migrate
    }
}

/// The upgrades a binary knows, by name. ``compiledIn`` is what the shipped binary carries; tests
/// build registries with handlers of their own.
public struct UpgradeRegistry: Sendable {
    public let handlers: [UpgradeHandler]

    public init(_ handlers: [UpgradeHandler]) {
        self.handlers = handlers
    }

    /// The upgrades this build of `gonka` knows (none yet: the first one is added with the first
    /// release that needs a coordinated halt).
    public static let compiledIn = UpgradeRegistry([])

    public func handler(_ name: String) -> UpgradeHandler? {
        handlers.first { $0.name == name }
    }

    /// These handlers and `more` (a test adds its handler to the compiled-in ones).
    public func adding(_ more: [UpgradeHandler]) -> UpgradeRegistry {
        UpgradeRegistry(handlers + more)
    }
}

/// What an upgrade handler may touch: raw state keys and the chain parameters, in the upgrade
/// block's state.
public final class UpgradeMigration {
    let state: StateContext
    /// The upgrade's name and height.
    public let name: String
    public let height: UInt64

    init(state: StateContext, name: String, height: UInt64) {
        self.state = state
        self.name = name
        self.height = height
    }

    public func get(_ key: [UInt8]) throws(LedgerError) -> [UInt8]? { try state.get(key) }
    public func set(_ key: [UInt8], _ value: [UInt8]) { state.set(key, value) }
    public func delete(_ key: [UInt8]) { state.delete(key) }

    /// The chain parameters as the upgrade block starts; writing them changes them from this block's end.
    public func params() throws(LedgerError) -> ChainParams { try ParamsRecord.read(in: state) }
    public func setParams(_ params: ChainParams) throws(LedgerError) { try ParamsRecord.write(params, in: state) }
}
