import ArgumentParser
import Foundation
import Hummingbird
import Inference
import Logging
import MLNode
import ServerLifecycle
import ServiceLifecycle
import Tensor
import UnixSignals

/// `gonka mlnode …`
struct MLNodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlnode",
        abstract: "Run an ML node: the OpenAI-compatible inference server over a local model or an upstream engine.",
        subcommands: [Start.self, Check.self]
    )
}

extension MLNodeCommand {
    /// `gonka mlnode start`
    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Serve a GGUF model, or front an upstream engine, over HTTP (OpenAI chat/completions, /v1/score, /v1/tokenize).",
            discussion: """
                Serves until SIGINT or SIGTERM, then finishes in-flight responses and exits. Requests beyond --parallel wait in a queue of --queue places; beyond that they get 429. Streamed responses end with a usage chunk when the request sets stream_options.include_usage (as OpenAI does).

                --backend native (the default) runs the model in process. --backend openai fronts an engine at --upstream: llama.cpp's llama-server (start it with --alias MODEL_ID) or vLLM (--served-model-name MODEL_ID --max-logprobs 20 --return-tokens-as-token-ids); --flavour is detected when not given. Token counts, the chat prompt and detokenizing come from the model's GGUF tokenizer (--tokenizer, default --model): only the weights live upstream. /health answers 503 while the upstream is down or serves another model; /v1/score needs no replay (validators of such a node run the likelihood test: register the model with sampler opaque). See docs/HOSTING.md.
                """
        )

        @Option(help: "The GGUF model (default: $GONKA_MODEL, else the `make model` cache).") var model: String?
        @Option(help: "TCP port (0: any free port; the URL line says which).") var port = 8080
        @Option(help: "Address to listen on.") var host = "127.0.0.1"
        @Option(help: "Compute threads of the batched engine (default: the cores, at most 4).")
        var threads: Int?
        @Option(help: "Requests computed at once, decoded together in one batched pass (each has its own KV cache).")
        var parallel = 1
        @Option(help: "Requests that may wait for a slot; more are refused with 429.") var queue = 16
        @Option(help: "Positions per request (default: the model's context, at most 4096).") var context: Int?
        @Option(help: "KV-cache memory of all slots together in MiB; each slot's context is cut to its share.")
        var kvCacheMb: Int?
        @Option(help: "Memory in MiB of the KV blocks of prompt prefixes kept for reuse across requests (0: off).")
        var prefixCacheMb = 64
        @Option(help: "The model id clients send (default: the file name without .gguf).") var servedModelName: String?
        @Option(help: "Threads of the PoC engine for /poc/* (default: all cores).") var pocThreads: Int?
        @Option(help: "native: run the GGUF model in process; openai: front the engine at --upstream.")
        var backend: Backend = .native
        @Option(help: "The upstream engine's base URL, e.g. http://127.0.0.1:8081 (--backend openai).")
        var upstream: String?
        @Option(help: "The registered model id the upstream serves and clients send (--backend openai).")
        var modelID: String?
        @Option(help: "The upstream engine: llamacpp or vllm (default: detected; llama-server answers /props).")
        var flavour: String?
        @Option(help: "The GGUF file whose tokenizer counts tokens (default: --model; no weights are loaded).")
        var tokenizer: String?
        @Option(help: "Seconds one upstream request (a whole stream) may take before it is answered with 504.")
        var upstreamTimeout = 300

        /// Where the model runs.
        enum Backend: String, ExpressibleByArgument, CaseIterable {
            case native
            case openai
        }

        func validate() throws {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0…65535") }
            guard (1...64).contains(parallel) else { throw ValidationError("--parallel must be in 1…64") }
            guard (0...10_000).contains(queue) else { throw ValidationError("--queue must be in 0…10000") }
            if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be in 1…256") }
            if let context, context < 16 { throw ValidationError("--context must be at least 16") }
            if let kvCacheMb, !(1...(1 << 20)).contains(kvCacheMb) {
                throw ValidationError("--kv-cache-mb must be in 1…1048576")
            }
            guard (0...(1 << 20)).contains(prefixCacheMb) else {
                throw ValidationError("--prefix-cache-mb must be in 0…1048576")
            }
            if let servedModelName, servedModelName.isEmpty { throw ValidationError("--served-model-name is empty") }
            if let pocThreads, !(1...256).contains(pocThreads) {
                throw ValidationError("--poc-threads must be in 1…256")
            }
            switch backend {
            case .native:
                for (name, value) in [("--upstream", upstream), ("--model-id", modelID), ("--tokenizer", tokenizer)]
                where value != nil {
                    throw ValidationError("\(name) needs --backend openai")
                }
                if flavour != nil { throw ValidationError("--flavour needs --backend openai") }
            case .openai:
                guard let upstream, let url = URL(string: upstream), ["http", "https"].contains(url.scheme ?? ""),
                    url.host != nil
                else { throw ValidationError("--backend openai needs --upstream http://HOST:PORT") }
                guard let modelID, !modelID.isEmpty else {
                    throw ValidationError("--backend openai needs --model-id (the registered model id)")
                }
                if let flavour, RemoteFlavour(rawValue: flavour) == nil {
                    throw ValidationError("--flavour must be llamacpp or vllm")
                }
                guard (1...3600).contains(upstreamTimeout) else {
                    throw ValidationError("--upstream-timeout must be in 1…3600 seconds")
                }
            }
        }

        var modelPath: String {
            ModelCache.resolve(model)
        }

        func run() async throws {
            switch backend {
            case .native: try await serve(try loadNative())
            case .openai: try await serve(try await connectRemote())
            }
        }

        /// The remote backend over `--upstream`, its tokenizer from the GGUF file.
        func connectRemote() async throws -> RemoteBackend {
            let path = ModelCache.resolve(tokenizer ?? model)
            guard FileManager.default.fileExists(atPath: path) else {
                throw CLIError("tokenizer file \(path) does not exist (run `make model`, or pass --tokenizer)")
            }
            let vocabulary = try Tokenizer(gguf: try GGUFFile(path: path))
            let upstream = self.upstream ?? ""
            say("connecting to \(upstream)…")
            let remote: RemoteBackend
            do {
                remote = try await RemoteBackend.connect(
                    upstream: upstream, flavour: flavour.flatMap(RemoteFlavour.init(rawValue:)), modelID: modelID ?? "",
                    tokenizer: vocabulary,
                    contextLength: context, parallel: parallel, queue: queue, timeout: .seconds(upstreamTimeout))
            } catch {
                throw CLIError("cannot use \(upstream): \(error.message)")
            }
            if case .unavailable(let reason) = await remote.health() {
                say("warning: the upstream is not healthy yet: \(reason)")
            }
            say(
                """
                fronting \(remote.flavour.rawValue) at \(remote.upstreamURL)
                  id \(remote.info.id), context \(remote.info.contextLength), vocab \(remote.info.vocabularySize) (tokenizer \(path))
                  \(parallel) request(s) at once, queue \(queue)
                """)
            return remote
        }

        func loadNative() throws -> NativeBackend {
            let path = modelPath
            guard FileManager.default.fileExists(atPath: path) else {
                throw CLIError("model file \(path) does not exist (run `make model`, or pass --model)")
            }
            say("loading \(path)…")
            let start = ContinuousClock.now
            say("  mapping and parsing the GGUF file…")
            let file = try GGUFFile(path: path)
            say("  building the model (\(file.tensors.count) tensors)…")
            let llama = try LlamaModel(file: file)
            let id = servedModelName ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let cores = ProcessInfo.processInfo.activeProcessorCount
            // One batched engine computes every slot, so it gets the cores, not a share of them.
            let threadCount = threads ?? max(1, min(4, cores))
            let kvCacheBytes = kvCacheMb.map { $0 << 20 }
            let positions = NativeBackend.contextLength(
                model: llama, parallel: parallel, contextLength: context, kvCacheBytes: kvCacheBytes)
            guard positions >= 16 else {
                throw CLIError(
                    "--kv-cache-mb \(kvCacheMb ?? 0) leaves each of \(parallel) slots \(positions) positions (16 needed)"
                )
            }
            let backend = NativeBackend(
                model: llama, id: id, parallel: parallel, queue: queue, threads: threadCount, contextLength: context,
                kvCacheBytes: kvCacheBytes, prefixCacheBytes: prefixCacheMb << 20)
            let c = llama.config
            let parameters = file.tensors.values.reduce(0) { $0 + $1.shape.reduce(1, *) }
            var types: [String: Int] = [:]
            for info in file.tensors.values where info.shape.count == 2 { types["\(info.type)", default: 0] += 1 }
            let quant = types.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key ?? "?"
            let name = (try? file.string("general.name")) ?? id
            let arch = (try? file.string("general.architecture")) ?? "llama"
            say(
                """
                loaded \(name) in \(String(format: "%.2f", (ContinuousClock.now - start).seconds)) s
                  id \(id), arch \(arch), \(c.layers) layers, \(String(format: "%.1f", Double(parameters) / 1e6))M parameters, \(quant), context \(backend.info.contextLength) (model \(c.contextLength)), vocab \(c.vocabularySize)
                  \(parallel) slot(s) batched on \(threadCount) thread(s), queue \(queue)
                """)
            return backend
        }

        /// Serves `backend` until SIGINT or SIGTERM.
        func serve(_ backend: some MLBackend) async throws {
            var logger = Logger(label: "gonka.mlnode")
            logger.logLevel = .info
            let host = self.host
            var configuration = MLNodeConfiguration()
            if let pocThreads { configuration.pocThreads = pocThreads }
            let app = MLNodeServer.application(
                backend: backend, host: host, port: port, configuration: configuration, logger: logger
            ) { bound in
                say("listening on http://\(host):\(bound)")
            }
            let services: [any Service] = [app] + (try OwnerWatch.services(logger: logger))
            let group = ServiceGroup(
                configuration: .init(
                    services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            say("stopped")
        }
    }
}

/// Writes a line to standard output at once (unbuffered even into a pipe, so a parent process sees
/// progress and the URL line as they happen).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
