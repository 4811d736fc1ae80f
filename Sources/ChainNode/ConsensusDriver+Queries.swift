import ChainRPCTypes
import GonkaCore
import Ledger
import Storage

/// Reads of the committed state for the RPC server and in-process services, answered on the
/// driver so they see a tip that does not move under them.
extension ConsensusDriver {
    /// A state query at `height` (nil: latest); see ``QueryPath``.
    func query(_ path: QueryPath, height: UInt64?) throws(QueryError) -> QueryResult {
        let result = try QueryEngine.run(path, height: height, state: app.state, latest: app.tip.height)
        // At the latest height an account also says which sequence its next transaction must carry
        // here: the committed one plus its transactions waiting in this node's mempool. A sender
        // with txs in flight resynchronises from it (the committed sequence is behind them).
        guard case .account(let address) = path, height == nil, case .object(var fields) = result.value,
            let next = try? app.ledger.nextSequence(of: address)
        else { return result }
        fields.append(("next_sequence", .uint(next)))
        var answer = result
        answer.value = .object(fields)
        return answer
    }

    /// The state root after block `height` (0: genesis), while that version is kept.
    public func stateRoot(at height: UInt64) -> Hash? {
        guard height <= app.tip.height else { return nil }
        return try? app.state.root(atVersion: height)
    }

    /// The last committed height.
    public var committedHeight: UInt64 { app.tip.height }

    /// The chain parameters in force.
    var params: ChainParams { app.params }

    /// Reads the committed ledger (in-process services such as the PoC orchestrator).
    func readLedger<T: Sendable>(_ body: @Sendable (Ledger) throws(LedgerError) -> T) throws(LedgerError) -> T {
        try body(app.ledger)
    }
}
