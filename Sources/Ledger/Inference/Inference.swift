import Foundation
import GonkaCore
import GonkaWire

/// Module Inference: the on-chain record of an inference (PROTOCOL §6.4): `MsgStartInference` and
/// `MsgFinishInference` in either order, escrow into the `inference` module account, cost and
/// refund, expiry with a full refund and a miss, the model registry and the per-model price (§6.5,
/// in `Inference+Price.swift`).
///
/// Amounts: `escrow = (prompt_tokens + max_tokens) × price`, `cost = (prompt_tokens +
/// completion_tokens) × price`, both from ``InferencePricing`` (GonkaCore, shared with the Transfer
/// Agent), where `price` is the model's price per token fixed by whichever of Start and Finish the
/// chain saw first. The prompt count
/// charged is the TA's (the one escrowed); the executor's count is kept for the record.
/// The cost stays in the module account until the epoch is settled (module Rewards, §8.3), and is
/// counted in the executor's epoch work counters.
enum Inference {
    static let moduleAddress = Bank.ModuleAccount.inference.address

    // MARK: Genesis

    /// Writes the model registry, the starting prices and the executor set of epoch 0.
    static func initGenesis(_ genesis: Genesis, state: StateContext) throws(LedgerError) {
        for model in genesis.models {
            var info = Wire.ModelInfo()
            info.id = model.id
            info.tokensPerSecondPerWeight = model.tokensPerSecondPerWeight
            info.weightsHash = model.weightsHash
            info.quantization = model.quantization
            info.contextLength = model.contextLength
            info.validationThresholdPpm = model.validationThresholdPpm
            info.sampler = model.sampler
            try registerModel(info, startPrice: genesis.params.startPrice, in: state)
        }
        let candidates = genesis.validators.map { ExecutorDraw.Candidate(address: $0.address, weight: $0.power) }
        try setExecutorSet(
            epoch: 0, epochSeed: genesisEpochSeed(chainID: genesis.chainID, genesisTime: genesis.genesisTime),
            candidates: candidates, in: state)
        try Validation.beginEpoch(0, ended: nil, candidates: candidates, params: genesis.params, state: state)
    }

    /// Adds a model to the registry at `startPrice` (genesis, or a passed `RegisterModel`, §10):
    /// Starts may name it from the next transaction on.
    static func registerModel(_ info: Wire.ModelInfo, startPrice: UInt64, in state: StateContext) throws(LedgerError) {
        try state.setRecord(info, at: StateKey.model(info.id))
        state.delete(StateKey.retiredModel(info.id))
        var price = Wire.ModelPrice()
        price.model = info.id
        price.priceMicro = startPrice * microPerNgonka
        try state.setRecord(price, at: StateKey.modelPrice(info.id))
    }

    /// Removes a model and its price (a passed `RetireModel`, §10): new Starts naming it are
    /// refused as `unknown_model`; inferences already started finish at the price they escrowed
    /// and are still validated under the entry's threshold and sampler kind, kept aside for them
    /// (``validationModelInfo(_:in:)``) until the id is registered again.
    static func retireModel(_ id: String, in state: StateContext) throws(LedgerError) {
        if let info = try modelInfo(id, in: state) {
            try state.setRecord(info, at: StateKey.retiredModel(id))
        }
        state.delete(StateKey.model(id))
        state.delete(StateKey.modelPrice(id))
    }

    /// Takes an executor out of the current pool at once (INVALID §7.4, jail §9): later draws skip
    /// it; the pool it leaves is kept for Starts drawn from it (§6.4).
    static func removeFromExecutorSet(
        _ executor: Address, context: BlockContext, in state: StateContext
    ) throws(LedgerError) {
        var set = try executorSet(in: state)
        try keepReplaced(set, context: context, in: state)
        let text = executor.description
        set.candidates.removeAll { $0.address == text }
        try state.setRecord(set, at: StateKey.executorSet)
    }

