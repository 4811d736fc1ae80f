import ChainRPCTypes
import Foundation
import GonkaClient
import Logging
import ServiceLifecycle

/// Which payload files an executor keeps (PROTOCOL §3.3 "Outside the ledger"). Validators read a
/// payload while its inference can still be validated or voted on, and the ledger keeps the
/// inference's record exactly until the last rule that reads it has closed (§3.3 pruning by rule).
/// So a payload goes with its record: once this node has seen the record on chain, the payload is
/// deleted when the chain no longer has it. `[api] payload_retention_s` (a wall-clock age) is the
/// cap for the rest: a payload whose Finish never landed, or whose record was pruned while the
/// node was down (nothing remembers having seen it).
///
/// Pure: the pruner asks the chain what this says to ask and applies what it decides.
struct PayloadRetention: Sendable {
    enum Action: Sendable, Equatable {
        case keep
        case delete
        /// Look the record up on chain, then call ``answered(_:recordEpoch:)``.
        case ask
    }

    /// The wall-clock cap, in seconds.
    let capSeconds: Int64
    /// Ids whose record this node has seen on chain, with the record's epoch.
    private(set) var recorded: [String: UInt64] = [:]

    /// A record of epoch e is pruned when e's claim window closes, in epoch e + 2 +
    /// `claim_window_epochs` at the earliest (§3.3). Asking again before epoch e + 2 cannot find it
    /// gone; the bound only saves queries, the record's absence is what decides.
    static let epochsBeforeAskingAgain: UInt64 = 2

    init(capSeconds: Int64) { self.capSeconds = capSeconds }

    /// What to do with the payload of `id`, `ageSeconds` old, when the chain is in `epoch` (nil:
    /// unknown, then only the cap and first looks apply).
    func action(_ id: String, ageSeconds: Int64, epoch: UInt64?) -> Action {
        if ageSeconds > capSeconds { return .delete }
        guard let recordEpoch = recorded[id] else { return .ask }
        guard let epoch, epoch >= recordEpoch &+ Self.epochsBeforeAskingAgain else { return .keep }
        return .ask
    }

    /// The chain's answer for `id`: the record's epoch, or nil when it has none. A record seen
    /// before and now gone was pruned by rule: its payload goes. One never seen is not on chain
    /// yet (its Finish is on its way): kept.
    mutating func answered(_ id: String, recordEpoch: UInt64?) -> Action {
        if let recordEpoch {
            recorded[id] = recordEpoch
            return .keep
        }
        return recorded.removeValue(forKey: id) == nil ? .keep : .delete
    }

    /// Forgets ids whose files are gone (deleted here, or by hand).
    mutating func keepOnly(_ ids: Set<String>) {
        recorded = recorded.filter { ids.contains($0.key) }
    }
}

/// Applies ``PayloadRetention`` every `interval`: lists the payload files, asks the chain about
/// the ones the policy names (at most `maxQueries` a round, so a restart with many files spreads
/// its queries), deletes what it decides. A query that fails keeps the file.
struct PayloadPruner: Service {
    let store: PayloadStore
    let client: ChainClient
    let interval: Duration
    let logger: Logger
    var maxQueries = 2_000

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var retention = PayloadRetention(capSeconds: store.retention.components.seconds)
            while !Task.isCancelled {
                await prune(&retention)
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// One round; returns how many payloads it deleted.
    @discardableResult
    func prune(_ retention: inout PayloadRetention, now: Date = Date()) async -> Int {
        let files = store.files()
        let epoch = try? await client.epoch().epoch
        var queries = 0
        var deleted = 0
        var byRule = 0
        for file in files {
            let age = Int64(now.timeIntervalSince(file.modified))
            var action = retention.action(file.id, ageSeconds: age, epoch: epoch)
            if action == .ask {
                guard queries < maxQueries, !Task.isCancelled else { continue }
                queries += 1
                let record: InferenceRecordInfo?
                do {
                    record = try await client.inference(file.id)
                } catch {
                    continue  // only an answer says "absent"; a failed query keeps the file
                }
                action = retention.answered(file.id, recordEpoch: record?.epoch)
                if action == .delete { byRule += 1 }
            }
            if action == .delete, store.delete(file.id) { deleted += 1 }
        }
        retention.keepOnly(Set(files.map(\.id)))
        if deleted > 0 {
            logger.debug(
                "pruned payloads",
                metadata: [
                    "deleted": "\(deleted)", "with_their_record": "\(byRule)", "kept": "\(files.count - deleted)",
                ])
        }
        return deleted
    }
}
