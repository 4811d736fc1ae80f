import Foundation
import GonkaClient
import GonkaCore

/// Reads what a page shows from one chain node's RPC (docs/RPC.md) and shapes it for the
/// templates. Every figure is the node's answer as it gave it; nothing from the chain is cached, so
/// a page is never older than its request (only the API nodes' health is kept for a few seconds).
struct ExplorerSource: Sendable {
    let client: ChainClient
    /// The participants' API nodes' health, probed with a short deadline and kept a few seconds.
    var health = ExplorerHealth()
    /// Rows of the blocks page and of the overview's latest blocks.
    static let blocksPerPage: UInt64 = 20
    static let overviewBlocks: UInt64 = 10
    /// Epochs in a participant's history.
    static let historyEpochs: UInt64 = 10

    /// Runs one chain call, turning its failure into a page (`what` names the thing on a 404).
    func ask<T>(_ what: String, _ call: () async throws(ChainClientError) -> T) async throws(ExplorerError) -> T {
        do {
            return try await call()
        } catch {
            throw ExplorerError.from(error, what: what)
        }
    }

    /// The header's figures: chain id and height.
    func frame(_ title: String, tab: String) async throws(ExplorerError) -> PageFrame {
        let status = try await ask("The node status") { () async throws(ChainClientError) in try await client.status() }
        return PageFrame(
            title: title, chainID: status.chainID, height: ExplorerFormat.grouped(status.height), tab: tab)
    }

    // MARK: Overview

    func overview() async throws(ExplorerError) -> OverviewPage {
        let status = try await ask("The node status") { () async throws(ChainClientError) in try await client.status() }
        let epoch = try await ask("The epoch") { () async throws(ChainClientError) in try await client.epoch() }
        let participants = try await ask("The participants") { () async throws(ChainClientError) in
            try await client.participants()
        }
        let models = try await ask("The models") { () async throws(ChainClientError) in try await client.models() }
        let pricing = try? await client.pricing()
        let standing = try? await client.validationEpoch()
        let supply = try? await client.supply()
        let recent = try await recentBlocks(tip: status.height, count: Self.overviewBlocks)
        let intervalMs = averageInterval(recent)

        let totalPower = epoch.validators.reduce(UInt64(0)) { $0 + $1.power }
        let validators = epoch.validators.sorted { ($0.power, $1.address) > ($1.power, $0.address) }.map {
            ValidatorRow(
                address: $0.address, power: ExplorerFormat.grouped($0.power),
                share: ExplorerFormat.percent($0.power, of: totalPower))
        }
        let prices = Dictionary((pricing?.models ?? []).map { ($0.model, $0) }, uniquingKeysWith: { a, _ in a })
        let modelRows = models.map { model in
            let price = prices[model.id]
            return ModelRow(
                id: model.id, price: ExplorerFormat.amount(price?.pricePerToken ?? model.pricePerToken),
                utilisation: price.map { ExplorerFormat.percent($0.utilisationPPM, of: 1_000_000) }
                    ?? ExplorerFormat.missing,
                capacity: ExplorerFormat.grouped(model.tokensPerSecondPerWeight),
                contextLength: ExplorerFormat.grouped(model.contextLength))
        }
        let served = standing.map { $0.participants.reduce(UInt64(0)) { $0 + $1.served } }
        let left = epoch.nextStageHeight > status.height ? epoch.nextStageHeight - status.height : 0
        return OverviewPage(
            frame: PageFrame(
                title: "Overview", chainID: status.chainID, height: ExplorerFormat.grouped(status.height),
                tab: "Overview"),
            height: ExplorerFormat.grouped(status.height),
            blockTime: ExplorerFormat.time(ms: status.blockTimeMs),
            blockInterval: intervalMs.map { ExplorerFormat.seconds(ms: $0) } ?? ExplorerFormat.missing,
            blockIntervalMs: String(intervalMs ?? 0),
            epoch: String(epoch.epoch), stage: epoch.stage, nextStage: epoch.nextStage,
            nextStageHeight: String(epoch.nextStageHeight), blocksToNextStage: String(left),
            countdown: "\(left) blocks" + (intervalMs.map { " (≈ \((Int64(left) * $0 + 500) / 1000) s)" } ?? ""),
            activeEpoch: String(epoch.activeEpoch),
            validators: validators, validatorCount: String(validators.count),
            totalPower: ExplorerFormat.grouped(totalPower),
            totalWeight: ExplorerFormat.grouped(participants.reduce(UInt64(0)) { $0 + $1.weight }),
            participantCount: String(participants.count), models: modelRows,
            servedThisEpoch: served.map { ExplorerFormat.grouped($0) } ?? ExplorerFormat.missing,
            trafficLastEpoch: standing.map { ExplorerFormat.grouped($0.traffic) } ?? ExplorerFormat.missing,
            supply: supply.map {
                SupplyFacts(
                    minted: ExplorerFormat.amount($0.minted), burned: ExplorerFormat.amount($0.burned),
                    circulating: ExplorerFormat.amount($0.circulating))
            },
            recentBlocks: recent.map(Self.row))
    }

