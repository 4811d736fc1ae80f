import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Logging
import Storage

/// A single-validator chain node running in the test process (fast timeouts, real sockets) whose
/// participant registered an API URL with HTML in it, with one inference started and finished, a
/// collateral deposit, and two governance proposals with HTML in their titles: one in its vote
/// (the participant voted yes; the vote runs far longer than any test) and one waiting for its
/// deposit.
final class ExplorerChain: Sendable {
    /// What the participant registered as its URL: a tag the pages must show as text.
    static let hostileURL = "http://127.0.0.1:9000/\"><script>alert(1)</script>"
    static let model = Genesis.Model.devnetDefault
    /// A proposal title and summary the pages must show as text.
    static let hostileTitle = "</td><script>alert(\"gov\")</script>"
    static let hostileSummary = "<img src=x onerror=alert(2)> & more"
    static let collateral: UInt64 = 50 * Amount.ngonkaPerGNK

    let root: URL
    let node: Node
    let task: Task<Void, any Error>
    let client: ChainClient
    let participant: Address
    let inferenceID: String
    /// The proposal in its vote, and the one in its deposit period.
    let votingProposal: UInt64
    let depositProposal: UInt64

    init() async throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("explorer-\(UUID().uuidString)")
        let wallet = try TestChain(accounts: 2)
        let p2p = TestChain.key(seed: 9, index: 1000)
        let consensus = TestChain.key(seed: 9, index: 2000)
        let account = TestChain.key(seed: 9, index: 3000)
        participant = account.publicKey.address
        var params = wallet.genesis.params
        params.governance.votingPeriodBlocks = 1_000_000
        let genesis = Genesis(
            chainID: TestChain.chainID, genesisTime: "2026-01-01T00:00:00Z", params: params,
            accounts: wallet.genesis.accounts,
            validators: [
                Genesis.Validator(
                    name: "node0", address: account.publicKey.address, url: Self.hostileURL,
                    consensusPubkey: consensus.publicKey.hex, p2pPubkey: p2p.publicKey.hex, power: 10)
            ],
            models: [Self.model])
        let home = root.appendingPathComponent("node0", isDirectory: true)
        try FileManager.default.createDirectory(
            at: home.appendingPathComponent("data"), withIntermediateDirectories: true)
        let keys = KeyStore(home: home)
        try keys.add(name: "p2p", key: p2p)
        try keys.add(name: "consensus", key: consensus)
        try keys.add(name: "validator", key: account)
        try genesis.encodedJSON().write(to: home.appendingPathComponent("genesis.json"))
        var config = NodeConfig(moniker: "node0", chainID: TestChain.chainID)
        config.p2pListen = "127.0.0.1:0"
        config.rpcListen = "127.0.0.1:0"
        config.timeouts = "fast"
        try config.toml.write(to: home.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)

        var logger = Logger(label: "test.explorer")
        logger.logLevel = .critical
        let node = try Node(home: home, logger: logger)
        self.node = node
        task = Task { try await node.run() }
        client = try ChainClient(baseURL: "http://127.0.0.1:\(try await node.rpcPort())")

        // One inference, started and finished by the lone participant (TA and executor).
        let deadline = ContinuousClock.now + .seconds(30)
        while node.status.snapshot.height < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let pool = try await client.executors(model: Self.model.id)
        guard let seed = pool.epochSeedHash else { throw ExplorerTestError("no epoch seed") }
        let request = wallet.inferenceRequest(
            requester: wallet.accounts[0], transferAgent: participant, body: "{\"prompt\":\"hi\"}",
            timestamp: Int64(Date().timeIntervalSince1970 * 1_000_000_000))
        guard
            let drawn = try ExecutorDraw.executor(
                inferenceID: request.inferenceID, epochSeed: seed, attempt: 0, transferAgent: participant,
                candidates: pool.candidates.map { .init(address: $0.address, weight: $0.weight) })
        else { throw ExplorerTestError("no executor drawn") }
        let start = wallet.startInference(
            request, taKey: account, executor: drawn, model: Self.model.id, promptTokens: 7, maxTokens: 50)
        let started = try await client.broadcast(try wallet.dutyTx([Wire.Msg(start)], by: account), mode: .commit)
        guard started.code == 0 else { throw ExplorerTestError("start refused: \(started.log)") }
        let finish = wallet.finishInference(
            request, executor: drawn, model: Self.model.id, promptTokens: 7, completionTokens: 13)
        let finished = try await client.broadcast(try wallet.dutyTx([Wire.Msg(finish)], by: account), mode: .commit)
        guard finished.code == 0 else { throw ExplorerTestError("finish refused: \(finished.log)") }
        inferenceID = request.inferenceID

        // Money for fees and deposits, a collateral deposit, two proposals and a vote.
        let participant = participant
        let client = client
        func commit(_ messages: [Wire.Msg], by key: SigningKey) async throws {
            let result = try await client.broadcast(
                try wallet.sign(wallet.body(messages, signer: key), by: key), mode: .commit)
            guard result.code == 0 else { throw ExplorerTestError("tx refused: \(result.log)") }
        }
        try await commit(
            [.send(from: wallet.address(0), to: participant, amount: 600 * Amount.ngonkaPerGNK)], by: wallet.accounts[0]
        )
        var collateral = Wire.MsgDepositCollateral()
        collateral.participant = participant.description
        collateral.amount = Self.collateral
        try await commit([Wire.Msg(collateral)], by: account)
        for deposit in [params.governance.minDeposit, params.governance.minDeposit / 4] {
            var submit = Wire.MsgSubmitProposal()
            submit.proposer = participant.description
            submit.deposit = deposit
            submit.title = Self.hostileTitle
            submit.summary = Self.hostileSummary
            submit.content.text = Wire.TextProposal()
            try await commit([Wire.Msg(submit)], by: account)
        }
        let proposals = try await client.proposals()
        guard proposals.count == 2 else { throw ExplorerTestError("\(proposals.count) proposals, expected 2") }
        votingProposal = proposals[0].id
        depositProposal = proposals[1].id
        var vote = Wire.MsgVote()
        vote.voter = participant.description
        vote.proposalID = votingProposal
        vote.option = .yes
        try await commit([Wire.Msg(vote)], by: account)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
        try? FileManager.default.removeItem(at: root)
    }
}

struct ExplorerTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
