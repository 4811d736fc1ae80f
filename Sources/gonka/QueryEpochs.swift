import ArgumentParser
import Foundation
import GonkaClient
import GonkaCore

extension Query {
    struct EpochCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "epoch", abstract: "The epoch, its stage and the blocks to the next stage.")
        @OptionGroup var node: NodeOptions
        @Option(help: "Read at this height (default: latest).") var height: UInt64?

        func run() async throws {
            let client = try node.client()
            let info = try await rpc { () async throws(ChainClientError) in try await client.epoch(height: height) }
            if node.json { return printJSON(info) }
            print("height:      \(info.height)")
            print("epoch:       \(info.epoch)  (\(info.epochStatus))  length \(info.epochLength)")
            print("stage:       \(info.stage)\(info.pocStartHeight.map { "  P = \($0)" } ?? "")")
            print("next stage:  \(info.nextStage) at \(info.nextStageHeight) (in \(info.blocksToNextStage) blocks)")
            if !info.pocBlockHash.isEmpty { print("poc seed H:  \(info.pocBlockHash)") }
            print("active:      epoch \(info.activeEpoch)\(info.epochSeed.isEmpty ? "" : ", seed \(info.epochSeed)")")
            let total = info.validators.reduce(0) { $0 + $1.power }
            print("validators:  \(info.validators.count), total power \(total)")
        }
    }

    struct ParticipantsCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "participants", abstract: "Participants with their weight, status and validator power.")
        @OptionGroup var node: NodeOptions
        @Option(help: "Read at this height (default: latest).") var height: UInt64?

        func run() async throws {
            let client = try node.client()
            let list = try await rpc { () async throws(ChainClientError) in
                try await client.participants(height: height)
            }
            if node.json { return printJSON(list) }
            print(Self.table(list))
        }

        static func table(_ list: [ParticipantInfo]) -> String {
            // RAW: accepted nonces before the power cap; WEIGHT: after it; POWER: the voting power
            // consensus gives it for the next block.
            var rows = [["ADDRESS", "EPOCH", "RAW", "WEIGHT", "STATUS", "POWER"]]
            for p in list {
                rows.append([
                    p.address, p.epoch.map(String.init) ?? "-", String(p.rawWeight), String(p.weight), p.status,
                    String(p.validatorPower),
                ])
            }
            let widths = (0..<6).map { c in rows.map { $0[c].count }.max() ?? 0 }
            return rows.map { row in
                row.enumerated().map { c, cell in
                    c == 0 || c == 4
                        ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                        : String(repeating: " ", count: widths[c] - cell.count) + cell
                }.joined(separator: "  ")
            }.joined(separator: "\n")
        }
    }

    struct PocCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "poc", abstract: "A participant's PoC sprint: batches, nonces, validations.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "A gonka1… address.") var participant: String
        @Option(name: .customLong("poc-start-height"), help: "The sprint's P (default: the current sprint).")
        var pocStartHeight: UInt64?

        func validate() throws { _ = try parseAddressArgument(participant, name: "PARTICIPANT") }

        func run() async throws {
            let client = try node.client()
            let address = try parseAddressArgument(participant, name: "PARTICIPANT")
            let info = try await rpc { () async throws(ChainClientError) in
                try await client.poc(address, pocStartHeight: pocStartHeight)
            }
            if node.json { return printJSON(info) }
            print("participant: \(info.participant)  sprint P = \(info.pocStartHeight)")
            print("seed:        \(info.seedCommitted ? "committed" : "none")")
            print("batches:     \(info.batchesCount)  nonces \(info.nonceCount)  node_count \(info.nodeCount)")
            for v in info.validations {
                print("  validated by \(v.validator): \(v.mismatches)/\(v.sampled) mismatches, fraud \(v.fraud)")
            }
        }
    }
}
