import Foundation
import GonkaCore
import Telemetry

/// How an API node runs (`[api]` in config.toml, or set by tests).
public struct APINodeConfiguration: Sendable {
    /// Public listener (`[api] listen`), `host:port`; port 0 picks a free one.
    public var host: String
    public var port: Int
    /// Loopback admin listener (`[api] admin_listen`); nil: no admin API.
    public var adminHost: String?
    public var adminPort: Int?
    public var chainID: String
    /// The participant's account key: its address is the TA and executor identity; it signs the
    /// forwarded requests, payloads and the Start/Finish txs.
    public var key: SigningKey
    /// `HOME/data/payloads/`.
    public var payloadDirectory: URL
    /// The longest a payload is kept (`[api] payload_retention_s`): one whose inference record was
    /// seen on chain goes with the record (``PayloadRetention``), the rest at this age.
    public var payloadRetention: Duration
    /// How often the payload files are looked at.
    public var payloadPruneInterval: Duration = .seconds(60)
    /// No response head from an executor within this: next attempt (§6.2 step 5).
    public var executorFirstByteTimeout: Duration
    /// No bytes from an executor for this long once its answer has begun: it is taken for gone
    /// (dead, or cut off by a partition that sends no reset) and the client's request ends with an
    /// error instead of hanging (`[api] executor_idle_timeout_ms`). Executors keep an open answer
    /// alive with ``answerHeartbeat``, so only a silent one trips it.
    public var executorIdleTimeout: Duration = .seconds(30)
    /// How often an executor writes a keepalive while it has nothing else to write (a long prompt's
    /// prefill, a non-streamed answer before its end): an SSE comment (`: keepalive`) in a stream, a
    /// space before the JSON of a whole answer.
    public var answerHeartbeat: Duration = .seconds(5)
    public var maxAttempts: UInt32
    public var maxBodyBytes: Int
    /// `max_tokens` when a request names none (the escrow's default, PROTOCOL §6.2).
    public var defaultMaxTokens: Int
    /// The request timestamp window (§6.1); the chain parameters' by default.
    public var freshness: RequestWindow
    /// The per-token price when the chain has no model registry yet (ngonka).
    public var fallbackPrice: UInt64
    /// Gateway API keys file (`HOME/data/apikeys.json`); nil: no gateway mode.
    public var apiKeysFile: URL?
    /// Loads an account key by its file name (gateway mode signs with the key's account).
    public var keyLoader: (@Sendable (String) throws -> SigningKey)?
    /// The participant's secret epoch seeds (`HOME/data/seeds/`, PROTOCOL §7.1); nil: this API node
    /// does not validate (no ``ValidationWorker``).
    public var validationSeedsDirectory: URL?
    /// The same seeds, read to claim each settled epoch (PROTOCOL §8.4, ``RewardClaimer``); nil:
    /// this API node sends no claims.
    public var claimSeedsDirectory: URL?
    /// `[api] auto_unjail`: send `MsgUnjail` once this participant's jail is over and its chain
    /// node is caught up (``Unjailer``).
    public var autoUnjail: Bool = true
    /// How long the listeners keep serving answers already under way once told to stop (shutdown
    /// or cancellation); past it they are cut (`GracefulService`).
    public var shutdownGracePeriod: Duration = .seconds(10)
    /// Where the request path's spans go (`[telemetry] otlp_endpoint`): off by default.
    public var tracing: TraceExport = .off
    /// Bytes each of the two replay caches (TA request ids, executor attempts) may take
    /// (`[memory] replay_cache_mb`).
    public var replayCacheBytes = 64 << 20
    /// Bytes of duty transactions waiting to be sent (`[memory] tx_queue_mb`).
    public var txQueueBytes = 32 << 20
    /// Bytes of validation jobs waiting and ids remembered (`[memory] validation_queue_mb`).
    public var validationQueueBytes = 16 << 20

    public init(
        host: String = "127.0.0.1", port: Int = 0, chainID: String, key: SigningKey, payloadDirectory: URL,
        payloadRetention: Duration = .seconds(86_400), executorFirstByteTimeout: Duration = .seconds(5),
        maxAttempts: UInt32 = 3, maxBodyBytes: Int = 1 << 20, defaultMaxTokens: Int = 512,
        freshness: RequestWindow = RequestWindow(ChainParams()), fallbackPrice: UInt64 = 1, apiKeysFile: URL? = nil
    ) {
        self.host = host
        self.port = port
        self.chainID = chainID
        self.key = key
        self.payloadDirectory = payloadDirectory
        self.payloadRetention = payloadRetention
        self.executorFirstByteTimeout = executorFirstByteTimeout
        self.maxAttempts = maxAttempts
        self.maxBodyBytes = maxBodyBytes
        self.defaultMaxTokens = defaultMaxTokens
        self.freshness = freshness
        self.fallbackPrice = fallbackPrice
        self.apiKeysFile = apiKeysFile
    }

    public var address: Address { key.publicKey.address }
}