    /// The mean interval between the given blocks (newest first), in ms; nil with fewer than two.
    func averageInterval(_ blocks: [BlockInfo]) -> Int64? {
        guard let newest = blocks.first, let oldest = blocks.last, newest.height > oldest.height else { return nil }
        return (newest.timeMs - oldest.timeMs) / Int64(newest.height - oldest.height)
    }

    /// Up to `count` blocks from `tip` down, newest first.
    func recentBlocks(tip: UInt64, count: UInt64) async throws(ExplorerError) -> [BlockInfo] {
        guard tip > 0 else { return [] }
        let lowest = tip >= count ? tip - count + 1 : 1
        var blocks: [BlockInfo] = []
        for height in stride(from: tip, through: lowest, by: -1) {
            blocks.append(
                try await ask("Block \(height)") { () async throws(ChainClientError) in
                    try await client.block(height)
                })
        }
        return blocks
    }

    static func row(_ block: BlockInfo) -> BlockRow {
        BlockRow(
            height: String(block.height), time: ExplorerFormat.time(ms: block.timeMs), proposer: block.proposer,
            txs: String(block.numTxs), hash: block.hash, shortHash: ExplorerFormat.short(block.hash))
    }

    // MARK: Participants

    func participants() async throws(ExplorerError) -> ParticipantsPage {
        let frame = try await frame("Participants", tab: "Participants")
        let list = try await ask("The participants") { () async throws(ChainClientError) in
            try await client.participants()
        }
        let standing = try? await client.validationEpoch()
        let byAddress = Self.standings(standing)
        // The health probes run while the chain is asked; they end within ExplorerHealth.budget.
        async let healths = health.check(list.map(\.url))
        let monies = await Self.gather(list.map(\.address)) { [self] address in await money(of: address) }
        let answers = await healths
        let rows = list.sorted(by: { ($0.weight, $1.address) > ($1.weight, $0.address) }).map { p in
            Self.row(p, standing: byAddress[p.address], money: monies[p.address] ?? Money(), health: answers[p.url])
        }
        return ParticipantsPage(
            frame: frame, epoch: list.compactMap(\.epoch).max().map(String.init) ?? ExplorerFormat.missing,
            participants: rows)
    }

    /// `load` of every key, at most `limit` at once.
    static func gather<Key: Hashable & Sendable, Value: Sendable>(
        _ keys: [Key], limit: Int = 8, _ load: @escaping @Sendable (Key) async -> Value
    ) async -> [Key: Value] {
        await withTaskGroup(of: (Key, Value).self) { group in
            var next = keys.makeIterator()
            for _ in 0..<limit {
                guard let key = next.next() else { break }
                group.addTask { (key, await load(key)) }
            }
            var values: [Key: Value] = [:]
            while let (key, value) = await group.next() {
                values[key] = value
                if let key = next.next() { group.addTask { (key, await load(key)) } }
            }
            return values
        }
    }

