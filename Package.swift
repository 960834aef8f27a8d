// swift-tools-version:6.0
import PackageDescription

/// Release-like optimisation for the numeric modules even in debug builds: the tests run
/// real scoring passes, and unoptimised Swift array code is 20-50x slower.
let numericSettings: [SwiftSetting] = [.unsafeFlags(["-O"])]

let package = Package(
    name: "adaneg",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "adaneg", targets: ["adaneg"]),
        .library(name: "AdaNeg", targets: ["AdaNeg"]),
        .library(name: "CLIP", targets: ["CLIP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // TLS for the coordinator and its clients (issue 23): already resolved through
        // async-http-client and Hummingbird; named here because the code imports them.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // MARK: System libraries
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "COneDNN", path: "Sources/COneDNN"),
        .target(name: "CPlatform", path: "Sources/CPlatform"),
        .target(
            name: "CImageCodecs",
            path: "Sources/CImageCodecs",
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png"), .linkedLibrary("z")]
        ),

        // MARK: Platform: what the CPU offers, precisions, memory
        .target(name: "Platform", dependencies: ["CPlatform"]),

        // MARK: Numerics
        // TensorCore: matrices, row kernels and the one L2 normalisation, in plain Swift (no BLAS):
        // what the coordinator side needs. Tensor adds the BLAS/oneDNN products and re-exports it.
        .target(name: "TensorCore", swiftSettings: numericSettings),
        .target(name: "Tensor", dependencies: ["TensorCore", "COpenBLAS", "COneDNN", "Platform"], swiftSettings: numericSettings),
        .target(name: "NPY", dependencies: ["Platform"]),
        // AdaNegCore: the memory bank and its merge, scoring parameters, per-sample results,
        // permutations and metrics, without products: what the coordinator, the store and the
        // spec share with the scorer. AdaNeg adds the scorer (on Tensor) and re-exports it.
        .target(name: "AdaNegCore", swiftSettings: numericSettings),
        .target(name: "AdaNeg", dependencies: ["AdaNegCore", "Tensor"], swiftSettings: numericSettings),

        // MARK: Jobs
        .target(
            name: "JobSpec",
            dependencies: ["AdaNegCore", "NPY", "Platform", .product(name: "Yams", package: "Yams")]
        ),

        // MARK: Distribution
        // The protocol: what the coordinator, its workers and the readers share (a job's
        // WorkPlan, the messages, the bank wire format, the records). No transport, no planning.
        .target(
            name: "JobProtocol",
            dependencies: [
                "AdaNegCore", "JobSpec", "Platform",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Planning: the one JobSpec -> WorkPlan step, the input digests and the one reader of
        // feature rows. Model facts come through `ModelFacts`, implemented above (no CLIP here).
        .target(
            name: "JobPlan",
            dependencies: ["JobProtocol", "AdaNegCore", "JobSpec", "NPY", "TensorCore", "Platform"]
        ),
        // The HTTP client of the coordinator's API (workers, report over HTTP, the CLI).
        .target(
            name: "JobClient",
            dependencies: [
                "JobProtocol", "AdaNegCore", "Platform",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // The coordinator's SQLite database: one writer (the coordinator) and read-only readers
        // (report, status --db).
        .target(
            name: "JobStore",
            dependencies: ["JobProtocol", "JobPlan", "AdaNegCore", "NPY", "TensorCore", "Platform", "CSQLite"],
            resources: [.embedInCode("schema.sql")]
        ),
        .target(
            name: "Coordinator",
            dependencies: [
                "AdaNegCore", "JobProtocol", "JobPlan", "JobStore", "JobSpec", "TensorCore", "NPY", "Platform",
                .product(name: "Hummingbird", package: "hummingbird"),
                // Connection limits and TLS in front of the HTTP channel (issue 23).
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "Worker",
            dependencies: [
                "AdaNeg", "JobProtocol", "JobPlan", "JobClient", "JobSpec", "NPY", "Tensor", "Platform", "CLIP", "CUDABackend",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: Models by Hugging Face id
        .systemLibrary(name: "CCurl", path: "Sources/CCurl"),
        .target(name: "ModelHub", dependencies: ["CCurl", "Platform", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "HubMock",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .executableTarget(name: "adaneg-hub-mock", dependencies: ["HubMock"], path: "Sources/HubMockServer"),

        // MARK: Negative labels
        .target(name: "NegMining", dependencies: ["Tensor", "CLIP", "JobSpec", "NPY", "Platform"]),

        // MARK: Reporting
        .target(name: "Report", dependencies: ["AdaNeg", "JobProtocol", "JobPlan", "JobClient", "JobStore", "NPY", "Tensor", "Platform", .product(name: "Yams", package: "Yams")]),

        // MARK: CLIP
        .target(name: "CLIP", dependencies: ["Tensor", "Platform", "CImageCodecs"], swiftSettings: numericSettings),

        // MARK: GPU: CUDA loaded at run time (nothing CUDA at build time)
        .target(name: "CCUDA", path: "Sources/CCUDA"),
        .target(
            name: "CUDABackend",
            dependencies: ["CCUDA", "CLIP", "Tensor", "Platform", "COpenBLAS"],
            exclude: [],
            resources: [.embedInCode("Kernels/kernels.cu")],
            linkerSettings: [.linkedLibrary("dl")]
        ),

        // MARK: Command line
        .target(
            name: "AdaNegCLI",
            dependencies: [
                "AdaNeg", "NPY", "Tensor", "Platform", "CLIP", "JobSpec", "JobProtocol", "JobPlan", "JobClient", "JobStore", "Coordinator", "Worker", "Report", "NegMining", "ModelHub", "CUDABackend",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(name: "adaneg", dependencies: ["AdaNegCLI"]),
        .executableTarget(
            name: "AdaNegBench",
            dependencies: [
                "AdaNeg", "Coordinator", "JobProtocol", "JobPlan", "JobClient", "Worker", "JobSpec", "NPY",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/AdaNegBench"
        ),

        // MARK: Tests
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TensorCore", "Platform"]),
        .testTarget(name: "PlatformTests", dependencies: ["Platform"]),
        .testTarget(name: "NPYTests", dependencies: ["NPY"]),
        .testTarget(
            name: "AdaNegTests",
            dependencies: ["AdaNeg", "AdaNegCore", "NPY", "Tensor"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "CUDABackendTests", dependencies: ["CUDABackend", "CLIP", "Tensor", "Platform", "COpenBLAS"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "Tensor", "NPY", "Platform", "CUDABackend"], resources: [.copy("Fixtures")]),
        .testTarget(name: "JobSpecTests", dependencies: ["JobSpec", "AdaNeg", "NPY", "Platform"]),
        .testTarget(name: "NegMiningTests", dependencies: ["NegMining", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "AdaNeg", "Coordinator", "JobProtocol", "JobPlan", "JobClient", "JobStore", "JobSpec", "NPY", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: [
                "Coordinator", "JobProtocol", "JobPlan", "JobClient", "JobStore", "Worker", "AdaNeg", "JobSpec", "NPY", "Tensor", "CLIP", "Platform",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "ModelHubTests",
            dependencies: ["ModelHub", "HubMock", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "CLITests", dependencies: [
            "AdaNegCLI", "CUDABackend", "CLIP", "AdaNeg", "NPY", "Tensor", "Coordinator", "JobProtocol", "JobPlan", "JobClient", "JobStore", "Worker", "JobSpec", "ModelHub", "Platform",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
    ]
)
