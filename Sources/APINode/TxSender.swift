import GonkaClient
import GonkaCore
import GonkaWire
import Logging
import SwiftProtobuf

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
        var free = true
        for round in 0..<3 {
            do {
                if nextSequence == nil || minGasPrice == nil {
                    nextSequence = try await client.account(address).sequence
                    minGasPrice = try await client.params().minGasPrice
                }
                let sequence = nextSequence ?? 0
                // A duty tx of an active participant may go without a fee (PROTOCOL §3.4); past the
                // per-block bound it pays the minimum fee.
                let bytes =
                    free
                    ? try Self.freeTx(message, chainID: chainID, key: key, sequence: sequence)
                    : try TxBuilder(chainID: chainID, key: key, minGasPrice: minGasPrice ?? 0).build(
                        [message], sequence: sequence
                    ).bytes
                nextSequence = sequence + 1
                let result = try await client.broadcast(bytes, mode: .sync)
                sent += 1
                return result.hash
            } catch let error as ChainClientError where error.serverCode == "bad_sequence" && round == 0 {
                nextSequence = nil
                continue
            } catch let error as ChainClientError where error.serverCode == "duty_tx_limit" && free {
                nextSequence = nil
                free = false
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

    static func freeTx(_ message: Wire.Msg, chainID: String, key: SigningKey, sequence: UInt64) throws -> [UInt8] {
        var body = Wire.TxBody()
        body.chainID = chainID
        body.signer = key.publicKey.address.description
        body.sequence = sequence
        body.messages = [message]
        body.fee = 0
        return try Wire.Tx.signed(body: body, by: key).serializedBytes()
    }
}