    /// Replaces the executor pool when an epoch's weights take effect (called by Epochs one block
    /// after the switch, when the switch block's hash, the epoch seed, is known) and at genesis.
    /// Candidates are kept in address-byte order; zero weights are dropped.
    /// `context`: the block that replaces the pool (nil at genesis, which replaces none).
    static func setExecutorSet(
        epoch: UInt64, epochSeed: Hash, candidates: [ExecutorDraw.Candidate], context: BlockContext? = nil,
        in state: StateContext
    ) throws(LedgerError) {
        if let context { try keepReplaced(try executorSet(in: state), context: context, in: state) }
        var set = Wire.ExecutorSet()
        set.epoch = epoch
        set.epochSeed = Data(epochSeed.bytes)
        set.candidates = candidates.filter { $0.weight > 0 }
            .sorted { $0.address.bytes.lexicographicallyPrecedes($1.address.bytes) }
            .map { candidate in
                var weight = Wire.ExecutorWeight()
                weight.address = candidate.address.description
                weight.weight = candidate.weight
                return weight
            }
        try state.setRecord(set, at: StateKey.executorSet)
    }

    /// The epoch seed of epoch 0: SHA-256(`"{chain_id}/{genesis_time}"`). Every node derives it
    /// from the genesis file alone; from epoch 1 the Epochs module supplies the block hash at the
    /// switch height (§6.2).
    static func genesisEpochSeed(chainID: String, genesisTime: String) -> Hash {
        Hash.sha256("\(chainID)/\(genesisTime)")
    }

    // MARK: Executor pool

    /// The epoch seed and the weighted candidates the executor draw of `model` uses (§6.2 step 3).
    ///
    /// Epoch 0 uses the genesis validators' powers and ``genesisEpochSeed(chainID:genesisTime:)``,
    /// recorded at `initChain`; each later epoch's weights and seed arrive through
    /// ``setExecutorSet(epoch:epochSeed:candidates:in:)`` from the Epochs module. Every participant
    /// with weight serves every registered model (the ML-node registry that says which participant
    /// serves which model is the API node's).
    static func executorCandidates(
        model: String, in state: StateContext
    ) throws(LedgerError) -> (epochSeed: Hash, candidates: [ExecutorDraw.Candidate]) {
        guard try modelInfo(model, in: state) != nil else { throw .unknownModel(model) }
        let set = try executorSet(in: state)
        return (try epochSeed(of: set), try candidates(of: set))
    }

    // MARK: The pool a change replaced (§6.4 [improved])

    /// Keeps `set`, the pool a change in block `context` is about to replace, with that block's
    /// height and time. When one block changes the pool twice (two jails), the pool it began with
    /// is the one kept: that is the pool TAs drew from.
    static func keepReplaced(_ set: Wire.ExecutorSet, context: BlockContext, in state: StateContext) throws(LedgerError)
    {
        if let stamp = try replacedStamp(in: state), stamp.height == context.height { return }
        try state.setRecord(set, at: StateKey.replacedExecutorSet)
        let time = UInt64(bitPattern: try blockTime(context, in: state))
        state.set(StateKey.replacedExecutorSetAt, BigEndian.encode(context.height) + BigEndian.encode(time))
    }

    /// The height and block time (Unix ns) of the last change of the pool, nil before the first.
    static func replacedStamp(in state: StateContext) throws(LedgerError) -> (height: UInt64, time: Int64)? {
        guard let raw = try state.get(StateKey.replacedExecutorSetAt) else { return nil }
        guard raw.count == 16 else { throw .storage(StateCorruption(what: "replaced executor set stamp")) }
        let height = try BigEndian.decode(Array(raw[0..<8]), what: "replaced executor set height")
        let time = try BigEndian.decode(Array(raw[8..<16]), what: "replaced executor set time")
        return (height, Int64(bitPattern: time))
    }

    /// The pool a Start may have been drawn from besides the current one (§6.4 [improved]): the
    /// pool the last change replaced, for `request_max_age_seconds` of block time after the change
    /// (the longest a request signed before it can take to land). An epoch switch, a jail or an
    /// INVALID verdict changes the pool between a TA's draw and its Start's block, and a TA's view
    /// of the pool may be a block or its cache behind; without this an honest TA's Start is refused
    /// `wrong_executor`, the answer it relayed is never charged and its executor never paid.
    /// A dishonest TA gains, for that minute after a change, a choice between two draws.
    static func replacedPool(
        now: Int64, params: ChainParams, in state: StateContext
    ) throws(LedgerError) -> (epochSeed: Hash, candidates: [ExecutorDraw.Candidate])? {
        guard let stamp = try replacedStamp(in: state),
            RequestWindow(params).place(stamp.time, reference: now) == .inside,
            let set = try state.record(
                Wire.ExecutorSet.self, at: StateKey.replacedExecutorSet, what: "replaced executor set")
        else { return nil }
        return (try epochSeed(of: set), try candidates(of: set))
    }

