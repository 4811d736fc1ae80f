import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ProofOfCompute

/// The bodies of the `/poc/*` routes (docs/POC.md has them with examples).
enum PocAPI {
    /// `config`: a preset name (`"devnet"`) or a full ``PocModelConfig`` object.
    struct ConfigField: Decodable {
        let config: PocModelConfig

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let name = try? container.decode(String.self) {
                guard let preset = PocModelConfig.preset(named: name) else {
                    throw DecodingError.dataCorruptedError(
                        in: container, debugDescription: "unknown preset '\(name)' (devnet, testnet, mainnet)")
                }
                config = preset
            } else {
                config = try container.decode(PocModelConfig.self)
            }
        }
    }

    struct GenerateRequest: Decodable {
        let config: ConfigField
        let blockHash: String
        let publicKey: String
        let nodeIndex: UInt64
        let nodeCount: UInt64
        let rTarget: Double
        let batchSize: Int?
        let callbackURL: String?

        enum CodingKeys: String, CodingKey {
            case config
            case blockHash = "block_hash"
            case publicKey = "public_key"
            case nodeIndex = "node_index"
            case nodeCount = "node_count"
            case rTarget = "r_target"
            case batchSize = "batch_size"
            case callbackURL = "callback_url"
        }
    }

    struct ValidateRequest: Decodable {
        let config: ConfigField
        let blockHash: String
        let publicKey: String
        let nonces: [UInt64]

        enum CodingKeys: String, CodingKey {
            case config
            case blockHash = "block_hash"
            case publicKey = "public_key"
            case nonces
        }
    }

    struct ValidateResponse: Encodable {
        let distances: [Double]
        let distancesNano: [UInt64]

        enum CodingKeys: String, CodingKey {
            case distances
            case distancesNano = "distances_nano"
        }
    }

    /// One line of the NDJSON stream (or one callback body): a batch of hits, or the end.
    struct Event: Encodable {
        let type: String
        let nonces: [UInt64]?
        let distances: [Double]?
        let distancesNano: [UInt64]?
        let noncesTried: UInt64
        let hits: UInt64?

        static func batch(_ batch: PocBatch) -> Event {
            Event(
                type: "batch", nonces: batch.nonces, distances: batch.distances,
                distancesNano: batch.distances.map(PocDistance.nano), noncesTried: batch.noncesTried, hits: nil)
        }

        static func done(_ progress: PocProgress) -> Event {
            Event(
                type: "done", nonces: nil, distances: nil, distancesNano: nil, noncesTried: progress.noncesTried,
                hits: progress.hits)
        }

        enum CodingKeys: String, CodingKey {
            case type, nonces, distances
            case distancesNano = "distances_nano"
            case noncesTried = "nonces_tried"
            case hits
        }
    }

    struct Accepted: Encodable {
        let state: String
        let callbackURL: String

        enum CodingKeys: String, CodingKey {
            case state
            case callbackURL = "callback_url"
        }
    }

    struct Stopped: Encodable {
        let stopped: Bool
    }
}

