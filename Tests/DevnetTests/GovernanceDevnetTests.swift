import Devnet
import Foundation
import GonkaClient
import GonkaCore
import Testing

/// Governance on real `gonka node start` processes (PROTOCOL §10, docs/GOVERNANCE.md), driven
/// through the CLI: a `ParamChange` that 3 of 4 participants vote for passes and is in force from
/// the block after its tally (`gonka query params`); a proposal that misses the quorum is rejected
/// with its deposit refunded; a vetoed one burns its deposit; a `SoftwareUpgrade` halts every node
/// at its height with the message, an old binary refuses to restart, and the nodes restarted with a
/// binary that knows the upgrade (the test-only `GONKA_TEST_UPGRADES` handler) continue with
/// identical app hashes.
@Suite(.serialized, .hangGuard, .enabled(if: DevnetHarness.nodeAvailable, "needs `gonka node start`"))
struct GovernanceDevnetTests {
    static let upgrade = "test-upgrade"

    /// `gonka ARGS --node URL(node) --json` → decoded `T`.
    static func cli<T: Decodable>(
        _ net: DevnetHarness, _ arguments: [String], node: Int = 0, as type: T.Type
    ) async throws -> T {
        let run = try await DevnetHarness.run(arguments + ["--node", net.manifest.nodes[node].rpcURL, "--json"])
        guard run.status == 0 else { throw HarnessError("gonka \(arguments.joined(separator: " ")): \(run.output)") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(run.stdout.utf8))
        } catch {
            throw HarnessError("gonka \(arguments.joined(separator: " ")) printed \(run.stdout): \(error)")
        }
    }

    /// Signs with node `index`'s own account key (`validator` in its home).
    static func tx(_ net: DevnetHarness, _ arguments: [String], by index: Int) async throws -> BroadcastResult {
        let result = try await cli(
            net, ["tx", "gov"] + arguments + ["--from", "validator", "--home", net.manifest.nodes[index].home],
            node: index, as: BroadcastResult.self)
        guard result.code == 0 else { throw HarnessError("tx gov \(arguments): code \(result.code) \(result.log)") }
        return result
    }

    static func submit(_ net: DevnetHarness, _ json: String, tag: String) async throws -> UInt64 {
        let file = net.dir.appendingPathComponent("proposal-\(tag).json")
        try Data(json.utf8).write(to: file)
        _ = try await tx(net, ["submit", file.path], by: 0)
        let list = try await cli(net, ["query", "proposals"], as: [ProposalInfo].self)
        guard let id = list.last(where: { $0.title == tag })?.id else {
            throw HarnessError("proposal \(tag) not listed")
        }
        return id
    }

    static func proposal(_ net: DevnetHarness, _ id: UInt64, node: Int = 0) async throws -> ProposalDetail {
        try await cli(net, ["query", "proposal", "\(id)"], node: node, as: ProposalDetail.self)
    }

    @Test(.timeLimit(.minutes(10))) func paramChangePassesAndAnUpgradeHaltsAndResumes() async throws {
        try await DevnetHarness.withDevnet(participants: 4) { net in
            let all = Array(0..<4)
            try await net.waitForHeight(2, nodes: all)
            let start = await net.maxHeight(all)
            let upgradeHeight = start + 100
            let text = { (tag: String) in
                #"{"title": "\#(tag)", "deposit": "100gnk", "content": {"text": {}}}"#
            }
            let param = try await Self.submit(
                net,
                #"{"title": "param", "summary": "raise default_max_tokens", "deposit": "100gnk", "#
                    + #""content": {"param_change": {"changes": [{"name": "default_max_tokens", "value": 777}]}}}"#,
                tag: "param")
            let quorum = try await Self.submit(net, text("quorum"), tag: "quorum")
            let veto = try await Self.submit(net, text("veto"), tag: "veto")
            let upgrade = try await Self.submit(
                net,
                #"{"title": "upgrade", "deposit": "100gnk", "content": {"software_upgrade": "#
                    + #"{"name": "\#(Self.upgrade)", "height": \#(upgradeHeight), "#
                    + #""binary_sha256": "\#(String(repeating: "ab", count: 32))"}}}"#,
                tag: "upgrade")
            // 3 of 4 vote yes on the parameter and the upgrade, the fourth no; one vote on the
            // quorum proposal (25% < 33.4%); two vetoes of three votes on the last.
            for voter in 0..<3 {
                _ = try await Self.tx(net, ["vote", "\(param)", "yes"], by: voter)
                _ = try await Self.tx(net, ["vote", "\(upgrade)", "yes"], by: voter)
            }
            _ = try await Self.tx(net, ["vote", "\(param)", "no"], by: 3)
            _ = try await Self.tx(net, ["vote", "\(quorum)", "yes"], by: 1)
            _ = try await Self.tx(net, ["vote", "\(veto)", "yes"], by: 0)
            _ = try await Self.tx(net, ["vote", "\(veto)", "no_with_veto"], by: 1)
            _ = try await Self.tx(net, ["vote", "\(veto)", "no_with_veto"], by: 2)

            let running = try await Self.proposal(net, param)
            #expect(running.proposal.status == "voting_period")
            #expect(running.votes.count == 4)
            #expect(running.blocksLeft > 0)
            let end = running.proposal.votingEndHeight
            let before = try await Self.cli(net, ["query", "params"], as: ChainParams.self)
            #expect(before.defaultMaxTokens == 512)
            let burnedBefore = try await net.client(0).supply().burned

            // The parameter is in force from the block after the tally, on every node.
            let lastEnd = try await [param, quorum, veto, upgrade].asyncMax {
                try await Self.proposal(net, $0).proposal.votingEndHeight
            }
            try await net.waitForHeight(lastEnd + 1, nodes: all, timeout: .seconds(240))
            for node in all {
                let at = try await net.client(node).query("params", height: end)
                let after = try await net.client(node).query("params", height: end + 1)
                #expect(at.value["default_max_tokens"]?.uint64Value == 777, "the tally block's end writes it")
                let atStart = try await net.client(node).query("params", height: end - 1)
                #expect(atStart.value["default_max_tokens"]?.uint64Value == 512)
                #expect(after.value["default_max_tokens"]?.uint64Value == 777)
                let params = try await Self.cli(net, ["query", "params"], node: node, as: ChainParams.self)
                #expect(params.defaultMaxTokens == 777)
            }
            let passed = try await Self.proposal(net, param)
            #expect(passed.proposal.status == "passed")
            #expect(passed.tally.yes * 4 == passed.tally.totalPower * 3)
            let missed = try await Self.proposal(net, quorum)
            #expect(missed.proposal.outcome == "quorum_not_reached")
            #expect(missed.proposal.depositFate == "refunded")
            let vetoed = try await Self.proposal(net, veto)
            #expect(vetoed.proposal.outcome == "vetoed")
            #expect(vetoed.proposal.depositFate == "burned")
            let burnedAfter = try await net.client(0).supply().burned
            #expect(burnedAfter.ngonka == burnedBefore.ngonka + 100 * Amount.ngonkaPerGNK)
            let plan = try await net.client(0).upgradePlan()
            #expect(plan?.height == upgradeHeight)
            print("[devnet] param change passed at \(end); upgrade \(Self.upgrade) scheduled at \(upgradeHeight)")

            // Every node halts before the upgrade height and its process exits with the message.
            try await net.waitUntil("every node exits at the upgrade", timeout: .seconds(240)) {
                let manifest = try DevnetHarness.loadManifest(net.dir)
                return manifest.nodes.allSatisfy { !DevnetProcess.isRunning($0.pid, home: $0.home) }
            }
            var hashes: [String] = []
            for node in net.manifest.nodes {
                let log = String(decoding: FileManager.default.contents(atPath: node.logPath) ?? Data(), as: UTF8.self)
                #expect(log.contains("software upgrade \"\(Self.upgrade)\""), "node\(node.index) log")
                #expect(log.contains("height \(upgradeHeight)"))
            }
            // The old binary refuses to start, with the same message.
            try await net.restartNode(0)
            try await net.waitUntil("the old binary exits again", timeout: .seconds(60)) {
                let node = try DevnetHarness.loadManifest(net.dir).nodes[0]
                return !DevnetProcess.isRunning(node.pid, home: node.home)
            }
            let refused = String(
                decoding: FileManager.default.contents(atPath: net.manifest.nodes[0].logPath) ?? Data(), as: UTF8.self)
            #expect(
                refused.components(separatedBy: "upgrade required").count >= 3,
                "halt, then refusal; node0's log ends:\n\(refused.suffix(4_000))")

            // Restarted with a binary that knows the upgrade, the chain continues, same app hashes.
            for node in all {
                let run = try await DevnetHarness.run(
                    ["devnet", "restart-node", "\(node)", "--dir", net.dir.path],
                    environment: ["GONKA_TEST_UPGRADES": Self.upgrade])
                guard run.status == 0 else { throw HarnessError("restart-node \(node): \(run.output)") }
            }
            try await net.waitForHeight(upgradeHeight + 3, nodes: all, timeout: .seconds(180))
            try await net.checkConsistency(nodes: all)
            for node in all {
                let block = try await net.client(node).block(upgradeHeight + 1)
                hashes.append(block.appHash)
            }
            #expect(Set(hashes).count == 1, "app hash after the upgrade block: \(hashes)")
            #expect(try await net.client(0).upgradePlan() == nil)
            print(
                "[devnet] upgrade applied at \(upgradeHeight); 4 nodes at \(upgradeHeight + 3), app hash \(hashes[0])")
        }
    }
}

extension Array where Element: Sendable {
    fileprivate func asyncMax(_ value: (Element) async throws -> UInt64) async throws -> UInt64 {
        var best: UInt64 = 0
        for element in self { best = Swift.max(best, try await value(element)) }
        return best
    }
}
