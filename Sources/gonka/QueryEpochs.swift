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
            commandName: "participants",
            abstract: "Participants with their weight, status, validator power and validation standing.",
            discussion: """
                REP: reputation 0..100; VSTATUS: active or INVALID this epoch; CHECKED / INVAL: confirmed \
                outcomes of its inferences this epoch; LLR: the sequential test's log-likelihood ratio \
                (INVALID at ln(1/α)). With --json: {"participants": …, "validation": the epoch's standings}.
                """)
        @OptionGroup var node: NodeOptions
        @Option(help: "Read at this height (default: latest).") var height: UInt64?

        func run() async throws {
            let client = try node.client()
            let list = try await rpc { () async throws(ChainClientError) in
                try await client.participants(height: height)
            }
            let validation = try await rpc { () async throws(ChainClientError) in
                try await client.validationEpoch(height: height)
            }
            if node.json { return printJSON(Combined(participants: list, validation: validation)) }
            print(Self.table(list, validation: validation))
            print(
                "validation epoch \(validation.epoch): traffic R = \(validation.traffic) (previous epoch's finished inferences)"
            )
        }

        struct Combined: Encodable {
            let participants: [ParticipantInfo]
            let validation: ValidationEpochInfo
        }

        static func table(_ list: [ParticipantInfo], validation: ValidationEpochInfo? = nil) -> String {
            // RAW: accepted nonces before the power cap; WEIGHT: after it; POWER: the voting power
            // consensus gives it for the next block; then the validation standing of the epoch
            // inference counts toward (§7.1, §7.4).
            var rows = [
                ["ADDRESS", "EPOCH", "RAW", "WEIGHT", "STATUS", "POWER", "REP", "VSTATUS", "CHECKED", "INVAL", "LLR"]
            ]
            for p in list {
                let standing = validation?.participants.first { $0.address == p.address }
                rows.append([
                    p.address, p.epoch.map(String.init) ?? "-", String(p.rawWeight), String(p.weight), p.status,
                    String(p.validatorPower), standing.map { String($0.reputation) } ?? "0",
                    standing?.status ?? "active", String(standing?.checked ?? 0), String(standing?.invalidated ?? 0),
                    standing?.llr ?? "0.000000",
                ])
            }
            let left: Set<Int> = [0, 4, 7]
            let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
            return rows.map { row in
                row.enumerated().map { c, cell in
                    left.contains(c)
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