    static func standings(_ info: ValidationEpochInfo?) -> [String: ValidationStandingInfo] {
        Dictionary((info?.participants ?? []).map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// A participant's collateral record and settlements (PROTOCOL §8, §9); nil parts when the
    /// node cannot say (an older node, or a query that failed: the page still renders).
    struct Money {
        var collateral: CollateralInfo?
        var settlements: [SettlementInfo] = []
    }

    func money(of text: String) async -> Money {
        guard let address = try? Address(text) else { return Money() }
        return Money(
            collateral: try? await client.collateral(address),
            settlements: (try? await client.rewards(address)) ?? [])
    }

    /// "12.5 GNK claimed (epoch 3)": the newest settlement, its amount and what became of it.
    static func settlementText(_ s: SettlementInfo?) -> String {
        guard let s else { return ExplorerFormat.missing }
        let amount = Amount(ngonka: s.reward &+ s.work).gnkString
        let fate = s.reason.isEmpty ? s.status : "\(s.status): \(s.reason)"
        return "\(amount) \(fate) (epoch \(s.epoch))"
    }

    /// "no", "jailed until H" or "tombstoned" (PROTOCOL §9).
    static func jailText(_ c: CollateralInfo?) -> String {
        guard let c else { return ExplorerFormat.missing }
        return c.tombstoned ? "tombstoned" : c.jailed ? "jailed until \(c.jailedUntil)" : "no"
    }

    static func row(
        _ p: ParticipantInfo, standing: ValidationStandingInfo?, money: Money = Money(),
        health: ExplorerHealth.Answer? = nil
    ) -> ParticipantRow {
        ParticipantRow(
            address: p.address, url: p.url, weight: ExplorerFormat.grouped(p.weight),
            votingPower: ExplorerFormat.grouped(p.validatorPower),
            reputation: standing.map { String($0.reputation) } ?? ExplorerFormat.missing, status: p.status,
            validationStatus: standing?.status ?? ExplorerFormat.missing, invalid: standing?.status == "INVALID",
            served: standing.map { ExplorerFormat.grouped($0.served) } ?? ExplorerFormat.missing,
            missed: standing.map { ExplorerFormat.grouped($0.missed) } ?? ExplorerFormat.missing,
            invalidated: standing.map { ExplorerFormat.grouped($0.invalidated) } ?? ExplorerFormat.missing,
            collateral: money.collateral.map { ExplorerFormat.amount($0.deposit) } ?? ExplorerFormat.missing,
            jailed: jailText(money.collateral),
            isJailed: money.collateral.map { $0.jailed || $0.tombstoned } ?? false,
            lastSettlement: settlementText(money.settlements.first),
            health: (health ?? .notProbed).text, healthy: health?.ok ?? false)
    }

    func participant(_ text: String) async throws(ExplorerError) -> ParticipantPage {
        let address: Address
        do {
            address = try Address(text)
        } catch {
            throw .badRequest("Not an address", "A participant is named by its gonka1… address.")
        }
        let frame = try await frame("Participant", tab: "Participants")
        let list = try await ask("The participants") { () async throws(ChainClientError) in
            try await client.participants()
        }
        guard let info = list.first(where: { $0.address == address.description }) else {
            throw .notFound("Unknown participant", "No participant \(address) is registered on this chain.")
        }
        let standing = Self.standings(try? await client.validationEpoch())[info.address]
        async let healths = health.check([info.url])
        let money = await money(of: info.address)
        let settled = Dictionary(money.settlements.map { ($0.epoch, $0) }, uniquingKeysWith: { a, _ in a })
        let misses = try? await client.misses(address)
        let current = try await ask("The epoch") { () async throws(ChainClientError) in try await client.epoch() }
        var history: [EpochHistoryRow] = []
        var weights: [ChartPoint] = []
        var rewards: [ChartPoint] = []
        var invalidRates: [ChartPoint] = []
        let first = current.epoch >= Self.historyEpochs ? current.epoch - Self.historyEpochs + 1 : 0
        for n in first...current.epoch {
            guard let record = try? await client.epochRecord(n),
                let member = record.participants.first(where: { $0.address == info.address })
            else { continue }
            let epochStanding = Self.standings(try? await client.validationEpoch(n))[info.address]
            weights.append(ChartPoint(epoch: n, value: member.weight, text: ExplorerFormat.grouped(member.weight)))
            let earned = settled[n].map { $0.reward &+ $0.work } ?? 0
            rewards.append(
                ChartPoint(
                    epoch: n, value: earned,
                    text: settled[n] == nil ? ExplorerFormat.missing : Amount(ngonka: earned).gnkString))
            if let epochStanding, epochStanding.served > 0 {
                // Parts per million, so the bar heights stay integers.
                let ppm = UInt64(UInt128(epochStanding.invalidated) * 1_000_000 / UInt128(epochStanding.served))
                invalidRates.append(
                    ChartPoint(
                        epoch: n, value: ppm,
                        text: ExplorerFormat.percent(epochStanding.invalidated, of: epochStanding.served)))
            } else {
                invalidRates.append(ChartPoint(epoch: n, value: 0, text: ExplorerFormat.missing))
            }
            history.append(
                EpochHistoryRow(
                    epoch: String(n), weight: ExplorerFormat.grouped(member.weight), status: member.status,
                    served: epochStanding.map { ExplorerFormat.grouped($0.served) } ?? ExplorerFormat.missing,
                    invalidated: epochStanding.map { ExplorerFormat.grouped($0.invalidated) }
                        ?? ExplorerFormat.missing,
                    invalidRate: epochStanding.map { ExplorerFormat.percent($0.invalidated, of: $0.served) }
                        ?? ExplorerFormat.missing,
                    reward: Self.settlementText(settled[n])))
        }
        return ParticipantPage(
            frame: PageFrame(title: "Participant", chainID: frame.chainID, height: frame.height, tab: "Participants"),
            row: Self.row(info, standing: standing, money: money, health: await healths[info.url]),
            registeredHeight: String(info.registeredHeight),
            consensusKey: info.consensusPubkey,
            missesReported: misses.map { String($0.reported) } ?? ExplorerFormat.missing,
            missesExpired: misses.map { String($0.expired) } ?? ExplorerFormat.missing,
            missesLastHeight: misses.map { String($0.lastHeight) } ?? ExplorerFormat.missing,
            llr: standing?.llr ?? ExplorerFormat.missing,
            llrThreshold: standing?.llrThreshold ?? ExplorerFormat.missing,
            checked: standing.map { String($0.checked) } ?? ExplorerFormat.missing,
            validationsDone: standing.map { String($0.validationsDone) } ?? ExplorerFormat.missing,
            history: history.reversed(),
            charts: [
                Self.chart(id: "weight-chart", caption: "weight", weights),
                Self.chart(id: "reward-chart", caption: "reward", rewards),
                Self.chart(id: "invalid-chart", caption: "invalid rate", invalidRates),
            ].compactMap { $0 })
    }

    /// One epoch's bar: its height from `value`, its tooltip `text`.
    struct ChartPoint {
        var epoch: UInt64
        var value: UInt64
        var text: String
    }

    /// Bars per epoch, scaled to the largest value; nil without any epoch.
    static func chart(id: String, caption: String, _ points: [ChartPoint]) -> HistoryChart? {
        guard !points.isEmpty else { return nil }
        let barWidth = 36
        let gap = 8
        let plot = 120
        let top = max(points.map(\.value).max() ?? 1, 1)
        var bars: [ChartBar] = []
        for (i, point) in points.enumerated() {
            let h = Int((UInt128(point.value) * UInt128(plot)) / UInt128(top))
            let x = gap + i * (barWidth + gap)
            bars.append(
                ChartBar(
                    x: String(x), y: String(10 + plot - h), width: String(barWidth), height: String(h),
                    labelX: String(x + barWidth / 2), labelY: String(plot + 24), label: String(point.epoch),
                    value: "\(caption) \(point.text)"))
        }
        return HistoryChart(
            id: id, caption: caption, width: String(gap + points.count * (barWidth + gap)), height: String(plot + 32),
            bars: bars)
    }

    // MARK: Inference

    func inference(_ text: String) async throws(ExplorerError) -> InferencePage {
        let id = text.lowercased()
        guard id.utf8.count == 64, id.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw .badRequest("Not an inference id", "An inference id is 64 hex digits.")
        }
        let frame = try await frame("Inference", tab: "")
        let found = try await ask("Inference \(id)") { () async throws(ChainClientError) in
            try await client.inference(id)
        }
        guard let record = found else {
            throw .notFound("Unknown inference", "No inference \(id) is recorded on this chain.")
        }
        let checks = try? await client.validations(of: id)
        let voting = checks?.voting
        let outcome: String =
            switch record.status {
            case "VALIDATED": "validated"
            case "INVALIDATED": "invalidated (refunded)"
            case "VOTING": "revalidation vote open"
            case "EXPIRED": "expired (refunded)"
            default: (checks?.validations.isEmpty ?? true) ? "not validated yet" : "checked"
            }
        return InferencePage(
            frame: frame, id: record.inferenceID, status: record.status, requester: record.requester,
            transferAgent: record.transferAgent, executor: record.executor, attempt: String(record.attempt),
            model: record.model, promptTokens: String(record.promptTokens),
            completionTokens: String(record.completionTokens), maxTokens: String(record.maxTokens),
            price: ExplorerFormat.amount(record.price), escrow: ExplorerFormat.amount(record.escrow),
            cost: ExplorerFormat.amount(record.cost), refund: ExplorerFormat.amount(record.refund),
            startHeight: String(record.startHeight), finishHeight: String(record.finishHeight),
            epoch: String(record.epoch),
            validations: (checks?.validations ?? []).map {
                ValidationRow(
                    validator: $0.validator, passed: $0.passed, reason: $0.reason, distancePpm: String($0.distancePpm),
                    samplerMisses: String($0.samplerMisses), height: String($0.height), vote: $0.vote)
            },
            voting: voting.map {
                VotingFacts(
                    firstValidator: $0.firstValidator, firstReason: $0.firstReason,
                    deadlineHeight: String($0.deadlineHeight), outcome: $0.outcome.isEmpty ? "open" : $0.outcome,
                    revalidators: $0.revalidators.map {
                        RevalidatorRow(address: $0.address, weight: ExplorerFormat.grouped($0.weight), vote: $0.vote)
                    })
            },
            outcome: outcome)
    }

    // MARK: Blocks and txs

    /// A height from the path or a query: digits only, at most 20 of them.
    static func height(_ text: String) throws(ExplorerError) -> UInt64 {
        guard !text.isEmpty, text.utf8.count <= 20, text.utf8.allSatisfy({ (48...57).contains($0) }),
            let value = UInt64(text)
        else { throw .badRequest("Not a height", "A block height is a whole number.") }
        return value
    }

    func blocks(before: String?) async throws(ExplorerError) -> BlocksPage {
        let status = try await ask("The node status") { () async throws(ChainClientError) in try await client.status() }
        var tip = status.height
        if let before {
            let limit = try Self.height(before)
            tip = min(tip, limit > 0 ? limit - 1 : 0)
        }
        let blocks = try await recentBlocks(tip: tip, count: Self.blocksPerPage)
        let oldest = blocks.last?.height ?? 0
        return BlocksPage(
            frame: PageFrame(
                title: "Blocks", chainID: status.chainID, height: ExplorerFormat.grouped(status.height), tab: "Blocks"),
            blocks: blocks.map(Self.row), olderLink: oldest > 1 ? "/explorer/blocks?before=\(oldest)" : nil)
    }

    func block(_ text: String) async throws(ExplorerError) -> BlockPage {
        let height = try Self.height(text)
        let status = try await ask("The node status") { () async throws(ChainClientError) in try await client.status() }
        guard height >= 1, height <= status.height else {
            throw .notFound("No such block", "Block \(height) is not on this chain (its tip is \(status.height)).")
        }
        let block = try await ask("Block \(height)") { () async throws(ChainClientError) in
            try await client.block(height)
        }
        return BlockPage(
            frame: PageFrame(
                title: "Block \(height)", chainID: status.chainID, height: ExplorerFormat.grouped(status.height),
                tab: "Blocks"),
            height: String(block.height), hash: block.hash, time: ExplorerFormat.time(ms: block.timeMs),
            proposer: block.proposer, appHash: block.appHash, lastBlockHash: block.lastBlockHash,
            round: String(block.commit.round), signers: block.commit.signers,
            txs: block.txs.map { TxRow(hash: $0.hash, shortHash: ExplorerFormat.short($0.hash)) },
            previous: height > 1 ? String(height - 1) : nil, next: height < status.height ? String(height + 1) : nil)
    }

    /// 64 hex digits, lowercased.
    static func hash(_ text: String) -> String? {
        let hex = text.lowercased()
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return nil }
        return hex
    }

