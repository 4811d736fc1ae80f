import Foundation
import GonkaCore
import GonkaWire
import SwiftProtobuf

/// Builds and signs transactions the way the ledger checks them (PROTOCOL §3.4): the body names
/// the chain, the signer and its next sequence; the fee covers `min_gas_price` × the size of the
/// whole signed tx. The fee is part of the body, so the size depends on it: the builder raises
/// the fee until it covers the size it produces.
public struct TxBuilder: Sendable {
    public let chainID: String
    public let key: SigningKey
    public let minGasPrice: UInt64

    public init(chainID: String, key: SigningKey, minGasPrice: UInt64) {
        self.chainID = chainID
        self.key = key
        self.minGasPrice = minGasPrice
    }

    /// A signed tx, its hash and what went into it.
    public struct SignedTx: Sendable {
        public let bytes: [UInt8]
        public let body: Wire.TxBody
        /// Lowercase hex SHA-256 of `bytes` (the tx hash the node reports).
        public var hash: String { Hash.sha256(bytes).hex }
        public var fee: UInt64 { body.fee }
    }

    public var address: Address { key.publicKey.address }

    /// Signs `messages` at `sequence` with the smallest fee that pays for the tx's own size.
    public func build(_ messages: [Wire.Msg], sequence: UInt64, memo: String = "") throws -> SignedTx {
        var body = Wire.TxBody()
        body.chainID = chainID
        body.signer = address.description
        body.sequence = sequence
        body.messages = messages
        body.memo = memo
        body.fee = 0
        // Each round can only grow the fee, and the size grows by at most a few varint bytes, so
        // this reaches the fixed point in two or three rounds.
        for _ in 0..<16 {
            let bytes: [UInt8] = try Wire.Tx.signed(body: body, by: key).serializedBytes()
            let (required, overflow) = minGasPrice.multipliedReportingOverflow(by: UInt64(bytes.count))
            guard !overflow else { throw TxBuilderError.feeOverflow }
            if body.fee >= required { return SignedTx(bytes: bytes, body: body) }
            body.fee = required
        }
        throw TxBuilderError.feeOverflow
    }

    /// A signed `MsgSend` of `amount` to `recipient`.
    public func send(to recipient: Address, amount: Amount, sequence: UInt64, memo: String = "") throws -> SignedTx {
        var send = Wire.MsgSend()
        send.fromAddress = address.description
        send.toAddress = recipient.description
        send.amount = amount.ngonka
        return try build([Wire.Msg(send)], sequence: sequence, memo: memo)
    }
}

/// Why a tx could not be built.
public enum TxBuilderError: Error, Equatable, CustomStringConvertible {
    case feeOverflow

    public var description: String {
        switch self {
        case .feeOverflow: "the fee for this tx overflows (min_gas_price × size > 2^64)"
        }
    }
}

extension ChainClient {
    /// Builds, signs and broadcasts `messages` from `key`: the chain id from `/status`, the
    /// sequence from the signer's account, the fee price from the params.
    ///
    /// The sequence counts the account's txs in the node's mempool: another sender of the same
    /// account (a node's own duty txs: its API node signs validations, Starts and Finishes with the
    /// account key) may have txs there. One that arrives between the read and the broadcast gets
    /// the tx refused `bad_sequence`; it is then signed again with the sequence the node expects
    /// (a refused tx is not in the mempool, so a resend cannot apply twice).
    public func signAndBroadcast(
        _ messages: [Wire.Msg], key: SigningKey, mode: BroadcastMode = .commit, memo: String = ""
    ) async throws -> (tx: TxBuilder.SignedTx, result: BroadcastResult) {
        let status = try await status()
        let params = try await params()
        let builder = TxBuilder(chainID: status.chainID, key: key, minGasPrice: params.minGasPrice)
        var sequence = try await nextSequence(of: key.publicKey.address)
        var attempt = 0
        while true {
            let tx = try builder.build(messages, sequence: sequence, memo: memo)
            let refusal: ChainClientError
            do {
                return (tx, try await broadcast(tx.bytes, mode: mode))
            } catch {
                refusal = error
            }
            guard refusal.serverCode == "bad_sequence", attempt < Self.sequenceRetries else { throw refusal }
            attempt += 1
            if let expected = Self.expectedSequence(in: refusal.serverMessage ?? ""), expected != sequence {
                sequence = expected
            } else {
                // The mempool moved on between the two reads: read the account again shortly.
                try await Task.sleep(for: .milliseconds(500))
                sequence = try await nextSequence(of: key.publicKey.address)
            }
        }
    }

    /// The sequence `address`'s next tx must carry at this node: the committed one plus its txs
    /// waiting in the node's mempool (`next_sequence`), or the committed one from a node that does
    /// not say.
    public func nextSequence(of address: Address) async throws(ChainClientError) -> UInt64 {
        let account = try await account(address)
        return account.nextSequence ?? account.sequence
    }

    /// How often ``signAndBroadcast(_:key:mode:memo:)`` re-signs after `bad_sequence`.
    static let sequenceRetries = 4

    /// The sequence in the ledger's `bad_sequence` message ("account sequence mismatch: expected
    /// N, got M"), or nil.
    static func expectedSequence(in message: String) -> UInt64? {
        guard let range = message.range(of: "expected ") else { return nil }
        return UInt64(message[range.upperBound...].prefix { $0.isNumber })
    }
}