    static func executorSet(in state: StateContext) throws(LedgerError) -> Wire.ExecutorSet {
        try state.record(Wire.ExecutorSet.self, at: StateKey.executorSet, what: "executor set") ?? Wire.ExecutorSet()
    }

    static func epochSeed(of set: Wire.ExecutorSet) throws(LedgerError) -> Hash {
        guard let seed = Hash(bytes: set.epochSeed) else { throw .storage(StateCorruption(what: "epoch seed")) }
        return seed
    }

    static func candidates(of set: Wire.ExecutorSet) throws(LedgerError) -> [ExecutorDraw.Candidate] {
        var out: [ExecutorDraw.Candidate] = []
        for entry in set.candidates {
            guard let address = try? Address(entry.address) else {
                throw .storage(StateCorruption(what: "executor set address"))
            }
            out.append(ExecutorDraw.Candidate(address: address, weight: entry.weight))
        }
        return out
    }

    /// Whether `address` is an active participant: in the executor set with a positive weight.
    static func isActiveParticipant(_ address: Address, in state: StateContext) throws(LedgerError) -> Bool {
        let text = address.description
        return try executorSet(in: state).candidates.contains { $0.address == text && $0.weight > 0 }
    }

    /// The epoch inference earnings count toward.
    static func currentEpoch(in state: StateContext) throws(LedgerError) -> UInt64 {
        try executorSet(in: state).epoch
    }

    static func draw(
        inferenceID: String, attempt: UInt32, transferAgent: Address, epochSeed: Hash,
        candidates: [ExecutorDraw.Candidate]
    ) throws(LedgerError) -> Address {
        let drawn: Address?
        do {
            drawn = try ExecutorDraw.executor(
                inferenceID: inferenceID, epochSeed: epochSeed, attempt: attempt, transferAgent: transferAgent,
                candidates: candidates)
        } catch {
            throw .overflow("executor draw weights")
        }
        guard let drawn else { throw .invalidField("executor", "no participant with weight serves the model") }
        return drawn
    }

    // MARK: Records

    static func modelInfo(_ id: String, in state: StateContext) throws(LedgerError) -> Wire.ModelInfo? {
        try state.record(Wire.ModelInfo.self, at: StateKey.model(id), what: "model \(id)")
    }

    /// The registry entry a validation verdict on an inference of `id` is held to (§7.2): the
    /// registered one, else the one kept when the model was retired.
    static func validationModelInfo(_ id: String, in state: StateContext) throws(LedgerError) -> Wire.ModelInfo? {
        if let info = try modelInfo(id, in: state) { return info }
        return try state.record(Wire.ModelInfo.self, at: StateKey.retiredModel(id), what: "retired model \(id)")
    }

    static func models(in state: StateContext) throws(LedgerError) -> [Wire.ModelInfo] {
        try state.records(Wire.ModelInfo.self, withPrefix: StateKey.modelPrefix, what: "model record")
    }

    static func record(_ id: String, in state: StateContext) throws(LedgerError) -> Wire.InferenceRecord? {
        try state.record(Wire.InferenceRecord.self, at: StateKey.inferenceRecord(id), what: "inference \(id)")
    }

    static func misses(_ address: Address, in state: StateContext) throws(LedgerError) -> Wire.MissRecord? {
        try state.record(Wire.MissRecord.self, at: StateKey.misses(address), what: "misses of \(address)")
    }

    /// The executor's earned costs in `epoch` before settlement (its work counters; zero once the
    /// epoch is settled: see its ``Wire/Settlement``).
    static func earnings(epoch: UInt64, address: Address, in state: StateContext) throws(LedgerError) -> Amount {
        Amount(ngonka: try RewardsStore.work(epoch, address, in: state).earned)
    }

    /// The block time a request's timestamp is checked against: the block's own, or in the
    /// mempool (which has no block time) the last committed block's.
    static func blockTime(_ context: BlockContext, in state: StateContext) throws(LedgerError) -> Int64 {
        if context.time != 0 { return context.time }
        guard let raw = try state.get(StateKey.lastBlockTime) else { return 0 }
        return Int64(bitPattern: try BigEndian.decode(raw, what: "last block time"))
    }

