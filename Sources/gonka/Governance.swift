import ArgumentParser
import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Storage

/// The key and broadcast options of `gonka tx gov …`.
struct GovSigner: ParsableArguments {
    @OptionGroup var home: HomeOptions
    @OptionGroup var node: NodeOptions
    @Option(help: "The signing key's name in HOME/keys.") var from: String
    @Option(help: "commit (wait for the block) or sync (return after checkTx).")
    var mode: ChainClient.BroadcastMode = .commit

    func validate() throws { try KeyStore.validate(name: from) }

    func key() throws -> SigningKey {
        do {
            return try KeyStore(home: home.url).load(from)
        } catch {
            throw CLIError("key \"\(from)\" in \(home.url.path): \(error)")
        }
    }

    /// Signs `msg` with the key, broadcasts it and prints the result; exit code 2 when it failed.
    func broadcast(_ msg: Wire.Msg, key: SigningKey) async throws {
        let client = try node.client()
        let result: BroadcastResult
        do {
            result = try await client.signAndBroadcast([msg], key: key, mode: mode).result
        } catch let error as ChainClientError {
            throw CLIError(error.description)
        }
        try printBroadcast(result, json: node.json)
    }
}

extension Tx {
    /// `gonka tx gov …` (PROTOCOL §10, docs/GOVERNANCE.md).
    struct Gov: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Governance: submit proposals, deposit, vote.",
            subcommands: [Submit.self, Deposit.self, Vote.self])

        struct Submit: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Submit a proposal from a JSON file.",
                discussion: """
                    FILE is a proposal file: {"title", "summary", "deposit": "100gnk", "expedited": false, "content": {<one kind>}}; docs/GOVERNANCE.md has an example for each kind. The proposer (--from) must be a registered participant; the deposit moves into escrow.
                    """)
            @OptionGroup var signer: GovSigner
            @Argument(help: "The proposal file (JSON).", completion: .file()) var file: String

            func run() async throws {
                let data: Data
                do {
                    data = try Data(contentsOf: URL(fileURLWithPath: file))
                } catch {
                    throw CLIError("cannot read \(file): \(error.localizedDescription)")
                }
                let proposal: ProposalFile
                do {
                    proposal = try JSONDecoder().decode(ProposalFile.self, from: data)
                } catch {
                    throw CLIError("\(file) is not a proposal file: \(error)")
                }
                let key = try signer.key()
                let msg: Wire.MsgSubmitProposal
                do {
                    msg = try proposal.message(proposer: key.publicKey.address)
                } catch {
                    throw CLIError("\(file): \(error)")
                }
                try await signer.broadcast(Wire.Msg(msg), key: key)
            }
        }

        struct Deposit: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add to a proposal's deposit.")
            @OptionGroup var signer: GovSigner
            @Argument(help: "The proposal id.") var id: UInt64
            @Argument(help: "The amount, e.g. 50gnk.") var amount: String

            func validate() throws {
                let value: Amount
                do {
                    value = try Amount(parsing: amount)
                } catch {
                    throw ValidationError("AMOUNT \"\(amount)\": \(error)")
                }
                guard value > .zero else { throw ValidationError("AMOUNT must be positive") }
            }

            func run() async throws {
                let key = try signer.key()
                var msg = Wire.MsgDeposit()
                msg.depositor = key.publicKey.address.description
                msg.proposalID = id
                msg.amount = try Amount(parsing: amount).ngonka
                try await signer.broadcast(Wire.Msg(msg), key: key)
            }
        }

        struct Vote: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Vote on a proposal: yes, no, abstain or no_with_veto.",
                discussion: """
                    The vote counts with the participant's epoch weight at the tally; a later vote replaces an earlier one. An operator key granted MsgVote votes for its participant with --voter.
                    """)
            @OptionGroup var signer: GovSigner
            @Argument(help: "The proposal id.") var id: UInt64
            @Argument(help: "yes, no, abstain or no_with_veto.") var option: String
            @Option(help: "The participant voted for (default: the --from key's own address).") var voter: String?

            static let options: [String: Wire.VoteOption] = [
                "yes": .yes, "no": .no, "abstain": .abstain, "no_with_veto": .noWithVeto, "veto": .noWithVeto,
            ]

            func validate() throws {
                guard Self.options[option.lowercased()] != nil else {
                    throw ValidationError("OPTION must be yes, no, abstain or no_with_veto, not \"\(option)\"")
                }
                if let voter { _ = try parseAddressArgument(voter, name: "--voter") }
            }

            func run() async throws {
                let key = try signer.key()
                var msg = Wire.MsgVote()
                msg.voter =
                    try voter.map { try parseAddressArgument($0, name: "--voter") }?.description
                    ?? key.publicKey.address.description
                msg.proposalID = id
                msg.option = Self.options[option.lowercased()] ?? .unspecified
                try await signer.broadcast(Wire.Msg(msg), key: key)
            }
        }
    }
}

