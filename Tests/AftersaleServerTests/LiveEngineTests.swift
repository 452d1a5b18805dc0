import AftersaleCore
import AftersaleIngest
import AftersaleOutbox
import AftersaleProjections
import AftersaleReactor
import AftersaleServer
import AftersaleStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import ShopSimulator
import Testing

@Suite("the live engine decides as a batch run does")
struct LiveEngineTests {
    /// A simulated shop's events, one line each, in the order the shop sent them.
    static func shop(customers: Int, days: Int, seed: UInt64) throws -> [String] {
        var configuration = SimulationConfiguration(seed: seed, customers: customers)
        configuration.days = days
        var bytes: [UInt8] = []
        _ = try ShopSimulation(configuration).writeNDJSON { bytes += $0 }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Waits until the engine has run at `time` with nothing left behind.
    static func waitForEngine(_ server: TestServer, at time: Timestamp) async throws {
        for _ in 0..<1000 {
            let s = server.parts.engine.status
            if s.isCaughtUp(through: server.parts.intake.lastAppended) && s.reactorClock == time { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("the engine did not catch up by \(time)")
    }

    /// Every command with everything decided about it, in a stable order.
    static func outbox(_ path: String) throws -> [String] {
        let log = try EventLog(path: path)
        return try ReactorStore(log: log).commands().map { $0.jsonText() }.sorted()
    }

    @Test("a shop sent over HTTP as it happens, the engine running on each request, gets the commands `ingest` and `actions` give")
    func liveEqualsBatch() async throws {
        let lines = try LiveEngineTests.shop(customers: 120, days: 240, seed: 7)
        let end = try Timestamp.parse("2024-09-15T00:00:00Z")
        let server = try TestServer(now: "2024-01-01T00:00:00Z")
        let batch = server.folder.appendingPathComponent("batch.db").path
        let file = server.folder.appendingPathComponent("shop.ndjson").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)

        // The batch way: the whole file, then the reactor brought up to the end.
        let log = try EventLog(path: batch)
        try log.attachVault(environment: [:])  // as the command line and the service do: personal data sealed
        _ = try Ingester(log: log, options: IngestOptions(now: end)).ingest([file])
        try CustomerProjection(log: log).catchUp()
        try ReactorStore(log: log).run(until: end, engine: ReactorEngine.withFittedModels(configuration: ReactorConfiguration()))
        let expected = try LiveEngineTests.outbox(batch)
        #expect(expected.count > 100)

        try await server.test { client in
            // The events arrive as they happen: each group when its last event has happened, and
            // the engine runs on each as it comes (the clock never runs ahead of what was sent).
            for start in stride(from: 0, to: lines.count, by: 100) {
                let group = lines[start..<min(start + 100, lines.count)]
                let sentAt = try group.map { line in try Timestamp.parse(String(line.split(separator: "\"at\":\"")[1].prefix { $0 != "\"" })) }.max()!
                server.clock.set(sentAt)
                try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(group.joined(separator: "\n"))) { r in
                    #expect(r.status == .ok)
                }
                try await LiveEngineTests.waitForEngine(server, at: sentAt)
            }
            server.clock.set(end)
            server.parts.engine.wake()
            try await LiveEngineTests.waitForEngine(server, at: end)
            let live = try LiveEngineTests.outbox(server.path)
            #expect(live.count == expected.count)
            #expect(live == expected)
            if live != expected {
                for line in Set(live).symmetricDifference(expected).sorted() { print((expected.contains(line) ? "batch only: " : "live only: ") + line) }
            }
        }
    }
}
