import Foundation
import GonkaClient
import GonkaCore
import Ledger
import Synchronization

/// What the API node reads from its chain node, with short-lived caches so a request costs at
/// most a few local RPC round trips. Reads only; writes go through ``TxSender``.
public final class ChainView: Sendable {
    public let client: ChainClient
    public let chainID: String
    /// The price the API node's own pricing answer uses when the chain serves no `/query/models`
    /// (before the Inference module lands).
    let fallbackPrice: UInt64
    /// Internal (not private) so that a test can stage a view one pool behind the chain's.
    let cache = Mutex(Cache())
    private let ttl: Duration

    struct Cache {
        var executors: [String: (at: ContinuousClock.Instant, value: ExecutorSet)] = [:]
        var participants: (at: ContinuousClock.Instant, value: [Participant])?
        var models: (at: ContinuousClock.Instant, value: [ModelEntry]?)?
        var keys: [Address: PublicKey] = [:]
        /// Accounts with no key on chain, until the instant they are asked again.
        var keyless: [Address: ContinuousClock.Instant] = [:]
        /// The last block the API node knows of (from the node's event stream).
        var tip: Tip?
        /// Balances read at `tip`, with the escrow admitted against them since: both are dropped
        /// at the next block, so a balance costs one RPC per account per block.
        var balances: [Address: (height: UInt64, value: UInt64)] = [:]
        var admitted: [Address: UInt64] = [:]
        /// Requesters seen lately, with the tip height when last seen: ``refresh()`` re-reads their
        /// balances at each block, so their next request finds the balance cached.
        var recentRequesters: [Address: UInt64] = [:]
    }

    /// How many blocks a requester's balance is re-read after its last request, and for at most
    /// how many requesters (one local RPC each per block, off the request path).
    static let balancePrefetchBlocks: UInt64 = 10
    static let balancePrefetchLimit = 64

    /// A committed block as the event stream announced it.
    public struct Tip: Sendable, Hashable {
        public var height: UInt64
        /// The block's time (Unix ms): the reference of the request freshness window (§6.1).
        public var timeMs: Int64

        public init(height: UInt64, timeMs: Int64) {
            self.height = height
            self.timeMs = timeMs
        }
    }

    /// A participant as `/query/participants` lists it.
    public struct Participant: Sendable, Hashable, Codable {
        public var address: String
        public var url: String
    }

    /// A model the chain registers, with its current per-token price (ngonka).
    public struct ModelEntry: Sendable, Hashable {
        public var id: String
        public var price: UInt64
    }

    /// The draw's inputs for one model: the epoch seed and the candidates with their weights.
    public struct ExecutorSet: Sendable, Hashable {
        public var epochSeed: Hash
        public var candidates: [ExecutorDraw.Candidate]
        /// True when the chain has no `/query/executors` and the set was built from the participants.
        public var fromParticipants: Bool
        /// The epoch whose pool this is (nil when built from the participants).
        public var epoch: UInt64? = nil

        /// Whether `address` may act as Transfer Agent: the ledger accepts a `MsgStartInference`
        /// only from a member of the pool with weight (an active participant, §6.2, §6.4).
        public func admitsTransferAgent(_ address: Address) -> Bool {
            fromParticipants || candidates.contains { $0.address == address && $0.weight > 0 }
        }
    }

    public init(client: ChainClient, chainID: String, fallbackPrice: UInt64 = 1, ttl: Duration = .seconds(2)) {
        self.client = client
        self.chainID = chainID
        self.fallbackPrice = fallbackPrice
        self.ttl = ttl
    }

    func fresh(_ at: ContinuousClock.Instant) -> Bool { ContinuousClock.now - at < ttl }

    /// The key of `address`: on chain (cached, keys never change), or nil when it never sent a tx.
    public func publicKey(of address: Address) async throws(APIError) -> PublicKey? {
        let known = cache.withLock { ($0.keys[address], $0.keyless[address]) }
        if let key = known.0 { return key }
        if let at = known.1, fresh(at) { return nil }
        let account: AccountRecord
        do {
            account = try await client.account(address)
        } catch {
            throw .chainUnavailable("The chain node did not answer: \(error.shortDescription).")
        }
        guard let hex = account.pubKey, let bytes = Hex.decode(hex), let key = try? PublicKey(bytes: bytes) else {
            cache.withLock { cache in
                if cache.keyless.count > 100_000 { cache.keyless.removeAll() }
                cache.keyless[address] = .now
            }
            return nil
        }
        cache.withLock { $0.keys[address] = key }
        return key
    }