    static func validateID(_ id: String) throws(LedgerError) {
        guard id.utf8.count == 64, id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else { throw .invalidField("inference_id", "must be 64 lowercase hex characters") }
    }

    // MARK: MsgStartInference

    /// `MsgStartInference` (PROTOCOL §6.2, §6.4), authority = the Transfer Agent. Checks both
    /// signatures, the timestamp window, the model, the attempt and the executor draw; records a
    /// reported miss for every executor skipped by earlier attempts; moves the escrow into the
    /// module account. If the Finish came first, settles at once.
    static func handle(
        _ msg: Wire.MsgStartInference, context: BlockContext, params: ChainParams, state: StateContext,
        signatures: SignatureCache? = nil
    ) throws(LedgerError) -> [LedgerEvent] {
        let transferAgent = try parseAddress(msg.transferAgent, field: "transfer_agent")
        let requester = try parseAddress(msg.requester, field: "requester")
        let executor = try parseAddress(msg.executor, field: "executor")
        guard try isActiveParticipant(transferAgent, in: state) else { throw .notParticipant(transferAgent) }
        try validateID(msg.inferenceID)
        guard msg.inferenceID == InferenceRequestSigning.inferenceID(developerSignature: msg.developerSignature) else {
            throw .invalidField("inference_id", "is not hex(SHA-256(developer_signature))")
        }
        guard let promptHash = Hash(bytes: msg.promptHash) else {
            throw .invalidField("prompt_hash", "must be 32 bytes")
        }
        guard try modelInfo(msg.model, in: state) != nil else { throw .unknownModel(msg.model) }
        guard UInt64(msg.attempt) < params.maxAttempts else {
            throw .invalidField("attempt", "\(msg.attempt) is not below max_attempts \(params.maxAttempts)")
        }
        guard msg.maxTokens > 0 else { throw .invalidField("max_tokens", "must be positive") }
        let now = try blockTime(context, in: state)
        guard RequestWindow(params).place(msg.timestamp, reference: now) == .inside else {
            throw .timestampOutOfWindow(timestamp: msg.timestamp, blockTime: now)
        }
        // The developer's key: the one sent along (must hash to the requester) or the one on chain.
        // A key sent along is recorded in the requester's account once it has proved itself, so
        // the next request skips the curve-point check (the sequence is untouched).
        var requesterAccount = try Accounts.account(requester, in: state)
        let developerKey: PublicKey
        if !msg.requesterPubkey.isEmpty, msg.requesterPubkey != requesterAccount.pubkey {
            do {
                developerKey = try PublicKey(bytes: Array(msg.requesterPubkey))
            } catch {
                throw .badDeveloperSignature("requester_pubkey: \(error)")
            }
            guard developerKey.address == requester else {
                throw .badDeveloperSignature("requester_pubkey belongs to \(developerKey.address), not \(requester)")
            }
        } else {
            guard !requesterAccount.pubkey.isEmpty,
                let key = try? PublicKey(previouslyValidated: requesterAccount.pubkey)
            else {
                throw .badDeveloperSignature("requester has no public key on chain and requester_pubkey is empty")
            }
            developerKey = key
        }
        let developerBytes = InferenceRequestSigning.developerSignBytes(
            chainID: context.chainID, bodyHash: promptHash, timestamp: msg.timestamp, transferAgent: transferAgent)
        guard verify(msg.developerSignature, by: developerKey, over: developerBytes, cache: signatures) else {
            throw .badDeveloperSignature("does not verify over the request")
        }
        let taAccount = try Accounts.account(transferAgent, in: state)
        guard !taAccount.pubkey.isEmpty, let taKey = try? PublicKey(previouslyValidated: taAccount.pubkey) else {
            throw .badTransferAgentSignature("the transfer agent has no public key on chain")
        }
        let taBytes = InferenceRequestSigning.transferAgentSignBytes(
            chainID: context.chainID, bodyHash: promptHash, timestamp: msg.timestamp, transferAgent: transferAgent,
            executor: executor, attempt: msg.attempt)
        guard verify(msg.taSignature, by: taKey, over: taBytes, cache: signatures) else {
            throw .badTransferAgentSignature("does not verify over the forwarded request")
        }
        // The draw, re-derived: only the executor of this attempt is accepted, drawn from the
        // current pool or, within a minute of its last change, from the one it replaced.
        var (seed, pool) = try executorCandidates(model: msg.model, in: state)
        let expected = try draw(
            inferenceID: msg.inferenceID, attempt: msg.attempt, transferAgent: transferAgent, epochSeed: seed,
            candidates: pool)
        if expected != executor {
            guard
                let replaced = try replacedPool(now: now, params: params, in: state),
                try draw(
                    inferenceID: msg.inferenceID, attempt: msg.attempt, transferAgent: transferAgent,
                    epochSeed: replaced.epochSeed, candidates: replaced.candidates) == executor
            else {
                throw .wrongExecutor(expected: expected.description, got: executor.description, attempt: msg.attempt)
            }
            (seed, pool) = replaced
        }
        // A record already there is either the Finish that came first, or a duplicate.
        let existing = try record(msg.inferenceID, in: state)
        if let existing, existing.status != .awaitingStart {
            if existing.status == .expired { throw .inferenceExpired(msg.inferenceID) }
            throw .duplicateInference(msg.inferenceID)
        }
        var events: [LedgerEvent] = []
        for skipped in 0..<msg.attempt {
            let missed = try draw(
                inferenceID: msg.inferenceID, attempt: skipped, transferAgent: transferAgent, epochSeed: seed,
                candidates: pool)
            try addMiss(missed, reported: true, height: context.height, in: state)
            try Validation.inferenceMissed(missed, epoch: try currentEpoch(in: state), state: state)
            events.append(.executorMissed(executor: missed, inferenceID: msg.inferenceID, reason: "skipped"))
        }
        // The first of Start and Finish fixes the price. A Finish from anyone but the drawn
        // executor, or for another model or requester, is not this inference's: the Start wins
        // and the stray Finish is dropped.
        let finishFirst = existing.flatMap {
            $0.executor == executor.description && $0.model == msg.model && $0.requester == requester.description
                ? $0 : nil
        }
        let price: UInt64
        if let finishFirst {
            price = finishFirst.price
        } else {
            price = try currentPrice(msg.model, params: params, in: state)
        }
        guard
            let escrow = InferencePricing.escrow(promptTokens: msg.promptTokens, maxTokens: msg.maxTokens, price: price)
        else { throw .overflow("escrow") }
        try Bank.transfer(from: requester, to: moduleAddress, amount: escrow, in: state)
        try Rewards.escrowOpened(escrow.ngonka, in: state)
        if requesterAccount.pubkey.isEmpty {
            requesterAccount.pubkey = Data(developerKey.bytes)
            try Accounts.save(requesterAccount, address: requester, in: state)
        }
        if let existing { state.delete(StateKey.inferenceExpiry(height: existing.expiryHeight, id: msg.inferenceID)) }

        var rec = Wire.InferenceRecord()
        rec.inferenceID = msg.inferenceID
        rec.status = .started
        rec.requester = requester.description
        rec.transferAgent = transferAgent.description
        rec.executor = executor.description
        rec.attempt = msg.attempt
        rec.model = msg.model
        rec.promptHash = msg.promptHash
        rec.promptTokens = msg.promptTokens
        rec.maxTokens = msg.maxTokens
        rec.price = price
        rec.escrow = escrow.ngonka
        rec.timestamp = msg.timestamp
        rec.startHeight = context.height
        rec.epoch = try currentEpoch(in: state)
        // Indexed under the epoch its claim window prunes it with (PROTOCOL §3.3); a Finish that
        // came first was indexed under its own epoch, which may have ended since.
        if let existing, existing.epoch != rec.epoch {
            state.delete(StateKey.inferenceByEpoch(existing.epoch, msg.inferenceID))
        }
        Pruning.index(msg.inferenceID, epoch: rec.epoch, in: state)
        events.append(
            .inferenceStarted(
                inferenceID: msg.inferenceID, requester: requester, executor: executor, model: msg.model, escrow: escrow
            ))
        if let finishFirst {
            rec.completionTokens = finishFirst.completionTokens
            rec.executorPromptTokens = finishFirst.executorPromptTokens
            rec.responseCommitment = finishFirst.responseCommitment
            rec.finishHeight = finishFirst.finishHeight
            events += try settle(&rec, context: context, state: state)
        } else {
            rec.expiryHeight = context.height + params.inferenceExpiryBlocks
            state.set(StateKey.inferenceExpiry(height: rec.expiryHeight, id: msg.inferenceID), [])
        }
        try state.setRecord(rec, at: StateKey.inferenceRecord(msg.inferenceID))
        return events
    }