    func tx(_ text: String) async throws(ExplorerError) -> TxPage {
        guard let hash = Self.hash(text) else {
            throw .badRequest("Not a transaction hash", "A transaction hash is 64 hex digits.")
        }
        let frame = try await frame("Transaction", tab: "Blocks")
        let result = try await ask("Transaction \(hash)") { () async throws(ChainClientError) in
            try await client.tx(hash)
        }
        return TxPage(
            frame: frame, hash: result.hash, height: String(result.height), index: String(result.index),
            code: String(result.code), ok: result.code == 0, log: result.log,
            events: result.events.map { event in
                TxEventRow(
                    type: event.type,
                    attributes: event.attributes.sorted { $0.key < $1.key }.map {
                        Attribute(key: $0.key, value: $0.value)
                    })
            })
    }

    // MARK: Proposals

    func proposals() async throws(ExplorerError) -> ProposalsPage {
        let frame = try await frame("Proposals", tab: "Proposals")
        let client = client
        let list = try await ask("The proposals") { () async throws(ChainClientError) in try await client.proposals() }
        // A running vote's tally is computed by the node on request (`/query/proposal/ID`); a
        // decided proposal carries its final one.
        let open = list.filter { $0.status == "voting_period" }.map(\.id)
        let live = await Self.gather(open) { id in try? await client.proposal(id) }
        let rows = list.sorted { $0.id > $1.id }.map { p in
            ProposalRow(
                id: String(p.id), title: p.title, kind: p.kind, status: p.status, open: p.status == "voting_period",
                deposit: ExplorerFormat.amount(p.totalDeposit),
                votingEndHeight: p.votingEndHeight > 0 ? String(p.votingEndHeight) : ExplorerFormat.missing,
                tally: Self.tally((live[p.id] ?? nil)?.tally ?? p.finalTally, of: p))
        }
        return ProposalsPage(frame: frame, proposals: rows)
    }