extension Handlers {
    /// `POST /poc/generate`: starts a sprint. Without `callback_url` the response is the sprint: an
    /// NDJSON stream of `batch` lines and a final `done` line (the sprint stops when the client
    /// disconnects). With `callback_url` the answer is 202 at once and every line is POSTed there.
    func pocGenerate(_ body: [UInt8]) async throws -> Response {
        let request = try decode(PocAPI.GenerateRequest.self, from: body)
        guard request.nodeCount > 0, request.nodeIndex < request.nodeCount else {
            throw MLNodeError.invalidRequest(
                "node_index must be below node_count, and node_count positive.", param: "node_index")
        }
        guard request.rTarget.isFinite, request.rTarget > 0, request.rTarget <= 2 else {
            throw MLNodeError.invalidRequest("r_target must be in (0, 2].", param: "r_target")
        }
        var callback: URL?
        if let text = request.callbackURL {
            guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                url.host?.isEmpty == false
            else {
                throw MLNodeError.invalidRequest("callback_url must be an http(s) URL.", param: "callback_url")
            }
            callback = url
        }
        guard (try? PocSeed.canonicalPublicKey(request.publicKey)) != nil else {
            throw MLNodeError.invalidRequest("public_key must be 64 hex digits.", param: "public_key")
        }
        let engine = try await poc.engine(blockHash: request.blockHash, config: request.config.config)
        let lattice = try NonceLattice(nodeIndex: request.nodeIndex, nodeCount: request.nodeCount)
        let (id, batches) = try poc.startSprint(
            engine: engine, publicKey: request.publicKey, lattice: lattice, rTarget: request.rTarget,
            batchSize: request.batchSize ?? 64)
        logger.info(
            "poc sprint started",
            metadata: ["poc.block_hash": "\(engine.blockHashHex)", "poc.node_index": "\(request.nodeIndex)"])
        let poc = self.poc
        let logger = self.logger
        if let callback {
            // The sprint outlives this request: it ends on /poc/stop (or when the lattice runs out).
            Task {
                defer { poc.sprintEnded(id) }
                for await batch in batches {
                    await Self.post(PocAPI.Event.batch(batch), to: callback, logger: logger)
                }
                await Self.post(PocAPI.Event.done(engine.progress), to: callback, logger: logger)
            }
            return Self.json(
                PocAPI.Accepted(state: "generating", callbackURL: callback.absoluteString), status: .accepted)
        }
        let responseBody = ResponseBody { writer in
            defer { poc.sprintEnded(id) }
            for await batch in batches {
                try await writer.write(try Self.line(PocAPI.Event.batch(batch)))
            }
            try await writer.write(try Self.line(PocAPI.Event.done(engine.progress)))
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-cache"], body: responseBody)
    }

    /// `POST /poc/validate`: the distances of `nonces` (and their fixed-point form).
    func pocValidate(_ body: [UInt8]) async throws -> Response {
        let request = try decode(PocAPI.ValidateRequest.self, from: body)
        guard (try? PocSeed.canonicalPublicKey(request.publicKey)) != nil else {
            throw MLNodeError.invalidRequest("public_key must be 64 hex digits.", param: "public_key")
        }
        guard request.nonces.count <= poc.limits.maxValidateNonces else {
            throw MLNodeError.invalidRequest(
                "At most \(poc.limits.maxValidateNonces) nonces per request; got \(request.nonces.count).",
                param: "nonces")
        }
        let engine = try await poc.engine(blockHash: request.blockHash, config: request.config.config)
        let distances = try await poc.validate(engine: engine, publicKey: request.publicKey, nonces: request.nonces)
        return Self.json(PocAPI.ValidateResponse(distances: distances, distancesNano: distances.map(PocDistance.nano)))
    }

    func pocStatus() -> Response { Self.json(poc.status) }

    func pocStop() -> Response { Self.json(PocAPI.Stopped(stopped: poc.stop())) }

    /// Refuses inference while a sprint runs (503): the cores belong to PoC (PROTOCOL §4).
    func refuseWhileMining() throws(MLNodeError) {
        if poc.isGenerating {
            throw .unavailable("The node is mining a PoC sprint; inference resumes when it ends.")
        }
    }

    static func line(_ value: some Encodable) throws -> ByteBuffer {
        var buffer = ByteBuffer(bytes: try encoder.encode(value))
        buffer.writeString("\n")
        return buffer
    }

    /// POSTs one event as JSON; a failure is logged (the batch is lost to that receiver, not retried).
    static func post(_ event: PocAPI.Event, to url: URL, logger: Logger) async {
        do {
            var request = HTTPClientRequest(url: url.absoluteString)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try encoder.encode(event)))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 16)
            if response.status.code >= 300 {
                logger.warning("poc callback refused", metadata: ["http.status": "\(response.status.code)"])
            }
        } catch {
            logger.warning("poc callback failed", metadata: ["error": "\(error)"])
        }
    }
}
