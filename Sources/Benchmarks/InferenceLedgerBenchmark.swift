import Foundation
import GonkaCore
import GonkaWire
import Ledger
import Simulation
import Storage

/// `gonka bench inference-ledger`: inferences per second the ledger records (`MsgStartInference` +
/// `MsgFinishInference`, each through `checkTx` then `finalize`, one core, SQLite state).
public struct InferenceLedgerBenchmark: Sendable {
    /// Inferences (each a Start and a Finish transaction).
    public var inferences: Int
    /// Inferences per block.
    public var blockSize: Int
    /// Funded developer accounts.
    public var requesters: Int
    /// An in-memory SQLite store instead of a file in a temporary directory.
    public var memory: Bool

    /// The benchmark with these settings (the options of its command).
    public init(inferences: Int, blockSize: Int, requesters: Int, memory: Bool) {
        self.inferences = inferences
        self.blockSize = blockSize
        self.requesters = requesters
        self.memory = memory
    }

    /// Measures and reports: every line of the report goes to `output`, in order, as it is measured.
    public func run(output: (String) -> Void) throws {
        let stores = try ScratchStores(memory: memory)
        defer { stores.remove() }
        let model = Genesis.Model.devnetDefault
        let powers: [UInt64] = [100, 100, 100, 100]
        let chain = try TestChain(
            accounts: requesters, store: try stores.store("deliver"), validatorPowers: powers, models: [model])
        let second: Int64 = 1_000_000_000
        let t0: Int64 = 1_700_000_000 * second
        let blocks = (inferences + blockSize - 1) / blockSize
        // Block 1 (empty) sets the block time the mempool checks request timestamps against.
        _ = try chain.finalize([], time: t0)

        output("signing \(inferences) inferences (\(inferences * 2) transactions)…")
        let pool = try chain.ledger.executors(model: model.id)
        var keyOf: [Address: SigningKey] = [:]
        for key in chain.validators { keyOf[key.publicKey.address] = key }
        var perBlock: [[[UInt8]]] = []
        for b in 0..<blocks {
            var txs: [[UInt8]] = []
            // Every request of block b is timestamped at its block time (within the ±window).
            let time = t0 + Int64(b + 1) * second
            for i in (b * blockSize)..<min((b + 1) * blockSize, inferences) {
                let ta = chain.validators[i % chain.validators.count]
                let request = chain.inferenceRequest(
                    requester: chain.accounts[i % requesters], transferAgent: ta.publicKey.address,
                    body: "{\"bench\":\(i)}", timestamp: time)
                guard
                    let executor = try ExecutorDraw.executor(
                        inferenceID: request.inferenceID, epochSeed: pool.epochSeed, attempt: 0,
                        transferAgent: ta.publicKey.address, candidates: pool.candidates),
                    let executorKey = keyOf[executor]
                else { throw BenchmarkError("no executor drawn") }
                let start = chain.startInference(
                    request, taKey: ta, executor: executor, model: model.id, promptTokens: 12, maxTokens: 16)
                let finish = chain.finishInference(
                    request, executor: executor, model: model.id, promptTokens: 12, completionTokens: 16)
                txs.append(try chain.dutyTx([Wire.Msg(start)], by: ta))
                txs.append(try chain.dutyTx([Wire.Msg(finish)], by: executorKey))
            }
            perBlock.append(txs)
        }

        // As in a node: each transaction is checked by the mempool (checkTx), then executed in its
        // block (finalize), one ledger with one signature cache.
        chain.ledger.signatureCache = SignatureCache()
        var checked = 0
        var checkSeconds = 0.0
        var seconds = 0.0
        var applied = 0
        for (b, txs) in perBlock.enumerated() {
            var clock = ContinuousClock.now
            checked += txs.filter { chain.ledger.checkTx($0).isSuccess }.count
            checkSeconds += (ContinuousClock.now - clock).seconds
            clock = ContinuousClock.now
            let result = try chain.finalize(txs, time: t0 + Int64(b + 1) * second)
            seconds += (ContinuousClock.now - clock).seconds
            applied += result.txResults.filter(\.isSuccess).count
            if let failure = result.txResults.first(where: { !$0.isSuccess }) {
                throw BenchmarkError("block \(b + 2): \(String(describing: failure.error))")
            }
        }
        guard applied == inferences * 2 else {
            throw BenchmarkError("only \(applied) of \(inferences * 2) txs applied")
        }
        if let violation = try chain.ledger.supplyInvariantViolation() { throw BenchmarkError("supply: \(violation)") }
        let finalizeRate = Double(inferences) / seconds
        let checkRate = Double(checked) / 2 / checkSeconds
        output("store:              \(memory ? "SQLite in memory" : "SQLite file")")
        output(
            "finalize:           \(rate(Double(inferences), seconds)) inferences/s (Start + Finish, blocks of \(blockSize), commit included)"
        )
        output(
            "checkTx:            \(rate(Double(checked) / 2, checkSeconds)) inferences/s (\(checked) of \(inferences * 2) txs accepted)"
        )
        output(
            "checkTx + finalize: \(String(format: "%.0f", 1 / (1 / finalizeRate + 1 / checkRate))) inferences/s on one core"
        )
        output("per block:          \(String(format: "%.1f", seconds * 1000 / Double(blocks))) ms")
    }
}
