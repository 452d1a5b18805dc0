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
        .library(name: "AftersaleProjections", targets: ["AftersaleProjections"]),
        .library(name: "AftersaleOutbox", targets: ["AftersaleOutbox"]),
        .library(name: "BuyTillYouDie", targets: ["BuyTillYouDie"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Tests only: an independent RFC 4180 parser to read exports back with.
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
    ],
    targets: [
        // Debian's libsqlite3, the only C this package imports (only AftersaleSQLite imports it).
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
        // SQLite under the storage layer: connections, statements, transactions, checkpoints.
        // Only the storage modules (log, projections, outbox) depend on it.
        .target(name: "AftersaleSQLite", dependencies: ["CSQLite"]),
        // The event log: append, read, streams and facts. Its public face has no SQLite in it.
        .target(name: "AftersaleStore", dependencies: ["AftersaleCore", "AftersaleSQLite"]),
        // Read models folded from the log (the customers projection), stored beside it.
        .target(name: "AftersaleProjections", dependencies: ["AftersaleCore", "AftersaleStore", "AftersaleSQLite"]),
        // The reactor: the playbook's policies, the contact policy and the engine that runs them (pure).
        .target(name: "AftersaleReactor", dependencies: ["AftersaleCore", "CustomerValue"], exclude: ["README.md"]),
        // The reactor's output in storage: its outbox, states and checkpoint; dispatch and replay.
        .target(name: "AftersaleOutbox", dependencies: ["AftersaleCore", "AftersaleStore", "AftersaleSQLite", "AftersaleReactor"]),
        // Getting events in: NDJSON and CSV readers, rejects, the ingest pipeline.
        .target(name: "AftersaleIngest", dependencies: ["AftersaleCore", "AftersaleStore"]),
        // Exports, cohorts, RFM, calibration and the HTML report: the computations are pure; `ShopAnalytics`
        // gathers their input from the log, the customers projection and the outbox.
        .target(name: "AftersaleAnalytics", dependencies: ["AftersaleCore", "AftersaleStore", "AftersaleProjections", "AftersaleOutbox", "CustomerValue", "BuyTillYouDie"],
                exclude: ["EXPORTS.md"]),
        // A shop simulator with known truth (tools/: generators, benchmarks, converters).
        .target(name: "ShopSimulator", dependencies: ["AftersaleCore"], path: "tools/ShopSimulator"),
        // The thin command-line shell: parses arguments, calls one library function, prints.
        .executableTarget(
            name: "aftersale",
            dependencies: [
                "AftersaleCore", "AftersaleStore", "AftersaleProjections", "AftersaleOutbox", "AftersaleIngest", "CustomerValue",
                "AftersaleAnalytics", "AftersaleReactor", "ShopSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "aftersale-bench",
            dependencies: ["AftersaleCore", "AftersaleStore", "AftersaleSQLite", "AftersaleProjections", "AftersaleIngest", "ShopSimulator",
                           "BuyTillYouDie", "CSQLite"],
            path: "tools/bench"
        ),
        .testTarget(name: "AftersaleCoreTests", dependencies: ["AftersaleCore"]),
        .testTarget(name: "CustomerValueTests", dependencies: ["CustomerValue", "AftersaleCore", "BuyTillYouDie"]),
        .testTarget(name: "AftersaleStoreTests", dependencies: [
            "AftersaleStore", "AftersaleSQLite", "AftersaleProjections", "AftersaleOutbox", "AftersaleReactor", "AftersaleIngest", "ShopSimulator", "CSQLite",
        ]),
        .testTarget(name: "AftersaleReactorTests", dependencies: ["AftersaleReactor", "AftersaleCore", "ShopSimulator"]),
        .testTarget(name: "AftersaleAnalyticsTests", dependencies: ["AftersaleAnalytics", "AftersaleCore"]),
        .testTarget(name: "BuyTillYouDieTests", dependencies: ["BuyTillYouDie"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ShopSimulatorTests", dependencies: ["ShopSimulator"]),
        .testTarget(name: "AftersaleCLITests", dependencies: [
            "AftersaleAnalytics", "AftersaleOutbox", "AftersaleSQLite",
            "AftersaleCore", "AftersaleStore", .product(name: "CSV", package: "CSV.swift"),
        ]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}
