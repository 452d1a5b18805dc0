// swift-tools-version:6.0
import PackageDescription

/// Settings every target shares (one list, applied in a loop below).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

var package = Package(
    name: "Aftersale",
    products: [
        .executable(name: "aftersale", targets: ["aftersale"]),
        .library(name: "AftersaleCore", targets: ["AftersaleCore"]),
        .library(name: "AftersaleStore", targets: ["AftersaleStore"]),
        .library(name: "BuyTillYouDie", targets: ["BuyTillYouDie"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Tests only: an independent RFC 4180 parser to read exports back with.
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
    ],
    targets: [
        // Debian's libsqlite3, the only C this package imports (only AftersaleStore imports it).
        .systemLibrary(
            name: "CSQLite",
            path: "Sources/CSQLite",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // The pure core: events, money, validation, folds and policies. No I/O, no clock.
        .target(name: "AftersaleCore"),
        // Lifetime value: the models applied to customers (pure).
        .target(name: "CustomerValue", dependencies: ["AftersaleCore", "BuyTillYouDie"]),
        // Buy-till-you-die models (BG/NBD, Pareto/NBD, Gamma-Gamma): pure numerics.
        .target(name: "BuyTillYouDie"),
        // The storage layer: the only code that speaks SQL.
        .target(name: "AftersaleStore", dependencies: ["AftersaleCore", "AftersaleReactor", "CSQLite"]),
        // The reactor: the playbook's policies, the contact policy and the engine that runs them (pure).
        .target(name: "AftersaleReactor", dependencies: ["AftersaleCore"], exclude: ["README.md"]),
        // Getting events in: NDJSON and CSV readers, rejects, the ingest pipeline.
        .target(name: "AftersaleIngest", dependencies: ["AftersaleCore", "AftersaleStore"]),
        // Exports, cohorts, RFM, calibration and the HTML report (pure).
        .target(name: "AftersaleAnalytics", dependencies: ["AftersaleCore"], exclude: ["EXPORTS.md"]),
        // A shop simulator with known truth (tools/: generators, benchmarks, converters).
        .target(name: "ShopSimulator", dependencies: ["AftersaleCore"], path: "tools/ShopSimulator"),
        // The thin command-line shell.
        .executableTarget(
            name: "aftersale",
            dependencies: [
                "AftersaleCore", "AftersaleStore", "AftersaleIngest", "CustomerValue", "AftersaleAnalytics", "AftersaleReactor",
                "ShopSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "aftersale-bench",
            dependencies: ["AftersaleCore", "AftersaleStore", "AftersaleIngest", "ShopSimulator", "BuyTillYouDie", "CSQLite"],
            path: "tools/bench"
        ),
        .testTarget(name: "AftersaleCoreTests", dependencies: ["AftersaleCore"]),
        .testTarget(name: "CustomerValueTests", dependencies: ["CustomerValue", "AftersaleCore", "BuyTillYouDie"]),
        .testTarget(name: "AftersaleStoreTests", dependencies: ["AftersaleStore", "AftersaleIngest", "ShopSimulator", "CSQLite"]),
        .testTarget(name: "AftersaleReactorTests", dependencies: ["AftersaleReactor", "AftersaleCore"]),
        .testTarget(name: "AftersaleAnalyticsTests", dependencies: ["AftersaleAnalytics", "AftersaleCore"]),
        .testTarget(name: "BuyTillYouDieTests", dependencies: ["BuyTillYouDie"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ShopSimulatorTests", dependencies: ["ShopSimulator"]),
        .testTarget(name: "AftersaleCLITests", dependencies: [
            "AftersaleAnalytics",
            "AftersaleCore", "AftersaleStore", .product(name: "CSV", package: "CSV.swift"),
        ]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}
