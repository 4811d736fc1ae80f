import ChainNode
import Foundation
import GonkaClient
import GonkaCore
import GonkaTestKit
import GonkaWire
import Ledger
import Testing

/// Module Governance's routes on a running single-validator node (PROTOCOL §10, docs/RPC.md),
/// through `ChainClient` over a real socket: proposals submitted, voted and tallied by consensus,
/// then every governance query against its client type, then bad input.
@Suite(.serialized, .hangGuard) struct GovernanceRPCTests {
    @Test(.timeLimit(.minutes(3))) func proposalsVotesAndQueries() async throws {
        var params = ChainParams.devnet
        params.governance = GovernanceParams(
            maxDepositPeriodBlocks: 5, votingPeriodBlocks: 20, expeditedVotingPeriodBlocks: 2)
        let net = try TestNetwork(validators: 1, params: params)
        defer { net.cleanup() }
        let running = try await RunningNode(home: net.homes[0], name: "governance-rpc")
        do {
            #expect(await eventually { running.height >= 2 })
            let client = try ChainClient(baseURL: "http://127.0.0.1:\(try await running.node.rpcPort())")
            let participant = net.accountKeys[0]
            let funder = net.wallet.accounts[0]
            let fund = try await client.signAndBroadcast(
                [.send(from: funder.publicKey.address, to: participant.publicKey.address, amount: 500_000_000_000)],
                key: funder)
            #expect(fund.result.code == 0, "\(fund.result.log)")

            // A text proposal that passes, and an upgrade scheduled far ahead.
            let text = ProposalFile(title: "hello", deposit: Amount(gnk: 100)!, content: .init(text: .init()))
            let upgrade = ProposalFile(
                title: "upgrade", deposit: Amount(gnk: 100)!,
                content: .init(
                    softwareUpgrade: .init(
                        name: "v2", height: 100_000, binarySHA256: String(repeating: "cd", count: 32))))
            // Both in one tx, then both votes in one tx: two blocks, well inside the vote even on
            // a loaded machine.
            let submitted = try await client.signAndBroadcast(
                try [text, upgrade].map { Wire.Msg(try $0.message(proposer: participant.publicKey.address)) },
                key: participant)
            #expect(submitted.result.code == 0, "\(submitted.result.log)")
            let open = try await client.proposals()
            #expect(open.map(\.title) == ["hello", "upgrade"])
            #expect(open.allSatisfy { $0.status == "voting_period" })
            let votes = open.map { proposal in
                var vote = Wire.MsgVote()
                vote.voter = participant.publicKey.address.description
                vote.proposalID = proposal.id
                vote.option = .yes
                return Wire.Msg(vote)
            }
            let voted = try await client.signAndBroadcast(votes, key: participant)
            #expect(voted.result.code == 0, "\(voted.result.log)")
            let detail = try #require(try await client.proposal(open[0].id))
            #expect(detail.votes.map(\.power) == [10])
            #expect(detail.outcomeNow == "passed")
            let end = open.map(\.votingEndHeight).max() ?? 0
            #expect(await eventually(.seconds(90)) { running.height > end })
            let decided = try await client.proposals(status: "passed")
            #expect(decided.map(\.title) == ["hello", "upgrade"])
            #expect(decided.allSatisfy { $0.depositFate == "refunded" && $0.finalTally.yes == 10 })
            let plan = try #require(try await client.upgradePlan())
            #expect(plan.name == "v2" && plan.height == 100_000)
            #expect(try await client.proposal(99) == nil)

            try await RPCContract.check(
                client,
                [
                    .init("/query/proposals", [ProposalInfo].self),
                    .init("/query/proposals?status=passed", [ProposalInfo].self),
                    .init("/query/proposal/\(open[0].id)", ProposalDetail.self),
                    .init("/query/proposal/\(open[1].id)", ProposalDetail.self),
                    .init("/query/upgrade_plan", UpgradePlanInfo.self),
                ])

            for (path, status, code) in [
                ("/query/proposal/x", 400, "invalid_proposal_id"),
                ("/query/proposals?status=open", 400, "invalid_status"),
                ("/query/proposal", 404, "not_found"),
            ] {
                let (got, body) = try await client.rawGET(path)
                #expect(got == status, "\(path): \(String(decoding: body, as: UTF8.self))")
                #expect(ChainClient.serverError(status: got, body: body).serverCode == code, "\(path)")
            }
            // A vote on an unknown proposal is refused by checkTx with its reason.
            var stray = Wire.MsgVote()
            stray.voter = participant.publicKey.address.description
            stray.proposalID = 99
            stray.option = .no
            let refused = await #expect(throws: ChainClientError.self) {
                try await client.signAndBroadcast([Wire.Msg(stray)], key: participant)
            }
            #expect(refused?.serverCode == "unknown_proposal", "\(String(describing: refused))")
        } catch {
            await running.stop()
            throw error
        }
        await running.stop()
    }
}
