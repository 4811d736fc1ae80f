// swift-tools-version:6.2
import PackageDescription

/// Settings for every target we own: Swift 6 language mode (strict concurrency), explicit `any`,
/// imports that must be named where used, and no warnings.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
]

/// The numeric kernels are compiled unchecked and for a CPU with FMA even in debug builds, so tests that run
/// the model stay fast (STYLE.md: without a named FMA CPU `addingProduct` is ~30× slower).
#if arch(x86_64)
    let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"])]
#else
    let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]
#endif

let package = Package(
    name: "gonka",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gonka", targets: ["gonka"]),
        .library(name: "GonkaCore", targets: ["GonkaCore"]),
        .library(name: "GonkaWire", targets: ["GonkaWire"]),
        .library(name: "Ledger", targets: ["Ledger"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "Consensus", targets: ["Consensus"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "ChainRPCTypes", targets: ["ChainRPCTypes"]),
        .library(name: "GonkaClient", targets: ["GonkaClient"]),
        .library(name: "P2P", targets: ["P2P"]),
        .library(name: "ChainNode", targets: ["ChainNode"]),
        .library(name: "MLNode", targets: ["MLNode"]),
        .library(name: "ProofOfCompute", targets: ["ProofOfCompute"]),
        .library(name: "APINode", targets: ["APINode"]),
        .library(name: "ServerLifecycle", targets: ["ServerLifecycle"]),
        .library(name: "NodeHost", targets: ["NodeHost"]),
        .library(name: "Simulation", targets: ["Simulation"]),
        .library(name: "Devnet", targets: ["Devnet"]),
        .library(name: "Benchmarks", targets: ["Benchmarks"]),
        .library(name: "Verification", targets: ["Verification"]),
        .library(name: "Explorer", targets: ["Explorer"]),
        .library(name: "Telemetry", targets: ["Telemetry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // `config.toml` is read with toml++ (C++) through TOMLKit.
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        // The explorer's pages are Mustache templates (HTML-escaping by default).
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.0.0"),
        // Metrics: the swift-metrics API with the swift-prometheus backend (one registry per node).
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        // Traces: the swift-distributed-tracing API, exported over OTLP/HTTP by swift-otel when
        // `[telemetry] otlp_endpoint` is set (its gRPC exporter is left out: it would bring gRPC).
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
    ],
    targets: [
        .target(
            name: "GonkaCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "GonkaWire",
            dependencies: ["GonkaCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict
        ),
        .target(
            name: "Ledger",
            dependencies: ["GonkaCore", "GonkaWire", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict
        ),
        .target(
            name: "Consensus",
            dependencies: ["GonkaCore", "GonkaWire", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict
        ),
        .target(
            name: "Storage",
            dependencies: [
                "GonkaCore", "Ledger", "Consensus", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        // Each node's metrics: swift-metrics values on a swift-prometheus registry of its own.
        // System calls Swift's Glibc module does not import: glibc's mallinfo2 (Telemetry's
        // ProcessMemory) and gettid (Tensor's ThreadPriority).
        .target(name: "CSystemShims"),
        .target(
            name: "Telemetry",
            dependencies: [
                "CSystemShims",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ServerLifecycle",
            dependencies: [
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ChainNode",
            dependencies: [
                "GonkaCore", "GonkaWire", "Consensus", "Ledger", "Storage", "P2P", "ProofOfCompute", "ServerLifecycle",
                "ChainRPCTypes", "Telemetry", "Tensor",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: strict
        ),
        // One instruction Swift cannot otherwise emit (vpmaddwd), named through `Builtin`: the
        // target is compiled as a stdlib-level module for that reason only.
        .target(
            name: "TensorIntrinsics",
            swiftSettings: [.swiftLanguageMode(.v6), .treatAllWarnings(as: .error), .unsafeFlags(["-parse-stdlib"])]
                + kernelFlags),
        .target(name: "Tensor", dependencies: ["TensorIntrinsics", "CSystemShims"], swiftSettings: strict + kernelFlags),
        .target(name: "Inference", dependencies: ["GonkaCore", "Tensor"], swiftSettings: strict),
        // PROTOCOL §7.2's check of one inference: pure, off-chain (floats allowed), no I/O.
        .target(name: "Verification", dependencies: ["GonkaCore"], swiftSettings: strict),
        // Compiled like Tensor: the scalar reference and the batch glue loop over every weight.
        .target(name: "ProofOfCompute", dependencies: ["GonkaCore", "Tensor"], swiftSettings: strict + kernelFlags),
        // The chain RPC's JSON model (docs/RPC.md): the node encodes these types, GonkaClient decodes
        // them. Types only, so the node does not link the HTTP client for them.
        .target(name: "ChainRPCTypes", dependencies: ["GonkaCore"], swiftSettings: strict),
        .target(
            name: "GonkaClient",
            dependencies: [
                "GonkaCore", "GonkaWire", "ChainRPCTypes",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "P2P",
            dependencies: [
                "GonkaCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "MLNode",
            dependencies: [
                "Inference", "Tensor", "GonkaCore", "ProofOfCompute", "ServerLifecycle", "Telemetry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The block explorer every API node serves at `GET /` (and `gonka explorer` locally): pages
        // rendered from the chain RPC's answers through Mustache templates.
        .target(
            name: "Explorer",
            dependencies: [
                "GonkaCore", "GonkaClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "APINode",
            dependencies: [
                "GonkaCore", "GonkaWire", "GonkaClient", "MLNode", "Inference", "Ledger", "ServerLifecycle",
                "Verification", "Explorer", "Telemetry",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "GonkaTestTraits",
            dependencies: ["GonkaTestKit"],
            swiftSettings: strict
        ),
        .target(
            name: "GonkaTestKit",
            dependencies: [
                "GonkaCore", "GonkaWire", "Ledger", "Storage", "Consensus", "Simulation", "ServerLifecycle",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        // In-process stand-ins for a network and a chain (the consensus simulator, a ledger with funded
        // accounts): the tests use them through GonkaTestKit, `gonka bench` directly.
        .target(
            name: "Simulation",
            dependencies: [
                "GonkaCore", "GonkaWire", "Ledger", "Storage", "Consensus",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        // What a host runs beside its chain node: the API node with its ML backends.
        .target(
            name: "NodeHost",
            dependencies: [
                "ChainNode", "APINode", "MLNode", "Inference", "GonkaClient", "GonkaCore", "Storage", "Telemetry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // A local network of node processes: layout, manifest, process control, funding, joining.
        .target(
            name: "Devnet",
            dependencies: [
                "GonkaCore", "GonkaWire", "Ledger", "Storage", "ChainNode", "GonkaClient", "ServerLifecycle",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // What `gonka bench …` measures; the commands only parse, call and print.
        .target(
            name: "Benchmarks",
            dependencies: [
                "GonkaCore", "GonkaWire", "Ledger", "Storage", "Consensus", "Simulation", "Inference", "ChainNode",
                "GonkaClient", "ProofOfCompute", "Tensor", "APINode", "NodeHost", "Devnet",
                "Verification", "Telemetry",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "storage-crash-child",
            dependencies: ["Storage", "GonkaTestKit"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "gonka",
            dependencies: [
                "GonkaCore", "GonkaWire", "Ledger", "Storage", "Consensus", "Inference", "ChainNode", "MLNode",
                "GonkaClient", "ProofOfCompute", "Tensor", "APINode", "ServerLifecycle", "NodeHost", "Devnet",
                "Benchmarks", "Explorer", "Verification",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "GonkaCoreTests", dependencies: ["GonkaCore"], swiftSettings: strict),
        .testTarget(name: "VerificationTests", dependencies: ["Verification", "GonkaCore"], swiftSettings: strict),
        .testTarget(
            name: "ServerLifecycleTests",
            dependencies: [
                "ServerLifecycle", "GonkaTestKit", "GonkaTestTraits",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "GonkaWireTests",
            dependencies: ["GonkaWire", "GonkaCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: [
                "Storage", "Ledger", "GonkaCore", "GonkaTestKit", "GonkaTestTraits",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LedgerTests",
            dependencies: [
                "Ledger", "GonkaCore", "GonkaWire", "Storage", "GonkaTestKit",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ConsensusTests",
            dependencies: [
                "Consensus", "GonkaCore", "GonkaWire", "GonkaTestKit", "Storage",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChainNodeTests",
            dependencies: [
                "ChainNode", "Consensus", "Ledger", "Storage", "GonkaCore", "GonkaWire", "GonkaTestKit",
                "GonkaTestTraits", "P2P", "ServerLifecycle",
                "GonkaClient", "ChainRPCTypes", "Telemetry",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"], swiftSettings: strict),
        .testTarget(
            name: "ProofOfComputeTests", dependencies: ["ProofOfCompute", "Tensor", "GonkaCore"],
            swiftSettings: strict),
        .testTarget(
            name: "InferenceTests", dependencies: ["Inference", "Tensor", "GonkaCore", "GonkaTestKit"],
            exclude: ["Fixtures"],
            swiftSettings: strict),
        .testTarget(
            name: "P2PTests",
            dependencies: [
                "P2P", "GonkaCore", "GonkaTestKit", "GonkaTestTraits",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MLNodeTests",
            dependencies: [
                "MLNode", "Inference", "Tensor", "GonkaTestKit", "GonkaTestTraits", "ProofOfCompute", "GonkaCore",
                "ServerLifecycle",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "APINodeTests",
            dependencies: [
                "APINode", "ChainNode", "GonkaClient", "GonkaCore", "GonkaWire", "GonkaTestKit", "GonkaTestTraits",
                "Ledger", "MLNode", "Telemetry",
                "Inference", "Storage", "Verification",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ExplorerTests",
            dependencies: [
                "Explorer", "ChainNode", "GonkaClient", "GonkaCore", "GonkaTestKit", "GonkaTestTraits", "GonkaWire",
                "Ledger", "Storage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BenchmarksTests", dependencies: ["Benchmarks", "Inference", "Tensor", "GonkaTestKit"],
            swiftSettings: strict),
        .testTarget(
            name: "GonkaCLITests", dependencies: ["gonka", "GonkaCore", "GonkaTestKit", "GonkaTestTraits"],
            swiftSettings: strict),
        .testTarget(
            name: "DevnetTests",
            dependencies: [
                "gonka", "Devnet", "ChainNode", "GonkaClient", "GonkaCore", "GonkaWire", "GonkaTestKit",
                "GonkaTestTraits", "Benchmarks", "Ledger", "Telemetry",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
