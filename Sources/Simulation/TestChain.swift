import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf

/// A ledger over a real (in-memory SQLite) authenticated store with funded test accounts, and
/// helpers to build and sign transactions the way a wallet would.
public final class TestChain {
    public static let chainID = "test-chain"

    public let store: AuthenticatedStore
    public let ledger: Ledger
    public let accounts: [SigningKey]
    public let validator: SigningKey
    /// Every genesis validator's account key (`validators[0] == validator`); they are the active
    /// participants (Transfer Agents and executors) of module Inference.
    public let validators: [SigningKey]
    public let genesis: Genesis
    /// Next sequence per signer, as a wallet tracks it.
    public var sequences: [Address: UInt64] = [:]

    /// `accounts` keys derived from `seed` (so two chains built alike hold the same keys), each
    /// funded with `balance`. The genesis validators are ``validators``: keys of their own with
    /// `validatorPowers`, or, when `validatorAccounts` > 0, the first that many accounts (account
    /// key = consensus key, power 10 each). ``validator`` is the first of them. `moduleAccounts`
    /// are funded at genesis (`training_fund`, `community_pool`, …); `upgrades` are the software
    /// upgrades the ledger knows.
    public init(
        accounts count: Int = 4, balance: Amount = Amount(gnk: 1_000)!, params: ChainParams = .devnet,
        seed: UInt8 = 1, store: AuthenticatedStore? = nil, validatorAccounts: Int = 0,
        validatorPowers: [UInt64] = [10], models: [Genesis.Model] = [], moduleAccounts: [Genesis.ModuleAccount] = [],
        upgrades: UpgradeRegistry = .compiledIn
    ) throws {
        self.store = try store ?? AuthenticatedStore(inMemory: "test")
        accounts = (0..<count).map { TestChain.key(seed: seed, index: $0) }
        let powers: [UInt64]
        if validatorAccounts > 0 {
            validators = Array(accounts.prefix(validatorAccounts))
            powers = Array(repeating: 10, count: validators.count)
        } else {
            validators = validatorPowers.indices.map { TestChain.key(seed: seed &+ 100, index: $0) }
            powers = validatorPowers
        }
        validator = validators[0]
        genesis = Genesis(
            chainID: Self.chainID, genesisTime: "2026-01-01T00:00:00Z", params: params,
            accounts: accounts.map { .init(address: $0.publicKey.address, balance: balance) },
            moduleAccounts: moduleAccounts,
            validators: zip(validators, powers).enumerated().map { index, pair in
                TestChain.validatorEntry(pair.0, name: "v\(index)", power: pair.1)
            },
            models: models)
        ledger = try Ledger(store: self.store, upgrades: upgrades)
        _ = try ledger.initChain(genesis)
    }

    /// A deterministic key: seed bytes are `seed, index, 0, 0, …`.
    public static func key(seed: UInt8, index: Int) -> SigningKey {
        var bytes = [UInt8](repeating: 0, count: 32)
        bytes[0] = seed
        bytes[1] = UInt8(truncatingIfNeeded: index)
        bytes[2] = UInt8(truncatingIfNeeded: index >> 8)
        // 32 bytes is always a valid Ed25519 seed.
        return (try? SigningKey(seed: bytes)) ?? SigningKey()
    }

    public static func validatorEntry(_ key: SigningKey, name: String = "v0", power: UInt64 = 10) -> Genesis.Validator {
        .init(
            name: name, address: key.publicKey.address, url: "http://127.0.0.1:9000",
            consensusPubkey: key.publicKey.hex, p2pPubkey: key.publicKey.hex, power: power)
    }

    public func address(_ index: Int) -> Address { accounts[index].publicKey.address }

    /// A body from `signer` with its next sequence (which this call consumes) and a fee that
    /// covers `min_gas_price × size` with room to spare.
    public func body(
        _ messages: [Wire.Msg], signer: SigningKey, fee: UInt64? = nil, sequence: UInt64? = nil
    ) -> Wire.TxBody {
        let address = signer.publicKey.address
        var body = Wire.TxBody()
        body.chainID = Self.chainID
        body.signer = address.description
        body.sequence = sequence ?? sequences[address, default: 0]
        if sequence == nil { sequences[address, default: 0] += 1 }
        body.messages = messages
        body.fee = fee ?? genesis.params.minGasPrice * 2_000
        return body
    }

    /// Signed transaction bytes.
    public func sign(_ body: Wire.TxBody, by key: SigningKey) throws -> [UInt8] {
        try Array(Wire.Tx.signed(body: body, by: key).serializedData())
    }

    /// A signed `MsgSend` of `amount` ngonka from account `from` to account `to`.
    public func send(from: Int, to: Int, amount: UInt64, fee: UInt64? = nil) throws -> [UInt8] {
        try sign(
            body([.send(from: address(from), to: address(to), amount: amount)], signer: accounts[from], fee: fee),
            by: accounts[from])
    }

    /// Executes one block at the next height. `signers` are the consensus addresses whose
    /// precommits the block carries (`nil`: no commit information, liveness is not counted);
    /// `evidence` the double signs it carries.
    @discardableResult
    public func finalize(
        _ txs: [[UInt8]], time: Int64 = 0, signers: [Address]? = nil, evidence: [DoubleSignEvidence] = []
    ) throws -> BlockResult {
        let height = (ledger.height ?? 0) + 1
        return try ledger.finalize(
            block: txs,
            context: BlockContext(
                chainID: Self.chainID, height: height, time: time, proposer: nil, lastCommitSigners: signers,
                evidence: evidence))
    }

    public func balance(_ index: Int) throws -> Amount { try ledger.balance(of: address(index)) }
}

extension Wire.Msg {
    public static func send(from: Address, to: Address, amount: UInt64) -> Wire.Msg {
        var send = Wire.MsgSend()
        send.fromAddress = from.description
        send.toAddress = to.description
        send.amount = amount
        return Wire.Msg(send)
    }
}
