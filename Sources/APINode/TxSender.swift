import GonkaClient
import GonkaCore
import GonkaWire
import Logging

/// Signs and broadcasts the node's own duty transactions (`MsgStartInference`,
/// `MsgFinishInference`) from its account key, keeping the account sequence locally so many can
/// be in the mempool at once. A rejected sequence re-reads the account and retries once.
public actor TxSender {
    private let client: ChainClient
    private let key: SigningKey
    private let chainID: String
    private let logger: Logger
    private var nextSequence: UInt64?
    private var minGasPrice: UInt64?

    public private(set) var sent = 0
    public private(set) var failed = 0

    public init(client: ChainClient, key: SigningKey, chainID: String, logger: Logger) {
        self.client = client
        self.key = key
        self.chainID = chainID
        self.logger = logger
    }

    public nonisolated var address: Address { key.publicKey.address }

    /// Broadcasts `message` (sync mode: returns once the node's checkTx accepted it). Returns the
    /// tx hash, or nil when it was refused (logged).
    @discardableResult
    public func send(_ message: Wire.Msg, what: String) async -> String? {
        for round in 0..<2 {
            do {
                if nextSequence == nil || minGasPrice == nil || round > 0 {
                    nextSequence = try await client.account(address).sequence
                    minGasPrice = try await client.params().minGasPrice
                }
                let builder = TxBuilder(chainID: chainID, key: key, minGasPrice: minGasPrice ?? 0)
                let sequence = nextSequence ?? 0
                let tx = try builder.build([message], sequence: sequence)
                nextSequence = sequence + 1
                let result = try await client.broadcast(tx.bytes, mode: .sync)
                sent += 1
                return result.hash
            } catch let error as ChainClientError where error.serverCode == "bad_sequence" && round == 0 {
                continue
            } catch {
                // A refused tx did not use its sequence number.
                nextSequence = nil
                failed += 1
                logger.notice(
                    "duty tx refused", metadata: ["tx.kind": "\(what)", "error": "\(error)"])
                return nil
            }
        }
        return nil
    }
}
