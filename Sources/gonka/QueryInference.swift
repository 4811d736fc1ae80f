import ArgumentParser
import Foundation
import GonkaClient
import GonkaCore

// `gonka query inference|models|executors|misses`: module Inference through a node's RPC.
extension Query {
    struct InferenceCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inference", abstract: "An inference's on-chain record: status, tokens, escrow, cost, refund.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "The inference id (64 hex digits).") var id: String

        func validate() throws {
            guard id.count == 64, Hex.decode(id.lowercased()) != nil else {
                throw ValidationError("ID \"\(id)\" must be 64 hex digits")
            }
        }

        func run() async throws {
            let client = try node.client()
            let found = try await rpc { () async throws(ChainClientError) in try await client.inference(id) }
            guard let record = found else {
                let note = try await rpc { () async throws(ChainClientError) in try await client.inferencePrunedNote(id)
                }
                throw CLIError("no inference \(id.lowercased()) on chain" + (note.map { " (\($0))" } ?? ""))
            }
            let validation = try await rpc { () async throws(ChainClientError) in try await client.validations(of: id) }
            if node.json { return printJSON(Combined(inference: record, validation: validation)) }
            print("inference:  \(record.inferenceID)")
            print("status:     \(record.status)")
            print("model:      \(record.model)")
            print("requester:  \(record.requester)")
            print("ta:         \(record.transferAgent)")
            print("executor:   \(record.executor) (attempt \(record.attempt))")
            print(
                "tokens:     prompt \(record.promptTokens), completion \(record.completionTokens), max \(record.maxTokens)"
            )
            print("price:      \(record.price) per token")
            print("escrow:     \(record.escrow)")
            print("cost:       \(record.cost)")
            print("refund:     \(record.refund)")
            print("commitment: \(record.responseCommitment.isEmpty ? "(none yet)" : record.responseCommitment)")
            print(
                "heights:    start \(record.startHeight), finish \(record.finishHeight), expiry \(record.expiryHeight)"
            )
            print(Self.validationLines(validation).joined(separator: "\n"))
        }

        struct Combined: Encodable {
            let inference: InferenceRecordInfo
            let validation: InferenceValidationsInfo
        }

        /// The validations and the vote, one line each.
        static func validationLines(_ info: InferenceValidationsInfo) -> [String] {
            var lines = ["validations: \(info.validations.isEmpty ? "none yet" : String(info.validations.count))"]
            for v in info.validations {
                let verdict = v.passed ? "passed" : "FAILED (\(v.reason))"
                lines.append(
                    "  \(v.validator)  \(verdict)  distance \(v.distancePpm) ppm  sampler misses \(v.samplerMisses)"
                        + "  height \(v.height)\(v.vote ? "  [vote]" : "")")
            }
            if let voting = info.voting {
                let state = voting.outcome.isEmpty ? "open until height \(voting.deadlineHeight)" : voting.outcome
                lines.append(
                    "vote:        \(state) (opened by \(voting.firstValidator): \(voting.firstReason), "
                        + "height \(voting.failureHeight))")
                for r in voting.revalidators { lines.append("  \(r.address)  weight \(r.weight)  \(r.vote)") }
            }
            return lines
        }
    }

    struct ValidationsCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validations", abstract: "The validations of an epoch's inferences, all or one validator's.")
        @OptionGroup var node: NodeOptions
        @Option(help: "The epoch of the inferences.") var epoch: UInt64
        @Option(help: "Only this validator's (a gonka1… address).") var validator: String?

        func validate() throws {
            if let validator { _ = try parseAddressArgument(validator, name: "--validator") }
        }

        func run() async throws {
            let client = try node.client()
            let address = try validator.map { try parseAddressArgument($0, name: "--validator") }
            let list = try await rpc { () async throws(ChainClientError) in
                try await client.validations(epoch: epoch, validator: address)
            }
            if node.json { return printJSON(list) }
            if list.isEmpty { print("no validations of epoch \(epoch)'s inferences") }
            for v in list {
                let verdict = v.passed ? "passed" : "FAILED (\(v.reason))"
                print(
                    "\(v.inferenceID)  \(v.validator)  \(verdict)  distance \(v.distancePpm) ppm  misses "
                        + "\(v.samplerMisses)  height \(v.height)\(v.vote ? "  [vote]" : "")")
            }
        }
    }

    struct Models: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The registered models and their price per token.")
        @OptionGroup var node: NodeOptions

        func run() async throws {
            let client = try node.client()
            let models = try await rpc { () async throws(ChainClientError) in try await client.models() }
            if node.json { return printJSON(models) }
            if models.isEmpty { print("no models registered") }
            for model in models {
                print(
                    "\(model.id)  price \(model.pricePerToken)/token  \(model.tokensPerSecondPerWeight) tok/s per weight"
                )
            }
        }
    }

    struct Executors: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The executor pool of a model: the epoch seed and weights the executor draw uses.")
        @OptionGroup var node: NodeOptions
        @Option(help: "The model id.") var model: String

        func run() async throws {
            let client = try node.client()
            let info = try await rpc { () async throws(ChainClientError) in try await client.executors(model: model) }
            if node.json { return printJSON(info) }
            print("model \(info.model), epoch \(info.epoch), seed \(info.epochSeed)")
            for candidate in info.candidates { print("  \(candidate.address)  weight \(candidate.weight)") }
        }
    }

    struct Misses: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An executor's missed inferences.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "A gonka1… address.") var address: String

        func validate() throws { _ = try parseAddressArgument(address, name: "ADDRESS") }

        func run() async throws {
            let client = try node.client()
            let target = try parseAddressArgument(address, name: "ADDRESS")
            let misses = try await rpc { () async throws(ChainClientError) in try await client.misses(target) }
            if node.json { return printJSON(misses) }
            print("\(misses.address): \(misses.reported) skipped, \(misses.expired) expired")
        }
    }
}
