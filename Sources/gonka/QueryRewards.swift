import ArgumentParser
import ChainNode
import ChainRPCTypes
import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Storage

// PROTOCOL §8: `gonka query supply | settlement | rewards` and `gonka tx claim`.

extension Query {
    struct Supply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Minted, burned, the mining and community pools, the training fund and settlements.")
        @OptionGroup var node: NodeOptions
        @Option(help: "Read at this height (default: latest).") var height: UInt64?

        func run() async throws {
            let client = try node.client()
            let supply = try await rpc { () async throws(ChainClientError) in try await client.supply(height: height) }
            if node.json { return printJSON(supply) }
            print("minted:          \(supply.minted.gnkString)")
            print("burned:          \(supply.burned.gnkString)")
            print("circulating:     \(supply.circulating.gnkString)")
            guard let r = supply.rewards else { return }
            for name in r.modules.keys.sorted() {
                print("\((name + ":").padding(toLength: 17, withPad: " ", startingAt: 0))\(gnk(r.modules[name] ?? 0))")
            }
            print(
                "reward issued:   \(gnk(r.rewardIssued))  (settled epochs < \(r.nextEpoch), W_ref \(r.referenceWeight))"
            )
            print(
                "settlements:     pending \(gnk(r.pending)), claimed \(gnk(r.claimed)), burned \(gnk(r.settlementsBurned))"
            )
            print("training fund:   credited \(gnk(r.trainingCredited)), spent \(gnk(r.trainingSpent))")
            print("inference owes:  open escrow \(gnk(r.openEscrow)) + unsettled cost \(gnk(r.unsettledCost))")
        }
    }

    struct SettlementCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "settlement", abstract: "An epoch's settlement: R(e), fees, weights and every share.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "The epoch (default: the last settled).") var epoch: UInt64?

        func run() async throws {
            let client = try node.client()
            let info = try await rpc { () async throws(ChainClientError) in try await client.settlement(epoch) }
            if node.json { return printJSON(info) }
            guard info.settled else {
                print("epoch \(info.epoch) is not settled yet (an epoch settles once the next one has ended)")
                return
            }
            print(
                "epoch \(info.epoch) settled at height \(info.height), claimable through epoch \(info.claimUntilEpoch)")
            print("issuance R(e): \(gnk(info.issuance))  fees: \(gnk(info.fees))")
            print("weight W(e): \(info.totalWeight)  W_ref(e): \(info.referenceWeight)")
            print(
                "reward paid: \(gnk(info.rewardPaid))  work paid: \(gnk(info.workPaid))  training fund: \(gnk(info.trainingFund))"
            )
            print("claimed: \(gnk(info.claimed))  burned: \(gnk(info.burned))")
            printSettlements(info.settlements)
        }
    }

    struct RewardsCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rewards", abstract: "A participant's settlements: reward, work, claimed or burned and why.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "A gonka1… address.") var address: String
        @Option(help: "Only this epoch (default: the last 100 settled).") var epoch: UInt64?

        func validate() throws { _ = try parseAddressArgument(address, name: "ADDRESS") }

        func run() async throws {
            let client = try node.client()
            let target = try parseAddressArgument(address, name: "ADDRESS")
            let list = try await rpc { () async throws(ChainClientError) in
                try await client.rewards(target, epoch: epoch)
            }
            if node.json { return printJSON(list) }
            guard !list.isEmpty else { return print("no settlements for \(target)") }
            printSettlements(list)
        }
    }
}

private func gnk(_ ngonka: UInt64) -> String { Amount(ngonka: ngonka).gnkString }

private func printSettlements(_ list: [SettlementInfo]) {
    guard !list.isEmpty else { return }
    print("EPOCH  ADDRESS                                        WEIGHT        REWARD          WORK  STATUS")
    for s in list {
        let status = s.reason.isEmpty ? s.status : "\(s.status) (\(s.reason))"
        print(
            String(s.epoch).padding(toLength: 7, withPad: " ", startingAt: 0)
                + s.address.padding(toLength: 47, withPad: " ", startingAt: 0)
                + String(s.weight).padding(toLength: 8, withPad: " ", startingAt: 0)
                + gnk(s.reward).padding(toLength: 14, withPad: " ", startingAt: 0) + " "
                + gnk(s.work).padding(toLength: 14, withPad: " ", startingAt: 0) + " " + status)
    }
}

extension Tx {
    struct Claim: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Claim an epoch's settlement by hand (the API node claims automatically).",
            discussion: """
                Reveals the epoch's secret seed from HOME/data/seeds/EPOCH (the one committed at the sprint and used to pick which inferences to validate); the chain pays the settlement if every validation the seed obliged was sent, and burns it otherwise. Epoch 0 has no seed.
                """)
        @OptionGroup var home: HomeOptions
        @OptionGroup var node: NodeOptions
        @Option(help: "The epoch to claim.") var epoch: UInt64
        @Option(help: "The participant's key name in HOME/keys.") var key = "validator"
        @Option(help: "commit (wait for the block) or sync (return after checkTx).")
        var mode: ChainClient.BroadcastMode = .commit

        func validate() throws { try KeyStore.validate(name: key) }

        func run() async throws {
            let epoch = epoch
            var seed = Data()
            if epoch > 0 {
                let file = NodePaths(home: home.url).seeds.appendingPathComponent(String(epoch))
                guard let text = try? String(contentsOf: file, encoding: .utf8) else {
                    throw CLIError("no seed for epoch \(epoch) at \(file.path)")
                }
                guard let bytes = Hex.decode(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32
                else { throw CLIError("\(file.path) is not 64 hex digits") }
                seed = Data(bytes)
            }
            try await broadcastAndPrint(
                { participant in
                    var msg = Wire.MsgClaimRewards()
                    msg.participant = participant.description
                    msg.epoch = epoch
                    msg.seed = seed
                    return [Wire.Msg(msg)]
                }, keyName: key, home: home, node: node, mode: mode)
        }
    }
}