    /// Verifies `signature`, consulting and filling the ledger's cache of verified signatures (a
    /// Start is checked in the mempool and again in its block).
    static func verify(
        _ signature: Data, by key: PublicKey, over message: [UInt8], cache: SignatureCache?
    ) -> Bool {
        guard let cache else { return key.isValidSignature(signature, for: message) }
        let entry = SignatureCache.key(publicKey: key.bytes, signature: signature, message: message)
        if cache.contains(entry) { return true }
        guard cache.verifier.isValidSignature(signature, for: message, by: key) else { return false }
        cache.insert(entry)
        return true
    }

    // MARK: MsgFinishInference

    /// `MsgFinishInference` (PROTOCOL §6.3, §6.4), authority = the executor. After its Start:
    /// only the recorded executor, only before expiry, `completion_tokens ≤ max_tokens` (more is
    /// rejected: the executor must stop at the limit the requester paid for). Before its Start:
    /// recorded as AWAITING_START at the current price, settled when the Start arrives (there a
    /// completion count above `max_tokens` is clamped to it, since the Start cannot be refused for
    /// the executor's error).
    static func handle(
        _ msg: Wire.MsgFinishInference, context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        let executor = try parseAddress(msg.executor, field: "executor")
        try validateID(msg.inferenceID)
        guard msg.responseCommitment.count == 32 else {
            throw .invalidField("response_commitment", "must be 32 bytes")
        }
        guard var rec = try record(msg.inferenceID, in: state) else {
            return try finishFirst(msg, executor: executor, context: context, params: params, state: state)
        }
        switch rec.status {
        case .started: break
        case .expired: throw .inferenceExpired(msg.inferenceID)
        default: throw .alreadyFinished(msg.inferenceID)
        }
        guard rec.executor == executor.description else {
            throw .executorMismatch(expected: rec.executor, got: executor.description)
        }
        guard msg.completionTokens <= rec.maxTokens else {
            throw .invalidField(
                "completion_tokens", "\(msg.completionTokens) is more than the request's max_tokens \(rec.maxTokens)")
        }
        state.delete(StateKey.inferenceExpiry(height: rec.expiryHeight, id: msg.inferenceID))
        rec.completionTokens = msg.completionTokens
        rec.executorPromptTokens = msg.promptTokens
        rec.responseCommitment = msg.responseCommitment
        rec.finishHeight = context.height
        let events = try settle(&rec, context: context, state: state)
        try state.setRecord(rec, at: StateKey.inferenceRecord(msg.inferenceID))
        return events
    }