    /// A proposal's tally as shown; not counted while it waits for its deposit, or when it never
    /// came to a vote.
    static func tally(_ t: TallyInfo, of p: ProposalInfo) -> TallyFacts {
        let counted = p.status == "voting_period" || (p.votingStartHeight > 0 && t.totalPower > 0)
        let total = t.totalPower
        let cast = t.yes &+ t.no &+ t.abstain &+ t.noWithVeto
        func figure(_ n: UInt64) -> String { counted ? ExplorerFormat.grouped(n) : ExplorerFormat.missing }
        func share(_ n: UInt64) -> String { counted ? ExplorerFormat.percent(n, of: total) : ExplorerFormat.missing }
        return TallyFacts(
            counted: counted, epoch: counted ? String(t.epoch) : ExplorerFormat.missing, totalPower: figure(total),
            yes: figure(t.yes), yesShare: share(t.yes), no: figure(t.no), noShare: share(t.no),
            abstain: figure(t.abstain), abstainShare: share(t.abstain), veto: figure(t.noWithVeto),
            vetoShare: share(t.noWithVeto), turnout: share(cast))
    }

    /// A proposal id from the path: digits only, at most 20 of them.
    static func proposalID(_ text: String) throws(ExplorerError) -> UInt64 {
        guard !text.isEmpty, text.utf8.count <= 20, text.utf8.allSatisfy({ (48...57).contains($0) }),
            let value = UInt64(text)
        else { throw .badRequest("Not a proposal id", "A proposal is named by its number, e.g. /explorer/proposal/1.") }
        return value
    }

