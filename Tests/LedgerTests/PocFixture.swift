import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Testing

@testable import Ledger

/// A chain with four genesis validators (accounts 0–3, power 10 each, account key = consensus
/// key), a fifth funded account, and 30-block epochs (`EpochParams.short`): sprint 1 starts at
/// P = 30. Blocks carry a deterministic previous-block hash, as ChainNode's would.
final class PocFixture {
    let chain: TestChain
    var params: ChainParams { chain.genesis.params }
    var epochs: EpochParams { params.epochs }
    static let p: UInt64 = 30
    static let near: UInt64 = 500_000_000
    var results: [UInt64: BlockResult] = [:]

    init(maxDutyTxsPerBlock: UInt64 = 1_000) throws {
        var params = ChainParams.devnet
        params.epochs = .short
        params.maxDutyTxsPerBlock = maxDutyTxsPerBlock
        chain = try TestChain(accounts: 5, params: params, validatorAccounts: 4)
    }

    var height: UInt64 { chain.ledger.height ?? 0 }

    static func blockHash(_ height: UInt64) -> Hash { Hash.sha256("test-block-\(height)") }

    /// Executes one block with `txs` at the next height.
    @discardableResult
    func block(_ txs: [[UInt8]] = []) throws -> BlockResult {
        let h = height + 1
        let result = try chain.ledger.finalize(
            block: txs,
            context: BlockContext(
                chainID: TestChain.chainID, height: h, time: Int64(h) * 1_000_000_000, proposer: nil,
                lastBlockHash: h > 1 ? Self.blockHash(h - 1) : nil))
        results[h] = result
        // The wallet follows the ledger: a rejected tx did not use up its sequence.
        for key in chain.accounts {
            chain.sequences[key.publicKey.address] = try chain.ledger.account(key.publicKey.address).sequence
        }
        return result
    }

    /// Empty blocks until the ledger's height is `target` − 1 (so the next block is `target`).
    func advance(toNext target: UInt64) throws {
        while height + 1 < target { try block() }
    }

    func key(_ i: Int) -> SigningKey { chain.accounts[i] }
    func address(_ i: Int) -> Address { chain.address(i) }

    /// A signed tx from account `i` with fee 0 (a duty) unless `fee` is given.
    func tx(_ msg: Wire.Msg, from i: Int, fee: UInt64 = 0, sequence: UInt64? = nil) throws -> [UInt8] {
        try chain.sign(chain.body([msg], signer: key(i), fee: fee, sequence: sequence), by: key(i))
    }

    func seed(_ i: Int, epoch: UInt64 = 1, hash: [UInt8]? = nil) -> Wire.Msg {
        var m = Wire.MsgCommitSeed()
        m.participant = address(i).description
        m.epoch = epoch
        m.seedHash = Data(hash ?? Hash.sha256("seed-\(i)").bytes)
        return Wire.Msg(m)
    }

    func batch(
        _ i: Int, nonces: [UInt64], distances: [UInt64]? = nil, p: UInt64 = PocFixture.p, index: UInt32 = 0,
        count: UInt32 = 1, participant: Address? = nil
    ) -> Wire.Msg {
        var m = Wire.MsgSubmitPocBatch()
        m.participant = (participant ?? address(i)).description
        m.pocStartHeight = p
        m.mlNodeID = "node-\(i)"
        m.nodeIndex = index
        m.nodeCount = count
        m.nonces = nonces
        m.distancesNano = distances ?? nonces.map { _ in Self.near }
        return Wire.Msg(m)
    }

    /// The validation validator `v` must send for participant `x`: the deterministic sample, with
    /// `far` of its recomputed distances at or above r_target.
    func validation(_ v: Int, of x: Int, far: Int = 0, fraud: Bool? = nil, sample: [UInt64]? = nil) throws -> Wire.Msg {
        let nonces = try chain.ledger.pocSprint(Self.p, participant: address(x)).nonces
        let h = try #require(try chain.ledger.epoch(1)).pocBlockHash
        let sampled =
            sample
            ?? PocSampling.sample(
                nonces: nonces, validatorKeyHex: key(v).publicKey.hex, blockHashHex: Hex.encode(Array(h)),
                count: Int(epochs.pocValidationSample))
        var m = Wire.MsgSubmitPocValidation()
        m.validator = address(v).description
        m.participant = address(x).description
        m.pocStartHeight = Self.p
        m.sampledNonces = sampled
        m.recomputedNano = sampled.enumerated().map { $0.offset < far ? epochs.rTargetNano + 1 : Self.near }
        m.fraud = fraud ?? (UInt64(far) >= epochs.pocFraudMinMismatches)
        return Wire.Msg(m)
    }

    func register(_ i: Int) throws -> [UInt8] {
        var m = Wire.MsgRegisterParticipant()
        m.participant = address(i).description
        m.url = "http://127.0.0.1:9\(i)00"
        m.consensusPubkey = Data(key(i).publicKey.bytes)
        m.p2PPubkey = Data(key(i).publicKey.bytes)
        return try tx(Wire.Msg(m), from: i, fee: params.minGasPrice * 2_000)
    }
}
