import ArgumentParser
import Foundation
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Storage

/// `gonka bench inference-ledger`
struct InferenceLedgerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inference-ledger",
        abstract: "Inferences/s the ledger records: MsgStartInference + MsgFinishInference, one core, SQLite state.",
        discussion: """
            Pre-signs --inferences real requests (developer signature, TA signature, drawn executor) from --requesters funded accounts through 4 participants, as free duty transactions, then, block by block (--block-size inferences), runs every transaction through `checkTx` (the mempool) and then `finalize` (every signature verified, escrow, cost, refund, expiry index, price update, state commit) on one ledger with a signature cache, as a node does. The combined rate is the node-side bound on one core.
            """
    )

    @Option(help: "Inferences (each a Start and a Finish transaction).") var inferences = 5_000
    @Option(help: "Inferences per block.") var blockSize = 500
    @Option(help: "Funded developer accounts.") var requesters = 200
    @Flag(help: "Use an in-memory SQLite store instead of a file in a temporary directory.") var memory = false

    func validate() throws {
        guard inferences > 0, blockSize > 0, requesters > 0 else {
            throw ValidationError("--inferences, --block-size and --requesters must be positive")
        }
    }

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gonka-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let makeStore = { (name: String) throws -> AuthenticatedStore in
            memory
                ? try AuthenticatedStore(inMemory: name)
                : try AuthenticatedStore(path: directory.appendingPathComponent("\(name).sqlite").path)
        }
        let model = Genesis.Model.devnetDefault
        let powers: [UInt64] = [100, 100, 100, 100]
        let chain = try TestChain(
            accounts: requesters, store: try makeStore("deliver"), validatorPowers: powers, models: [model])
        let second: Int64 = 1_000_000_000
        let t0: Int64 = 1_700_000_000 * second
        let blocks = (inferences + blockSize - 1) / blockSize
        // Block 1 (empty) sets the block time the mempool checks request timestamps against.
        _ = try chain.finalize([], time: t0)

        print("signing \(inferences) inferences (\(inferences * 2) transactions)…")
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
                else { throw CLIError("no executor drawn") }
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
                throw CLIError("block \(b + 2): \(String(describing: failure.error))")
            }
        }
        guard applied == inferences * 2 else { throw CLIError("only \(applied) of \(inferences * 2) txs applied") }
        if let violation = try chain.ledger.supplyInvariantViolation() { throw CLIError("supply: \(violation)") }
        let finalizeRate = Double(inferences) / seconds
        let checkRate = Double(checked) / 2 / checkSeconds
        print("store:              \(memory ? "SQLite in memory" : "SQLite file")")
        print(
            "finalize:           \(rate(Double(inferences), seconds)) inferences/s (Start + Finish, blocks of \(blockSize), commit included)"
        )
        print(
            "checkTx:            \(rate(Double(checked) / 2, checkSeconds)) inferences/s (\(checked) of \(inferences * 2) txs accepted)"
        )
        print(
            "checkTx + finalize: \(String(format: "%.0f", 1 / (1 / finalizeRate + 1 / checkRate))) inferences/s on one core"
        )
        print("per block:          \(String(format: "%.1f", seconds * 1000 / Double(blocks))) ms")
    }
}