    func proposal(_ text: String) async throws(ExplorerError) -> ProposalPage {
        let id = try Self.proposalID(text)
        let frame = try await frame("Proposal \(id)", tab: "Proposals")
        let found = try await ask("Proposal \(id)") { () async throws(ChainClientError) in
            try await client.proposal(id)
        }
        guard let detail = found else {
            throw .notFound("Unknown proposal", "No proposal \(id) has been submitted on this chain.")
        }
        let p = detail.proposal
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let content = (try? encoder.encode(p.content)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let open = p.status == "voting_period" || p.status == "deposit_period"
        func height(_ h: UInt64) -> String { h > 0 ? String(h) : ExplorerFormat.missing }
        return ProposalPage(
            frame: frame, id: String(p.id), title: p.title, summary: p.summary, kind: p.kind, content: content,
            proposer: p.proposer, status: p.status, open: open, expedited: p.expedited,
            outcomeNow: detail.outcomeNow.isEmpty ? ExplorerFormat.missing : detail.outcomeNow,
            outcome: p.outcome.isEmpty ? ExplorerFormat.missing : p.outcome,
            depositFate: p.depositFate.isEmpty ? ExplorerFormat.missing : p.depositFate,
            submitHeight: height(p.submitHeight), depositEndHeight: height(p.depositEndHeight),
            votingStartHeight: height(p.votingStartHeight), votingEndHeight: height(p.votingEndHeight),
            blocksLeft: String(detail.blocksLeft), totalDeposit: ExplorerFormat.amount(p.totalDeposit),
            deposits: p.deposits.map {
                ProposalDepositRow(depositor: $0.depositor, amount: ExplorerFormat.amount($0.amount))
            },
            tally: Self.tally(detail.tally, of: p),
            votes: detail.votes.map {
                ProposalVoteRow(
                    voter: $0.voter, option: $0.option, power: ExplorerFormat.grouped($0.power),
                    height: String($0.height))
            })
    }

    // MARK: Search

    /// Where a search for `query` leads: a block height, a participant's address, an inference id
    /// (or, when no inference has it, a tx hash).
    func searchTarget(_ query: String) async throws(ExplorerError) -> String {
        let q = query.trimmingCharacters(in: .whitespaces)
        if !q.isEmpty, q.utf8.allSatisfy({ (48...57).contains($0) }) { return "/explorer/block/\(try Self.height(q))" }
        if let address = try? Address(q) { return "/explorer/participant/\(address)" }
        if let hash = Self.hash(q) {
            if (try? await client.inference(hash)) ?? nil != nil { return "/explorer/inference/\(hash)" }
            return "/explorer/tx/\(hash)"
        }
        throw .badRequest(
            "Nothing to search for", "Search for a block height, a gonka1… address, an inference id or a tx hash.")
    }
}
