import Consensus
import GonkaCore

/// Four (or more) validators with fixed keys, and helpers to sign their messages.
struct Net {
    let chainID = "test"
    let keys: [SigningKey]
    let validators: Consensus.ValidatorSet

    /// `powers[i]` is the power of `keys[i]`; keys are ordered by address.
    init(powers: [UInt64] = [1, 1, 1, 1]) {
        let raw = (0..<powers.count).map { i in
            (try? SigningKey(seed: [UInt8](repeating: UInt8(i + 1), count: 32)))!
        }
        keys = raw.sorted { $0.publicKey.address < $1.publicKey.address }
        validators = (try? Consensus.ValidatorSet(zip(keys, powers).map { (publicKey: $0.publicKey, power: $1) }))!
    }

    func address(_ i: Int) -> Address { keys[i].publicKey.address }
    func signer(_ i: Int) -> Consensus.Signer { Consensus.Signer(key: keys[i]) }
    func index(of address: Address) -> Int { keys.firstIndex { $0.publicKey.address == address }! }

    /// The index of the proposer of `round` at height 1.
    func proposer(round: Int) -> Int { index(of: validators.proposer(round: round).address) }

    func vote(
        _ type: Consensus.VoteType, by i: Int, round: Int = 0, _ id: Hash?, height: UInt64 = 1, time: Int64 = 5
    )
        -> Consensus.SignedVote
    {
        Consensus.SignedVote.sign(
            Consensus.Vote(
                type: type, height: height, round: round, blockID: id, timestamp: time, validator: address(i)),
            chainID: chainID, signer: signer(i))
    }

    func block(_ tag: String) -> [UInt8] { Array("block \(tag)".utf8) }

    func proposal(
        round: Int = 0, polRound: Int = -1, block: [UInt8], by i: Int? = nil, height: UInt64 = 1
    )
        -> Consensus.ProposalMessage
    {
        let who = i ?? proposer(round: round)
        let p = Consensus.Proposal(
            height: height, round: round, polRound: polRound, blockID: Consensus.blockID(of: block), timestamp: 5,
            proposer: address(who))
        return Consensus.ProposalMessage(
            signed: Consensus.SignedProposal.sign(p, chainID: chainID, signer: signer(who)), block: block)
    }

    func machine(
        for i: Int, defects: Consensus.Machine.Defects = .none, signState: Consensus.SignState = .empty
    )
        -> Consensus.Machine
    {
        Consensus.Machine(
            configuration: .init(chainID: chainID, defects: defects), signer: signer(i), height: 1,
            validators: validators,
            lastBlockTime: 0, signState: signState)
    }

    /// A validator that does not propose in rounds 0 and 1.
    var follower: Int { (0..<keys.count).first { $0 != proposer(round: 0) && $0 != proposer(round: 1) }! }
}

extension [Consensus.Machine.Action] {
    /// The votes broadcast in these actions.
    var votes: [Consensus.Vote] {
        compactMap { if case .broadcastVote(let v) = $0 { v.vote } else { nil } }
    }

    var scheduled: [Consensus.Timeout] {
        compactMap { if case .schedule(let t) = $0 { t } else { nil } }
    }

    var commits: [Consensus.Machine.Decision] {
        compactMap { if case .commit(let d) = $0 { d } else { nil } }
    }
}