    /// The last block known, or nil before the first one arrived.
    public var tip: Tip? { cache.withLock { $0.tip } }

    /// Records a new committed block: the freshness reference moves and the per-block balance
    /// cache starts over. Older or repeated heights are ignored.
    public func observe(_ block: Tip) {
        cache.withLock { cache in
            if let tip = cache.tip, tip.height >= block.height { return }
            cache.tip = block
            cache.balances.removeAll(keepingCapacity: true)
            cache.admitted.removeAll(keepingCapacity: true)
        }
    }

    /// The reference time of the freshness window in Unix ns: the last block's time (PROTOCOL
    /// §6.1), or the wall clock while no block is known (`fromBlock` false).
    public func referenceTime() -> (nanoseconds: Int64, fromBlock: Bool) {
        if let tip = cache.withLock({ $0.tip }) { return (tip.timeMs * 1_000_000, true) }
        return (unixNanoseconds(), false)
    }

    /// The spendable balance of `address` for a new request: the balance at the last block minus
    /// the escrow this node admitted since (so a burst within one block cannot overspend). Read
    /// from the chain once per account per block; every call when no block is known.
    public func balance(of address: Address) async throws(APIError) -> UInt64 {
        let known = cache.withLock { cache -> (tip: UInt64?, value: UInt64?, admitted: UInt64) in
            let height = cache.tip?.height
            if let height {
                // Bounded: past 4× the prefetch limit the stale entries go, and if that is not
                // enough, all of them (the prefetch is only a shortcut).
                if cache.recentRequesters[address] == nil, cache.recentRequesters.count >= 4 * Self.balancePrefetchLimit
                {
                    cache.recentRequesters = cache.recentRequesters.filter {
                        $0.value + Self.balancePrefetchBlocks > height
                    }
                    if cache.recentRequesters.count >= 4 * Self.balancePrefetchLimit {
                        cache.recentRequesters.removeAll()
                    }
                }
                cache.recentRequesters[address] = height
            }
            let hit = cache.balances[address].flatMap { $0.height == height ? $0.value : nil }
            return (height, hit, cache.admitted[address] ?? 0)
        }
        if let value = known.value { return value > known.admitted ? value - known.admitted : 0 }
        let value: UInt64
        do {
            value = try await client.balance(address).ngonka
        } catch {
            throw .chainUnavailable("The chain node did not answer: \(error.shortDescription).")
        }
        guard let height = known.tip else { return value }
        return cache.withLock { cache in
            // A block may have arrived meanwhile: the value is then for the older one, not kept.
            guard cache.tip?.height == height else { return value }
            if cache.balances.count > 100_000 { cache.balances.removeAll() }
            cache.balances[address] = (height, value)
            let admitted = cache.admitted[address] ?? 0
            return value > admitted ? value - admitted : 0
        }
    }

    /// The height the cached balance of `address` was read at, if one is cached.
    func cachedBalanceHeight(of address: Address) -> UInt64? { cache.withLock { $0.balances[address]?.height } }

    /// Counts `escrow` against `address`'s cached balance until the next block.
    public func reserve(_ escrow: UInt64, for address: Address) {
        cache.withLock { cache in
            guard cache.tip != nil else { return }
            let (sum, overflow) = (cache.admitted[address] ?? 0).addingReportingOverflow(escrow)
            cache.admitted[address] = overflow ? .max : sum
        }
    }

    public func participants(refresh: Bool = false) async throws(APIError) -> [Participant] {
        if !refresh, let hit = cache.withLock({ $0.participants }), fresh(hit.at) { return hit.value }
        let list: [Participant]
        do {
            list = try await client.participants().map { Participant(address: $0.address, url: $0.url) }
        } catch {
            throw .chainUnavailable("Cannot read the participants: \(error).")
        }
        cache.withLock { $0.participants = (ContinuousClock.now, list) }
        return list
    }

    /// The models the chain registers, or nil when the chain has no model registry yet.
    public func models(refresh: Bool = false) async throws(APIError) -> [ModelEntry]? {
        if !refresh, let hit = cache.withLock({ $0.models }), fresh(hit.at) { return hit.value }
        let records = try await servedOrNil("/query/models") { () async throws(ChainClientError) in
            try await client.models()
        }
        let models = records.map { $0.map { ModelEntry(id: $0.id, price: $0.pricePerToken.ngonka) } }
        cache.withLock { $0.models = (ContinuousClock.now, models) }
        return models
    }