extension Query {
    /// `gonka query proposals [--status S]`.
    struct Proposals: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Governance proposals, oldest first.")
        @OptionGroup var node: NodeOptions
        @Option(help: "Only these: deposit_period, voting_period, passed, rejected or failed.") var status: String?

        static let statuses = ["deposit_period", "voting_period", "passed", "rejected", "failed"]

        func validate() throws {
            if let status, !Self.statuses.contains(status) {
                throw ValidationError("--status must be one of \(Self.statuses.joined(separator: ", "))")
            }
        }

        func run() async throws {
            let client = try node.client()
            let list = try await rpc { () async throws(ChainClientError) in try await client.proposals(status: status) }
            if node.json { return printJSON(list) }
            if list.isEmpty { return print("no proposals") }
            for p in list {
                let end =
                    p.status == "deposit_period"
                    ? "deposit until \(p.depositEndHeight)" : "vote until \(p.votingEndHeight)"
                let state =
                    p.outcome.isEmpty ? "\(p.status) (\(end))" : "\(p.status): \(p.outcome), deposit \(p.depositFate)"
                print("#\(p.id)  \(p.kind)\(p.expedited ? " expedited" : "")  \(p.title)  — \(state)")
            }
        }
    }

    /// `gonka query proposal ID`.
    struct Proposal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One proposal: content, deposits, who voted what, the tally so far and the blocks left.")
        @OptionGroup var node: NodeOptions
        @Argument(help: "The proposal id.") var id: UInt64

        func run() async throws {
            let client = try node.client()
            guard let d = try await rpc({ () async throws(ChainClientError) in try await client.proposal(id) }) else {
                throw CLIError("no proposal \(id) on chain")
            }
            if node.json { return printJSON(d) }
            let p = d.proposal
            print("proposal #\(p.id): \(p.title)")
            if !p.summary.isEmpty { print("  \(p.summary)") }
            print(
                "kind:      \(p.kind)\(p.expedited ? " (expedited)" : "")\(p.convertedFromExpedited ? " (was expedited)" : "")"
            )
            print("proposer:  \(p.proposer)")
            print("status:    \(p.status)\(p.outcome.isEmpty ? "" : ": \(p.outcome), deposit \(p.depositFate)")")
            if p.status == "deposit_period" {
                print(
                    "deposit:   \(p.totalDeposit.gnkString) until height \(p.depositEndHeight) (\(d.blocksLeft) blocks left)"
                )
            } else {
                print("deposit:   \(p.totalDeposit.gnkString)")
                print(
                    "vote:      heights \(p.votingStartHeight)…\(p.votingEndHeight)\(p.status == "voting_period" ? " (\(d.blocksLeft) blocks left)" : "")"
                )
            }
            let t = d.tally
            print(
                "tally:     yes \(t.yes)  no \(t.no)  abstain \(t.abstain)  no_with_veto \(t.noWithVeto)  of \(t.totalPower) (epoch \(t.epoch) weights) → \(d.outcomeNow)"
            )
            for vote in d.votes { print("  \(vote.voter)  \(vote.option)  power \(vote.power)  at \(vote.height)") }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let content = try? encoder.encode(p.content) {
                print("content:   \(String(decoding: content, as: UTF8.self))")
            }
        }
    }

    /// `gonka query params`: every parameter of the registry with its value and whether governance may change it.
    struct Params: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every chain parameter: value, type, bounds, and when a governed change takes effect.")
        @OptionGroup var node: NodeOptions

        func run() async throws {
            let client = try node.client()
            let params = try await rpc { () async throws(ChainClientError) in try await client.params() }
            if node.json { return printJSON(params) }
            for p in ChainParams.registry {
                let bounds = p.type == .integer ? " [\(p.bounds.lowerBound)…\(p.bounds.upperBound)]" : ""
                print("\(p.name) = \(p.value(in: params))  \(p.effect.rawValue)\(bounds)  \(p.summary)")
            }
            if let plan = try await rpc({ () async throws(ChainClientError) in try await client.upgradePlan() }) {
                print("upgrade scheduled: \(plan.name) at height \(plan.height) (binary sha256 \(plan.binarySHA256))")
            }
        }
    }
}