    private static func finishFirst(
        _ msg: Wire.MsgFinishInference, executor: Address, context: BlockContext, params: ChainParams,
        state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        guard try isActiveParticipant(executor, in: state) else { throw .notParticipant(executor) }
        let requester = try parseAddress(msg.requester, field: "requester")
        guard try modelInfo(msg.model, in: state) != nil else { throw .unknownModel(msg.model) }
        var rec = Wire.InferenceRecord()
        rec.inferenceID = msg.inferenceID
        rec.status = .awaitingStart
        rec.requester = requester.description
        rec.executor = executor.description
        rec.model = msg.model
        rec.completionTokens = msg.completionTokens
        rec.executorPromptTokens = msg.promptTokens
        rec.responseCommitment = msg.responseCommitment
        rec.price = try currentPrice(msg.model, params: params, in: state)
        rec.finishHeight = context.height
        rec.expiryHeight = context.height + params.inferenceExpiryBlocks
        rec.epoch = try currentEpoch(in: state)
        state.set(StateKey.inferenceExpiry(height: rec.expiryHeight, id: msg.inferenceID), [])
        Pruning.index(msg.inferenceID, epoch: rec.epoch, in: state)
        try state.setRecord(rec, at: StateKey.inferenceRecord(msg.inferenceID))
        return [.inferenceFinishReceived(inferenceID: msg.inferenceID, executor: executor)]
    }

