import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Storage
import SwiftProtobuf

/// `gonka bench tx`: signed `MsgSend` transactions per second through the ledger (one core, SQLite
/// state), with the public-key parse and signature-verify rates beside it.
public struct TxPipelineBenchmark: Sendable {
    /// Transactions to execute.
    public var txs: Int
    /// Transactions per block.
    public var blockSize: Int
    /// Funded accounts sending to each other.
    public var accounts: Int
    /// An in-memory SQLite store instead of a file in a temporary directory.
    public var memory: Bool

    /// The benchmark with these settings (the options of its command).
    public init(txs: Int, blockSize: Int, accounts: Int, memory: Bool) {
        self.txs = txs
        self.blockSize = blockSize
        self.accounts = accounts
        self.memory = memory
    }

    /// Measures and reports: every line of the report goes to `output`, in order, as it is measured.
    public func run(output: (String) -> Void) throws {
        let stores = try ScratchStores(memory: memory)
        defer { stores.remove() }
        let store = try stores.store("state")
        let chainID = "bench"
        let keys = (0..<accounts).map { _ in SigningKey() }
        let validator = SigningKey()
        var params = ChainParams.devnet
        params.minGasPrice = 1
        let genesis = Genesis(
            chainID: chainID, genesisTime: "2026-01-01T00:00:00Z", params: params,
            accounts: keys.map { .init(address: $0.publicKey.address, balance: Amount(gnk: 1_000_000)!) },
            validators: [
                .init(
                    name: "v", address: validator.publicKey.address, url: "http://127.0.0.1:1",
                    consensusPubkey: validator.publicKey.hex, p2pPubkey: validator.publicKey.hex, power: 1)
            ])
        let ledger = try Ledger(store: store)
        _ = try ledger.initChain(genesis)

        output("signing \(txs) transactions…")
        var sequences = [UInt64](repeating: 0, count: accounts)
        var signed: [[UInt8]] = []
        signed.reserveCapacity(txs)
        for i in 0..<txs {
            let from = i % accounts
            var send = Wire.MsgSend()
            send.fromAddress = keys[from].publicKey.address.description
            send.toAddress = keys[(from + 1 + i / accounts) % accounts].publicKey.address.description
            send.amount = 1_000
            var body = Wire.TxBody()
            body.chainID = chainID
            body.signer = send.fromAddress
            body.sequence = sequences[from]
            body.messages = [Wire.Msg(send)]
            body.fee = 1_000
            sequences[from] += 1
            signed.append(try Array(Wire.Tx.signed(body: body, by: keys[from]).serializedData()))
        }

        // Components, measured alone on the same transactions.
        let sample = try signed.prefix(min(txs, 5_000)).map { try Wire.Tx(serializedBytes: $0) }
        var clock = ContinuousClock.now
        let parsed = sample.compactMap { try? PublicKey(bytes: Array($0.signerPubkey)) }
        let parseSeconds = (ContinuousClock.now - clock).seconds
        clock = ContinuousClock.now
        var ok = 0
        for (tx, key) in zip(sample, parsed)
        where key.isValidSignature(tx.signature, for: SignBytes.make(.tx, chainID: chainID, tx.bodyBytes)) {
            ok += 1
        }
        let verifySeconds = (ContinuousClock.now - clock).seconds

        let start = ContinuousClock.now
        var applied = 0
        var height: UInt64 = 1
        for block in stride(from: 0, to: txs, by: blockSize) {
            let slice = Array(signed[block..<min(block + blockSize, txs)])
            let result = try ledger.finalize(
                block: slice, context: BlockContext(chainID: chainID, height: height, time: 0, proposer: nil))
            applied += result.txResults.filter(\.isSuccess).count
            height += 1
        }
        let seconds = (ContinuousClock.now - start).seconds
        guard applied == txs else { throw BenchmarkError("only \(applied) of \(txs) transactions applied") }
        output("store:            \(memory ? "SQLite in memory" : "SQLite file")")
        output("public key parse: \(rate(Double(parsed.count), parseSeconds)) /s (point validity check)")
        output("signature verify: \(rate(Double(ok), verifySeconds)) /s (\(ok) signatures)")
        output(
            "finalize MsgSend: \(rate(Double(txs), seconds)) tx/s (\(txs) txs in blocks of \(blockSize), commit included)"
        )
        output("per block:        \(String(format: "%.1f", seconds * 1000 / Double(height - 1))) ms")
    }
}
