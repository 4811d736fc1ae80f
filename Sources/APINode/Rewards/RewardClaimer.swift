import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Logging
import ServiceLifecycle
import Synchronization

/// Claims this participant's settlements (PROTOCOL §8.4): every few seconds it asks the chain for
/// its pending settlements and sends `MsgClaimRewards` for each, revealing the epoch's secret seed
/// (the one the validation worker sampled with, `HOME/data/seeds/{epoch}`); epoch 0 had no
/// commitment and is claimed with no seed. A claim still pending a while after it was sent is
/// sent again (a tx can be dropped); the ledger rejects a second one that arrives after the first.
struct RewardClaimer: Service {
    let client: ChainClient
    let txs: TxSender
    let seeds: ValidationSeeds
    let logger: Logger
    var interval: Duration = .seconds(3)
    /// How long a claim may stay pending before it is sent again.
    var resendAfter: Duration = .seconds(30)

    func run() async throws {
        let me = txs.address
        let sent = Mutex<[UInt64: ContinuousClock.Instant]>([:])
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if let pending = try? await client.rewards(me) {
                    for settlement in pending where settlement.status == "pending" {
                        let now = ContinuousClock.now
                        let due = sent.withLock { s -> Bool in
                            guard let last = s[settlement.epoch], now - last < resendAfter else {
                                s[settlement.epoch] = now
                                return true
                            }
                            return false
                        }
                        if due { claim(settlement, me: me) }
                    }
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    private func claim(_ settlement: SettlementInfo, me: Address) {
        var msg = Wire.MsgClaimRewards()
        msg.participant = me.description
        msg.epoch = settlement.epoch
        if settlement.epoch > 0 {
            do {
                guard let seed = try seeds.existingSeed(epoch: settlement.epoch) else {
                    logger.error(
                        "no seed kept for the epoch: the claim cannot be audited and will burn",
                        metadata: ["epoch": "\(settlement.epoch)"])
                    txs.enqueue(Wire.Msg(msg), what: "claim")
                    return
                }
                msg.seed = Data(seed.bytes)
            } catch {
                logger.error("cannot read the epoch's seed: \(error)", metadata: ["epoch": "\(settlement.epoch)"])
                return
            }
        }
        logger.info(
            "claiming the epoch's settlement",
            metadata: [
                "epoch": "\(settlement.epoch)", "reward": "\(settlement.reward)", "work": "\(settlement.work)",
            ])
        txs.enqueue(Wire.Msg(msg), what: "claim")
    }
}