    /// Both halves are in: charge the cost, refund the rest, credit the executor's epoch earnings
    /// and the model's usage window.
    private static func settle(
        _ rec: inout Wire.InferenceRecord, context: BlockContext, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        rec.completionTokens = min(rec.completionTokens, rec.maxTokens)
        guard
            let cost = InferencePricing.cost(
                promptTokens: rec.promptTokens, completionTokens: rec.completionTokens, price: rec.price)
        else { throw .overflow("cost") }
        guard cost.ngonka <= rec.escrow else { throw .overflow("cost above escrow") }
        let refund = Amount(ngonka: rec.escrow - cost.ngonka)
        let requester = try parseAddress(rec.requester, field: "requester")
        let executor = try parseAddress(rec.executor, field: "executor")
        if refund > .zero {
            try Bank.transfer(from: moduleAddress, to: requester, amount: refund, in: state)
        }
        try recordUsage(
            model: rec.model, tokens: rec.promptTokens + rec.completionTokens, time: context.time, in: state)
        rec.cost = cost.ngonka
        rec.refund = refund.ngonka
        rec.status = .finished
        rec.expiryHeight = 0
        try Rewards.inferenceSettled(rec, state: state)
        try Validation.inferenceFinished(rec, state: state)
        return [.inferenceFinished(inferenceID: rec.inferenceID, executor: executor, cost: cost, refund: refund)]
    }

    static func addMiss(_ executor: Address, reported: Bool, height: UInt64, in state: StateContext) throws(LedgerError)
    {
        var miss = try misses(executor, in: state) ?? Wire.MissRecord()
        miss.address = executor.description
        if reported { miss.reported += 1 } else { miss.expired += 1 }
        miss.lastHeight = height
        try state.setRecord(miss, at: StateKey.misses(executor))
    }

    // MARK: End-block

    /// Runs after a block's transactions (called once from `Ledger.finalize`): expires unfinished
    /// inferences whose time is up (full refund, a miss for the executor), moves every model's
    /// price (§6.5), forgets the block's duty-tx counts and records the block time for the mempool.
    static func endBlock(
        context: BlockContext, params: ChainParams, state: StateContext
    ) throws(LedgerError) -> [LedgerEvent] {
        var events: [LedgerEvent] = []
        // Keys under this height are in id order: a deterministic order on every node.
        for entry in try state.entries(withPrefix: StateKey.inferenceExpiries(height: context.height)) {
            state.delete(entry.key)
            let id = String(decoding: entry.key.dropFirst(StateKey.inferenceExpiries(height: 0).count), as: UTF8.self)
            guard var rec = try record(id, in: state) else { continue }
            switch rec.status {
            case .started:
                let requester = try parseAddress(rec.requester, field: "requester")
                let executor = try parseAddress(rec.executor, field: "executor")
                let refund = Amount(ngonka: rec.escrow)
                if refund > .zero { try Bank.transfer(from: moduleAddress, to: requester, amount: refund, in: state) }
                try Rewards.escrowRefunded(rec.escrow, in: state)
                try addMiss(executor, reported: false, height: context.height, in: state)
                try Validation.inferenceMissed(executor, epoch: rec.epoch, state: state)
                rec.refund = rec.escrow
                rec.status = .expired
                try state.setRecord(rec, at: StateKey.inferenceRecord(id))
                events.append(.inferenceExpired(inferenceID: id, executor: executor, refund: refund))
                events.append(.executorMissed(executor: executor, inferenceID: id, reason: "expired"))
            case .awaitingStart:
                // A Finish whose Start never came: nothing was escrowed, nobody is charged.
                rec.status = .expired
                try state.setRecord(rec, at: StateKey.inferenceRecord(id))
                if let executor = try? Address(rec.executor) {
                    events.append(.inferenceExpired(inferenceID: id, executor: executor, refund: .zero))
                }
            default: continue
            }
        }
        try updatePrices(context: context, params: params, state: state)
        for entry in try state.entries(withPrefix: StateKey.dutyCountPrefix) { state.delete(entry.key) }
        // Written only when it changes (a chain whose blocks carry no time never writes it).
        let stored = try state.get(StateKey.lastBlockTime)
        let encoded = BigEndian.encode(UInt64(bitPattern: context.time))
        if stored != encoded, stored != nil || context.time != 0 {
            state.set(StateKey.lastBlockTime, encoded)
        }
        return events
    }
}
