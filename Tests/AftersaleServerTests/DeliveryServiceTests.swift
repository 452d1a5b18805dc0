import AftersaleCore
import AftersaleDelivery
import AftersaleServer
import AftersaleStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// The service delivers what its engine decides, to a receiver on loopback that checks every
/// signature with its own code (tools/receiver/receiver.py).
@Suite("delivery in the service")
struct DeliveryServiceTests {
    static let secret = "whsec_" + Data((0..<32).map { UInt8(($0 * 53 + 5) % 256) }).base64EncodedString()

    /// The receiver script on an ephemeral port; its log holds one JSON line per request.
    final class Receiver: @unchecked Sendable {
        let process = Process()
        let port: Int
        let log: String

        init(log: String) throws {
            self.log = log
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", root.appendingPathComponent("tools/receiver/receiver.py").path, "--port", "0",
                                 "--secret-env", "RECEIVER_SECRET", "--log", log, "--mode", "fail-first"]
            var env = ProcessInfo.processInfo.environment
            env["RECEIVER_SECRET"] = DeliveryServiceTests.secret
            process.environment = env
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                line += chunk
            }
            port = try #require(String(decoding: line, as: UTF8.self).split(separator: " ").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        }

        func requests() throws -> [JSONValue] {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map { try JSONParser.parse(String($0)) }
        }

        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test("events sent over HTTP become commands delivered by the service: each accepted once after a retry the clock brings due, one action.dispatched each, counted in /metrics")
    func servesAndDelivers() async throws {
        let lines = try LiveEngineTests.shop(customers: 60, days: 60, seed: 7)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-receiver-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let receiver = try Receiver(log: folder.appendingPathComponent("received.ndjson").path)
        defer { receiver.stop() }
        // The day after the shop's last event, so its recent commands are due.
        let server = try TestServer(now: "2024-03-01T12:00:00Z") { settings in
            settings.delivery.destinations = [Destination(name: "hooks", url: "http://127.0.0.1:\(receiver.port)/aftersale")]
            settings.delivery.secrets = [try! WebhookSecret(DeliveryServiceTests.secret)]
            settings.delivery.intervalSeconds = 0.05
            // Releases of one customer each, as a backlog goes: every due command still goes out.
            settings.deliveryCustomersPerRelease = 1
        }
        let delivery = try #require(server.parts.delivery)
        try await server.test { client in
            let sent = try await client.execute(uri: "/v1/events", method: .post, headers: bearer, body: buffer(lines.joined(separator: "\n")))
            #expect(sent.status == .ok)
            // The engine and delivery share the reactor's checkpoint; under a busy machine (the whole
            // suite at once) catching up takes longer than the usual wait.
            for _ in 0..<1500 {
                if try await client.execute(uri: "/readyz", method: .get) { $0.status == .ok } { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            // Every first try is answered 503: nothing is accepted until the clock passes the retry.
            try await DeliveryServiceTests.waitFor { try receiver.requests().count >= 5 && delivery.status.retrying > 0 }
            #expect(try receiver.requests().allSatisfy { $0["status"]?.intValue == 503 })
            // Ten minutes at a time: each customer's next command goes once the one before is
            // accepted, and its own first try fails too. Releases go one customer at a time: before
            // the clock moves, they go round every command due by then (each released to delivery,
            // or held back for good), so that nothing due is left behind.
            let outbox = try EventLog(path: server.path)
            var clock = try Timestamp.parse("2024-03-01T12:00:00Z")
            func unreleased() throws -> Int64 {
                try outbox.database.scalarInt("""
                    SELECT count(*) FROM outbox WHERE status = 'pending' AND due <= \(clock.millis)
                        AND id NOT IN (SELECT command FROM deliveries)
                    """) ?? -1
            }
            for _ in 0..<12 {
                try await DeliveryServiceTests.waitFor { try unreleased() == 0 }
                if delivery.status.queued == 0 && delivery.status.delivered > 0 { break }
                clock = clock.adding(millis: 10 * 60 * 1000)
                server.clock.set(clock)
                let runs = delivery.status.runs
                try await DeliveryServiceTests.waitFor { delivery.status.runs >= runs + 2 }
            }
            #expect(delivery.status.queued == 0 && delivery.status.delivered > 0, "\(delivery.status)")
            #expect(delivery.status.lastError == nil, "\(delivery.status)")
            #expect(try unreleased() == 0)
            #expect(try outbox.database.scalarInt("SELECT count(DISTINCT customer) FROM outbox WHERE status = 'dispatched'") ?? 0 > 3)

            let requests = try receiver.requests()
            #expect(requests.allSatisfy { $0["valid"] == .bool(true) }, "every signature checks out with the receiver's own code")
            let accepted = requests.filter { $0["status"]?.intValue == 200 }.compactMap { $0["id"]?.stringValue }
            #expect(Set(accepted).count == accepted.count && !accepted.isEmpty)
            let log = try EventLog(path: server.path)
            var dispatched: [String] = []
            try log.read(types: [.actionDispatched]) { dispatched.append($0.event.data["action"]?.stringValue ?? "") }
            #expect(dispatched.sorted() == accepted.sorted())
            let metrics = try await client.execute(uri: "/metrics", method: .get) { $0.text }
            #expect(metrics.contains(#"aftersale_deliveries_total{outcome="delivered"} \#(accepted.count)"#), "\(metrics)")
            #expect(metrics.contains("aftersale_delivery_queued 0"))
        }
    }

    static func waitFor(_ condition: () throws -> Bool) async throws {
        for _ in 0..<600 {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("not reached in 12 s")
    }
}
