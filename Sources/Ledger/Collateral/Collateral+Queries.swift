import GonkaCore
import GonkaWire

/// Reads of modules Collateral and Slashing for the RPC (`/query/collateral/…`, `/query/slashes`),
/// over any `StateStore` (the node passes a view of one committed version).
public enum CollateralQueries {
    /// A participant's collateral record and signing info (empty records when it has none).
    public static func standing(
        _ address: Address, in store: any StateStore
    ) throws(LedgerError) -> (collateral: Wire.CollateralRecord, signing: Wire.SigningInfo) {
        let state = StateContext(store: store)
        return (try Collateral.record(address, in: state), try Slashing.info(address, in: state))
    }

    /// The slash log, oldest first, all or one participant's.
    public static func slashes(
        of address: Address?, in store: any StateStore
    ) throws(LedgerError)
        -> [Wire.SlashRecord]
    {
        try SlashLog.all(of: address, in: StateContext(store: store))
    }
}

extension LedgerStateKey {
    /// Key of a participant's `Wire.CollateralRecord`.
    public static func collateral(_ address: Address) -> [UInt8] { StateKey.collateral(address) }
    /// Key of a participant's `Wire.SigningInfo`.
    public static func signingInfo(_ address: Address) -> [UInt8] { StateKey.signingInfo(address) }
    /// Prefix of the slash log (`Wire.SlashRecord`, by sequence).
    public static var slashPrefix: [UInt8] { SlashLog.prefix }
}
