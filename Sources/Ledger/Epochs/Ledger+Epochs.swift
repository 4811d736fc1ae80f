import Foundation
import GonkaCore
import GonkaWire

/// Queries of the Epochs and PoC modules on the committed state.
extension Ledger {
    /// The sequence `address`'s next transaction must carry as the mempool sees it: the committed
    /// sequence plus its transactions accepted by `checkTx` since the last commit.
    public func nextSequence(of address: Address) throws(LedgerError) -> UInt64 {
        try Accounts.account(address, in: checkState).sequence
    }

    /// The epoch schedule of this chain's parameters.
    public var schedule: EpochSchedule { EpochSchedule(params.epochs) }

    /// The record of epoch `index` (nil before its sprint started).
    public func epoch(_ index: UInt64) throws(LedgerError) -> Wire.EpochRecord? {
        try Epochs.epoch(index, in: StateContext(store: store))
    }

    /// The validator set that signs `height`, as consensus needs it, with the first height it signs.
    /// Known for every height up to the committed height + 2.
    public func validatorSet(
        forHeight height: UInt64
    ) throws(LedgerError) -> (
        fromHeight: UInt64, validators: [ValidatorUpdate]
    )? {
        guard let record = try Epochs.validatorSet(forHeight: height, in: StateContext(store: store)) else {
            return nil
        }
        return (record.fromHeight, Epochs.updates(record))
    }

    /// Every validator-set record (epoch 0's from height 1, then one per switch), in height order.
    public func validatorSets() throws(LedgerError) -> [Wire.ValidatorSetRecord] {
        try Epochs.validatorSets(in: StateContext(store: store))
    }

    /// PROTOCOL §5.7: which of `participant`'s `nodeCount` ML nodes mine in `epoch`'s sprint (the
    /// others keep serving inference), as the ledger checks batches against it.
    public func miningNodes(epoch: UInt64, participant: Address, nodeCount: UInt64) throws(LedgerError) -> [UInt64] {
        ServingNodes.mining(
            epoch: epoch, participant: participant.description,
            model: try Epochs.servingModel(in: StateContext(store: store)), nodeCount: nodeCount)
    }

    /// A participant's sprint at P: its summary, batches, submitted nonces (ascending) and the
    /// validations others submitted for it.
    public func pocSprint(_ p: UInt64, participant: Address) throws(LedgerError) -> PocSprintView {
        let state = StateContext(store: store)
        return PocSprintView(
            summary: try PoC.sprint(p, participant, in: state) ?? Wire.PocSprintRecord(),
            batches: try PoC.batches(p, participant, in: state),
            nonces: try PoC.nonces(p, participant, in: state),
            validations: try PoC.validations(p, participant, in: state))
    }
}

/// One participant's sprint as stored.
public struct PocSprintView: Sendable {
    public let summary: Wire.PocSprintRecord
    public let batches: [Wire.PocBatchRecord]
    public let nonces: [UInt64]
    public let validations: [Wire.MsgSubmitPocValidation]
}
