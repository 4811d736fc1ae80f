import ChainRPCTypes
import Foundation
import GonkaClient
import GonkaCore
import GonkaWire
import Logging
import ServiceLifecycle
import Synchronization

/// Ends this participant's jail (PROTOCOL §9) once it may: a validator jailed for liveness (down,
/// cut off or too slow to sign for half the window) is out of the validator set and the executor
/// pool until a `MsgUnjail`, and a host whose node came back should not stay out because nobody ran
/// `gonka tx unjail`. Every few seconds it reads its collateral record and its chain node's status;
/// when jailed, not tombstoned, past `jailed_until` and caught up, it sends `MsgUnjail` (again after
/// `resendAfter` if it is still jailed then: a tx can be dropped). `[api] auto_unjail = false` turns
/// it off for operators who unjail by hand.
struct Unjailer: Service {
    let client: ChainClient
    let txs: TxSender
    let logger: Logger
    var interval: Duration = .seconds(5)
    /// How long an unjail may stay without effect before it is sent again.
    var resendAfter: Duration = .seconds(30)

    /// Whether to send `MsgUnjail` now: jailed and not tombstoned, `jailed_until` reached, and the
    /// node caught up (a node still syncing would be jailed again for the blocks it cannot sign).
    static func due(_ info: CollateralInfo, height: UInt64, catchingUp: Bool) -> Bool {
        info.jailed && !info.tombstoned && height >= info.jailedUntil && !catchingUp
    }

    func run() async throws {
        let me = txs.address
        await cancelWhenGracefulShutdown {
            var lastSent: ContinuousClock.Instant?
            var announced = false
            while !Task.isCancelled {
                if let info = try? await client.collateral(me), let status = try? await client.status() {
                    if info.jailed, !announced {
                        logger.warning(
                            "this participant is jailed: out of the validator set and the executor pool",
                            metadata: [
                                "jailed_until": "\(info.jailedUntil)", "height": "\(status.height)",
                                "tombstoned": "\(info.tombstoned)",
                            ])
                        announced = true
                    }
                    if !info.jailed { announced = false }
                    let now = ContinuousClock.now
                    if Self.due(info, height: status.height, catchingUp: status.catchingUp),
                        lastSent.map({ now - $0 >= resendAfter }) ?? true
                    {
                        lastSent = now
                        var msg = Wire.MsgUnjail()
                        msg.validator = me.description
                        logger.notice(
                            "sending MsgUnjail: the jail is over and the node is caught up",
                            metadata: ["jailed_until": "\(info.jailedUntil)", "height": "\(status.height)"])
                        txs.enqueue(Wire.Msg(msg), what: "MsgUnjail", paid: true)
                    }
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
