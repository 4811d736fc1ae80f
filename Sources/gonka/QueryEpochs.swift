import ArgumentParser
import Foundation
import GonkaClient
import GonkaCore
import ServerLifecycle

extension Query {
    struct EpochCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "epoch", abstract: "The epoch, its stage and the blocks to the next stage.")
        @OptionGroup var node: NodeOptions
        @Option(help: "Read at this height (default: latest).") var height: UInt64?
        @Flag(
            help: ArgumentHelp(
                "Follow the chain until Ctrl-C: the epoch, its stage, the PoC sprint's progress and a countdown to the next stage, at every block.",
                discussion:
                    "On a terminal one line is rewritten in place (stage changes stay as lines of their own); otherwise a line per block."
            ))
        var watch = false
        @Option(help: "With --watch: stop after this many blocks.") var count: Int?

        func validate() throws {
            if let count, count < 1 { throw ValidationError("--count must be at least 1") }
            if count != nil, !watch { throw ValidationError("--count goes with --watch") }
            if watch, height != nil { throw ValidationError("--watch follows the latest height; drop --height") }
            if watch, node.json { throw ValidationError("--watch prints text; drop --json") }
        }

        func run() async throws {
            let client = try node.client()
            if watch { return try await Self.watch(client, count: count) }
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

        /// `--watch`: a progress line updated at each new block of the node's event stream.
        static func watch(_ client: ChainClient, count: Int?) async throws {
            let params = try await rpc { () async throws(ChainClientError) in try await client.params() }.epochs
            // A line per block when not on a terminal: the chain's pace is the rate limit.
            let line = ProgressLine(policy: .init(terminalInterval: .milliseconds(100), plainInterval: .zero))
            var updates = 0
            var stage: String?
            var previousTime: Int64?
            var blockSeconds: Double?
            do {
                for try await event in client.events() {
                    guard case .newBlock(let block) = event else { continue }
                    if let previousTime, block.timeMs > previousTime {
                        // A moving average of the block interval, for the countdown.
                        let interval = Double(block.timeMs - previousTime) / 1000
                        blockSeconds = blockSeconds.map { 0.8 * $0 + 0.2 * interval } ?? interval
                    }
                    previousTime = block.timeMs
                    let info = try await rpc { () async throws(ChainClientError) in
                        try await client.epoch(height: block.height)
                    }
                    if let stage, stage != info.stage {
                        line.log("height \(info.height): epoch \(info.epoch) stage \(stage) → \(info.stage)")
                    }
                    stage = info.stage
                    line.update(watchLine(info, params: params, blockSeconds: blockSeconds))
                    updates += 1
                    if let count, updates >= count { break }
                }
            } catch {
                line.finish()
                throw CLIError("\(error)")
            }
            line.finish()
        }

        /// One update: height, epoch, stage, the sprint's progress (or the blocks to the next
        /// sprint) and the countdown to the next stage.
        static func watchLine(_ info: EpochInfo, params: EpochParams, blockSeconds: Double?) -> String {
            var parts = ["height \(info.height)", "epoch \(info.epoch) (\(info.epochStatus))", "stage \(info.stage)"]
            if let p = info.pocStartHeight, info.height >= p, info.height - p <= params.switchOffset {
                let done = info.height - p
                let width = 20
                let filled = params.switchOffset == 0 ? width : Int(done * UInt64(width) / params.switchOffset)
                let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
                parts.append("sprint P=\(p) \(bar) \(done)/\(params.switchOffset)")
            } else if params.epochLength > 0 {
                let next = (info.height / params.epochLength + 1) * params.epochLength
                parts.append("next sprint at \(next) in \(blocks(next - info.height))")
            }
            var countdown = "→ \(info.nextStage) at \(info.nextStageHeight) in \(blocks(info.blocksToNextStage))"
            if let blockSeconds {
                countdown += " (~\(Int((Double(info.blocksToNextStage) * blockSeconds).rounded())) s)"
            }
            parts.append(countdown)
            return parts.joined(separator: "  ")
        }

        private static func blocks(_ n: UInt64) -> String { n == 1 ? "1 block" : "\(n) blocks" }
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
