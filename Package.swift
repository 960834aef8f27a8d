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
    ],
    targets: [
        // MARK: System libraries
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .target(
            name: "CImageCodecs",
            path: "Sources/CImageCodecs",
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png")]
        ),

        // MARK: Numerics
        .target(name: "Tensor", dependencies: ["COpenBLAS"], swiftSettings: numericSettings),
        .target(name: "NPY"),
        .target(name: "AdaNeg", dependencies: ["Tensor"], swiftSettings: numericSettings),

        // MARK: CLIP
        .target(name: "CLIP", dependencies: ["Tensor", "CImageCodecs"], swiftSettings: numericSettings),

        // MARK: Command line
        .target(
            name: "AdaNegCLI",
            dependencies: [
                "AdaNeg", "NPY", "Tensor", "CLIP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "adaneg", dependencies: ["AdaNegCLI"]),

        // MARK: Tests
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "NPYTests", dependencies: ["NPY"]),
        .testTarget(
            name: "AdaNegTests",
            dependencies: ["AdaNeg", "NPY", "Tensor"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "Tensor", "NPY"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CLITests", dependencies: ["AdaNegCLI", "AdaNeg", "NPY", "Tensor"]),
    ]
)