    /// The draw's inputs for `model`: `/query/executors?model=ID`, or every participant with
    /// weight 1 and a zero epoch seed when the chain has no such query yet.
    public func executors(model: String, refresh: Bool = false) async throws(APIError) -> ExecutorSet {
        if !refresh, let hit = cache.withLock({ $0.executors[model] }), fresh(hit.at) { return hit.value }
        let set: ExecutorSet
        let served = try await servedOrNil("/query/executors") { () async throws(ChainClientError) in
            try await client.executors(model: model)
        }
        if let served {
            let candidates = served.candidates.map { ExecutorDraw.Candidate(address: $0.address, weight: $0.weight) }
            set = ExecutorSet(
                epochSeed: served.epochSeedHash ?? .zero, candidates: candidates, fromParticipants: false,
                epoch: served.epoch)
        } else if try await models() != nil {
            // The chain has the inference module, and no executor set for this model.
            throw .modelNotFound(model)
        } else {
            let candidates = try await participants().compactMap { p in
                (try? Address(p.address)).map { ExecutorDraw.Candidate(address: $0, weight: 1) }
            }
            set = ExecutorSet(epochSeed: .zero, candidates: candidates, fromParticipants: true)
        }
        cache.withLock { $0.executors[model] = (ContinuousClock.now, set) }
        return set
    }

    /// Re-reads what the request path reads from the chain (models and prices, participants, the
    /// executor sets asked for so far), so requests find them cached: ``ChainFollower`` calls it
    /// at every new block. Failures leave the old entries to their TTL.
    public func refresh() async {
        _ = try? await models(refresh: true)
        _ = try? await participants(refresh: true)
        for model in cache.withLock({ Array($0.executors.keys) }) {
            _ = try? await executors(model: model, refresh: true)
        }
        await prefetchBalances()
    }

    /// Reads, at the current tip, the balances of the requesters seen in the last
    /// ``balancePrefetchBlocks`` blocks (the most recent ``balancePrefetchLimit``), so a request
    /// after a new block finds its requester's balance cached instead of waiting for the RPC
    /// (measured: ~0.7 ms of the TA's path when the bench's requests come about once a block).
    /// The cached value is the one the request would have read; a request's escrow is still
    /// counted against it with ``reserve(_:for:)``.
    func prefetchBalances() async {
        let due = cache.withLock { cache -> [Address] in
            guard let height = cache.tip?.height else { return [] }
            cache.recentRequesters = cache.recentRequesters.filter { $0.value + Self.balancePrefetchBlocks > height }
            return cache.recentRequesters.sorted { $0.value > $1.value }.prefix(Self.balancePrefetchLimit)
                .map(\.key).filter { cache.balances[$0]?.height != height }
        }
        for address in due {
            let value: UInt64
            do {
                value = try await client.balance(address).ngonka
            } catch {
                return
            }
            cache.withLock { cache in
                // Kept only if no block came meanwhile and no request read it first.
                guard let height = cache.tip?.height, cache.balances[address]?.height != height else { return }
                cache.balances[address] = (height, value)
            }
        }
    }

    /// The API URL a participant registered.
    public func url(of address: Address) async throws(APIError) -> String? {
        try await participants().first { $0.address == address.description }?.url
    }

    /// A typed read of the chain, nil when the node answers 404 (a route it does not have yet, or
    /// nothing under that name); other failures are `chainUnavailable`.
    func servedOrNil<T>(
        _ path: String, _ read: () async throws(ChainClientError) -> T
    ) async throws(APIError) -> T? {
        do {
            return try await read()
        } catch let error where error.httpStatus == 404 {
            return nil
        } catch {
            throw .chainUnavailable("The chain node did not answer \(path): \(error.shortDescription).")
        }
    }

    /// A non-negative integer from a number or a decimal string (with or without `ngonka`).
    static func uint(_ value: JSONValue?) -> UInt64? {
        switch value {
        case .string(let s)?:
            let digits = s.hasSuffix("ngonka") ? String(s.dropLast(6)) : s
            return UInt64(digits)
        case let number?: return number.uint64Value
        case nil: return nil
        }
    }
}
