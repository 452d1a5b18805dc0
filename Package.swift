// swift-tools-version:6.2
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
        // The service (`aftersale serve`): HTTP, shutdown, logs, metrics, signatures.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Tests and tools: a real HTTP client for the service.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Already in the graph through the two above; named for aftersale-load's own HTTP client.
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
    ],
    targets: [
        // Debian's libsqlite3, the only C this package imports (only AftersaleSQLite imports it).
        .systemLibrary(
            name: "CSQLite",
            path: "Sources/CSQLite",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // glibc's malloc.h (allocator statistics for the service's metrics): a header, nothing to link.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // AES-GCM with a key's context made once, from the BoringSSL inside swift-crypto: a header
        // (see its comment), linked through the `Crypto` product.
        .systemLibrary(name: "CSealing", path: "Sources/CSealing"),
        // The pure core: events, money, validation, folds and policies. No I/O, no clock.
        .target(name: "AftersaleCore"),
        // Lifetime value: the models applied to customers (pure).
        .target(name: "CustomerValue", dependencies: ["AftersaleCore", "BuyTillYouDie"]),
        // Buy-till-you-die models (BG/NBD, Pareto/NBD, Gamma-Gamma): pure numerics.
        .target(name: "BuyTillYouDie"),
        // SQLite under the storage layer: connections, statements, transactions, checkpoints.
        // Only the storage modules (log, projections, outbox) depend on it.
        .target(name: "AftersaleSQLite", dependencies: ["CSQLite", .target(name: "CMalloc", condition: .when(platforms: [.linux]))]),
        // The event log: append, read, streams and facts. Its public face has no SQLite in it.
        .target(name: "AftersaleStore", dependencies: ["AftersaleCore", "AftersaleSQLite", "CSealing",
                                                     .product(name: "Crypto", package: "swift-crypto")]),
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
        // Events from other platforms (Shopify webhooks, Segment/RudderStack calls) as catalogue
        // envelopes: pure mappings, validated afterwards by the same validator as `ingest`.
        .target(name: "AftersaleSources", dependencies: ["AftersaleCore"]),
        // `aftersale serve`: HTTP intake with group commit, the live engine, reads and metrics.
        .target(name: "AftersaleServer", dependencies: [
            "AftersaleCore", "AftersaleStore", "AftersaleProjections", "AftersaleOutbox", "AftersaleIngest", "AftersaleReactor",
            "AftersaleAnalytics", "AftersaleSources", "CustomerValue", "AftersaleDelivery", "AftersaleSQLite",
            .target(name: "CMalloc", condition: .when(platforms: [.linux])),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        // Delivering commands as signed webhooks (Standard Webhooks): signing, bodies, the delivery
        // queue with its retries, and the HTTP sender, used by `dispatch --to` and by `serve`.
        .target(name: "AftersaleDelivery", dependencies: [
            "AftersaleCore", "AftersaleStore", "AftersaleSQLite", "AftersaleOutbox", "AftersaleReactor",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // A shop simulator with known truth (tools/: generators, benchmarks, converters).
        .target(name: "ShopSimulator", dependencies: ["AftersaleCore"], path: "tools/ShopSimulator"),
        // The thin command-line shell: parses arguments, calls one library function, prints.
        .executableTarget(
            name: "aftersale",
            dependencies: [
                "AftersaleCore", "AftersaleStore", "AftersaleProjections", "AftersaleOutbox", "AftersaleIngest", "CustomerValue",
                "AftersaleAnalytics", "AftersaleReactor", "ShopSimulator", "AftersaleServer", "AftersaleDelivery",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .executableTarget(
            name: "aftersale-bench",
            dependencies: ["AftersaleCore", "AftersaleStore", "AftersaleSQLite", "AftersaleProjections", "AftersaleIngest", "ShopSimulator",
                           "BuyTillYouDie", "CSQLite", "CSealing", .product(name: "Crypto", package: "swift-crypto")],
            path: "tools/bench"
        ),
        // The service under load over loopback, beside `ingest` of the same events.
        .executableTarget(
            name: "aftersale-load",
            dependencies: ["ShopSimulator", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "Crypto", package: "swift-crypto"), .product(name: "Hummingbird", package: "hummingbird")],
            path: "tools/load"
        ),
        .testTarget(name: "AftersaleCoreTests", dependencies: ["AftersaleCore"]),
        .testTarget(name: "CustomerValueTests", dependencies: ["CustomerValue", "AftersaleCore", "BuyTillYouDie"]),
        .testTarget(name: "AftersaleStoreTests", dependencies: [
            "AftersaleStore", "AftersaleSQLite", "AftersaleProjections", "AftersaleOutbox", "AftersaleReactor", "AftersaleIngest", "ShopSimulator", "CSQLite",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "AftersaleReactorTests", dependencies: ["AftersaleReactor", "AftersaleCore", "ShopSimulator", "CustomerValue", "BuyTillYouDie"]),
        .testTarget(name: "AftersaleAnalyticsTests", dependencies: ["AftersaleAnalytics", "AftersaleCore"]),
        .testTarget(name: "BuyTillYouDieTests", dependencies: ["BuyTillYouDie"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ShopSimulatorTests", dependencies: ["ShopSimulator"]),
        .testTarget(name: "AftersaleSourcesTests", dependencies: ["AftersaleSources", "AftersaleCore"]),
        .testTarget(name: "AftersaleServerTests", dependencies: [
            "AftersaleServer", "AftersaleCore", "AftersaleStore", "AftersaleOutbox", "AftersaleIngest", "AftersaleReactor",
            "AftersaleProjections", "ShopSimulator", "AftersaleDelivery", "AftersaleSQLite", "AftersaleSources",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "AftersaleDeliveryTests", dependencies: [
            "AftersaleDelivery", "AftersaleCore", "AftersaleStore", "AftersaleOutbox", "AftersaleReactor", "AftersaleSQLite",
        ]),
        .testTarget(name: "AftersaleCLITests", dependencies: [
            "AftersaleAnalytics", "AftersaleOutbox", "AftersaleSQLite",
            "AftersaleCore", "AftersaleStore", .product(name: "CSV", package: "CSV.swift"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}
