/// The chain parameters this build uses (PROTOCOL §12). Stored in genesis; later issues make
/// them governable. Missing fields in a genesis file take the devnet defaults.
public struct ChainParams: Codable, Hashable, Sendable {
    /// Largest accepted transaction, in bytes.
    public var maxTxBytes: UInt64
    /// Fee floor for user transactions, in ngonka per byte of the transaction (PROTOCOL §3.4).
    public var minGasPrice: UInt64
    /// Most validators in the active set (PROTOCOL §3.1).
    public var maxValidators: UInt64
    /// Bound on free protocol-duty transactions per participant per block (PROTOCOL §3.4).
    public var maxDutyTxsPerBlock: UInt64
    /// Longest accepted memo, in bytes.
    public var maxMemoBytes: UInt64
    /// Most messages in one transaction.
    public var maxMessagesPerTx: UInt64
    /// Epochs and PoC (PROTOCOL §4, §5): see ``EpochParams``.
    public var epochs: EpochParams

    public init(
        maxTxBytes: UInt64 = 65_536,
        minGasPrice: UInt64 = 10,
        maxValidators: UInt64 = 100,
        maxDutyTxsPerBlock: UInt64 = 1_000,
        maxMemoBytes: UInt64 = 256,
        maxMessagesPerTx: UInt64 = 64,
        epochs: EpochParams = .devnet
    ) {
        self.maxTxBytes = maxTxBytes
        self.minGasPrice = minGasPrice
        self.maxValidators = maxValidators
        self.maxDutyTxsPerBlock = maxDutyTxsPerBlock
        self.maxMemoBytes = maxMemoBytes
        self.maxMessagesPerTx = maxMessagesPerTx
        self.epochs = epochs
    }

    /// The defaults of `gonka devnet` (PROTOCOL §12, devnet column).
    public static let devnet = ChainParams()

    enum CodingKeys: String, CodingKey {
        case maxTxBytes = "max_tx_bytes"
        case minGasPrice = "min_gas_price"
        case maxValidators = "max_validators"
        case maxDutyTxsPerBlock = "max_duty_txs_per_block"
        case maxMemoBytes = "max_memo_bytes"
        case maxMessagesPerTx = "max_messages_per_tx"
        case epochs
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ChainParams.devnet
        maxTxBytes = try c.decodeIfPresent(UInt64.self, forKey: .maxTxBytes) ?? d.maxTxBytes
        minGasPrice = try c.decodeIfPresent(UInt64.self, forKey: .minGasPrice) ?? d.minGasPrice
        maxValidators = try c.decodeIfPresent(UInt64.self, forKey: .maxValidators) ?? d.maxValidators
        maxDutyTxsPerBlock = try c.decodeIfPresent(UInt64.self, forKey: .maxDutyTxsPerBlock) ?? d.maxDutyTxsPerBlock
        maxMemoBytes = try c.decodeIfPresent(UInt64.self, forKey: .maxMemoBytes) ?? d.maxMemoBytes
        maxMessagesPerTx = try c.decodeIfPresent(UInt64.self, forKey: .maxMessagesPerTx) ?? d.maxMessagesPerTx
        epochs = try c.decodeIfPresent(EpochParams.self, forKey: .epochs) ?? d.epochs
    }
}

/// Version strings of this build.
public enum GonkaVersion {
    public static let current = "0.1.0"
    /// Bumped whenever consensus-visible behaviour changes.
    public static let protocolVersion = 1
}
