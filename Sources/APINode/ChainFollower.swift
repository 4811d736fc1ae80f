import GonkaClient
import Logging
import ServiceLifecycle

/// Keeps ``ChainView``'s tip current from the chain node's event stream (`GET /events`) and
/// re-reads its caches at every block, so the request path finds the last block's time, models,
/// prices, participants and executor sets without an RPC.
/// Reconnects after a second when the stream ends or fails; stops at graceful shutdown.
struct ChainFollower: Service {
    let chain: ChainView
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var warned = false
            while !Task.isCancelled {
                do {
                    // The tip as of now, then every block after it.
                    let status = try await chain.client.status()
                    chain.observe(.init(height: status.height, timeMs: status.blockTimeMs))
                    for try await event in chain.client.events() {
                        if case .newBlock(let block) = event {
                            chain.observe(.init(height: block.height, timeMs: block.timeMs))
                            await chain.refresh()
                        }
                    }
                } catch {
                    if !warned, !Task.isCancelled {
                        logger.notice(
                            "chain event stream unavailable; retrying",
                            metadata: ["error": "\(error)"])
                        warned = true
                    }
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
