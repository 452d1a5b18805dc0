import AftersaleSQLite
import Foundation
import Testing

/// `aftersale dispatch --to URL`: due commands as signed webhooks to a receiver on loopback that
/// checks every signature with its own code (tools/receiver/receiver.py), run by the real CLI
/// against a real SQLite file, as cron would run it.
@Suite("Delivering commands as webhooks, end to end", .serialized)
struct DeliveryCommandTests {
    static let secret = "whsec_" + Data((0..<32).map { UInt8(($0 * 37 + 11) % 256) }).base64EncodedString()

    /// The receiver script, on an ephemeral port, logging each request it gets.
    final class Receiver {
        let process = Process()
        let port: Int
        let log: String

        init(mode: String, log: String, delayMilliseconds: Int? = nil) throws {
            self.log = log
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", repositoryRoot.appendingPathComponent("tools/receiver/receiver.py").path, "--port", "0",
                                 "--secret-env", "RECEIVER_SECRET", "--log", log, "--mode", mode]
                + (delayMilliseconds.map { ["--delay-ms", String($0)] } ?? [])
            var env = ProcessInfo.processInfo.environment
            env["RECEIVER_SECRET"] = DeliveryCommandTests.secret
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
            let text = String(decoding: line, as: UTF8.self)
            guard let port = text.split(separator: " ").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
                throw CLIError("the receiver did not start: \(text)")
            }
            self.port = port
        }

        var url: String { "http://127.0.0.1:\(port)/hooks/aftersale" }

        /// Every request so far: id, status answered, whether the signature held, the body.
        func requests() throws -> [[String: Any]] {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        }

        func stop() {
            // SIGKILL: the test process's children may inherit a mask that blocks SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    struct CLIError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// A small shop with commands due, ingested; the clock of the shop's last day.
    func shop(_ cli: CLI) throws -> String {
        try cli.run(["simulate", "--customers", "60", "--days", "60", "--seed", "7", "--out", cli.path("shop.ndjson")])
        #expect(try cli.run(["ingest", "--quiet", cli.path("shop.ndjson")]).status == 0)
        // The day after the shop's last event: its recent commands are due and within the catch-up window.
        return "2024-03-01T12:00:00Z"
    }

    func deliveryCLI() -> CLI {
        var cli = CLI()
        cli.environment["AFTERSALE_WEBHOOK_SECRET"] = DeliveryCommandTests.secret
        return cli
    }

    /// The commands the log records as dispatched, one entry per action.dispatched event.
    func dispatched(_ cli: CLI) throws -> [String] {
        let database = try Database(path: cli.path("aftersale.db"))
        let rows = try database.prepare("SELECT json_extract(data, '$.action') FROM events WHERE type = 'action.dispatched' ORDER BY position")
        var found: [String] = []
        while try rows.step() { found.append(rows.text(0) ?? "") }
        return found
    }

    @Test("a receiver that fails each first try: every command accepted exactly once, one action.dispatched each, the retry after the schedule's 5 s")
    func retriesUntilAccepted() throws {
        let cli = deliveryCLI()
        defer { cli.cleanUp() }
        let now = try shop(cli)
        let receiver = try Receiver(mode: "fail-first", log: cli.path("received.ndjson"))
        defer { receiver.stop() }

        let first = try cli.run(["dispatch", "--now", now, "--to", receiver.url])
        #expect(first.status == 0, "\(first.stderr)")
        let firstTries = try receiver.requests()
        #expect(firstTries.count >= 5, "\(first.stderr)")
        #expect(firstTries.allSatisfy { $0["status"] as? Int == 503 && $0["valid"] as? Bool == true })
        #expect(try dispatched(cli).isEmpty, "nothing accepted, nothing dispatched")

        // The same moment again: no retry is due yet.
        try cli.run(["dispatch", "--now", now, "--to", receiver.url])
        #expect(try receiver.requests().count == firstTries.count)

        // The actions export shows the tries so far while they are being retried (from the queue:
        // the log gets them with the outcome), and where each went once accepted (below).
        func exportedDeliveries() throws -> [String: (to: String, attempts: String, history: [[String: Any]])] {
            let run = try cli.run(["export", "actions", "--out", cli.path("actions.csv")])
            #expect(run.status == 0, "\(run.stderr)")
            let (header, rows) = try readCSV(try String(contentsOfFile: cli.path("actions.csv"), encoding: .utf8))
            let column = { (name: String) in header.firstIndex(of: name)! }
            var found: [String: (to: String, attempts: String, history: [[String: Any]])] = [:]
            for row in rows where !row[column("delivery_history")].isEmpty {
                let history = try JSONSerialization.jsonObject(with: Data(row[column("delivery_history")].utf8)) as? [[String: Any]] ?? []
                found[row[column("action_id")]] = (row[column("delivered_to")], row[column("delivery_attempts")], history)
            }
            return found
        }
        let retrying = try exportedDeliveries()
        #expect(Set(retrying.keys) == Set(firstTries.compactMap { $0["id"] as? String }))
        #expect(retrying.values.allSatisfy { $0.to.isEmpty && $0.attempts == "1" && $0.history.first?["status_code"] as? Int == 503 },
                "\(retrying.values.first.map { "\($0)" } ?? "")")

        // 4 s later still too early; 7 s later (5 s and up to 20% jitter) the retries go.
        try cli.run(["dispatch", "--now", "2024-03-01T12:00:04Z", "--to", receiver.url])
        #expect(try receiver.requests().count == firstTries.count)
        for later in ["2024-03-01T12:00:07Z", "2024-03-01T12:10:00Z", "2024-03-01T13:00:00Z"] {
            let run = try cli.run(["dispatch", "--now", later, "--to", receiver.url])
            #expect(run.status == 0, "\(run.stderr)")
        }
        let requests = try receiver.requests()
        #expect(requests.allSatisfy { $0["valid"] as? Bool == true }, "every signature checks out with the receiver's own code")
        let accepted = requests.filter { $0["status"] as? Int == 200 }.compactMap { $0["id"] as? String }
        #expect(Set(accepted).count == accepted.count, "accepted once each")
        #expect(Set(firstTries.compactMap { $0["id"] as? String }).isSubset(of: Set(accepted)))
        let events = try dispatched(cli)
        #expect(events.sorted() == accepted.sorted(), "one action.dispatched per accepted command")
        // Every member of the hand-off events (and of their tries) is one events/schemas documents.
        let schema = try JSONSerialization.jsonObject(with: Data(contentsOf: repositoryRoot.appendingPathComponent(
            "events/schemas/action.dispatched.schema.json"))) as? [String: Any]
        let dataSchema = ((schema?["properties"] as? [String: Any])?["data"] as? [String: Any])?["properties"] as? [String: Any] ?? [:]
        let trySchema = ((dataSchema["attempts"] as? [String: Any])?["items"] as? [String: Any])?["properties"] as? [String: Any] ?? [:]
        let database = try Database(path: cli.path("aftersale.db"))
        let handOffs = try database.prepare("SELECT data FROM events WHERE type = 'action.dispatched' AND json_extract(data, '$.destination') IS NOT NULL")
        var documented = 0
        while try handOffs.step() {
            let data = try #require(try JSONSerialization.jsonObject(with: Data((handOffs.text(0) ?? "").utf8)) as? [String: Any])
            #expect(Set(data.keys).isSubset(of: Set(dataSchema.keys)), "undocumented: \(Set(data.keys).subtracting(dataSchema.keys))")
            for attempt in data["attempts"] as? [[String: Any]] ?? [] {
                #expect(Set(attempt.keys).isSubset(of: Set(trySchema.keys)), "undocumented: \(Set(attempt.keys).subtracting(trySchema.keys))")
            }
            documented += 1
        }
        #expect(documented == accepted.count)
        let delivered = try exportedDeliveries()
        for id in retrying.keys {
            let row = try #require(delivered[id])
            #expect(row.to == "dispatch-to" && row.attempts == "2" && row.history.map { $0["status_code"] as? Int } == [503, 200], "\(row)")
        }

        // Each command's tries, as `actions` shows them: a 503, then a 200; those first tried at the
        // first run, retried 5 s later plus up to 20% jitter.
        let firstIDs = Set(firstTries.compactMap { $0["id"] as? String })
        let actions = try cli.run(["actions", "--now", "2024-03-01T13:00:00Z", "--status", "all", "--json"]).stdout
        var checked = 0
        for line in actions.split(separator: "\n") {
            let command = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard let delivery = command["delivery"] as? [String: Any], let attempts = delivery["attempts"] as? [[String: Any]],
                  attempts.count >= 2 else { continue }
            #expect(delivery["state"] as? String == "delivered")
            #expect(attempts[0]["status_code"] as? Int == 503 && attempts[1]["status_code"] as? Int == 200)
            if firstIDs.contains(command["id"] as? String ?? "") {
                let retryAt = try #require(attempts[0]["retry_at"] as? String)
                #expect(retryAt.hasPrefix("2024-03-01T12:00:05") || retryAt == "2024-03-01T12:00:06Z", "\(retryAt)")
            }
            checked += 1
        }
        #expect(checked == accepted.count)
        // A replay shows each delivery's tries beside the dispatch they ended in.
        let (retriedID, customer) = try #require(actions.split(separator: "\n").lazy.compactMap { line -> (String, String)? in
            guard let command = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let id = command["id"] as? String, retrying[id] != nil, let customer = command["customer"] as? String else { return nil }
            return (id, customer)
        }.first)
        let replay = try cli.run(["replay", "--customer", customer, "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        let handedOff = try replay.stdout.split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["id"] as? String == retriedID && $0["change"] as? String == "dispatched" }
        let delivery = try #require(handedOff.first?["delivery"] as? [String: Any], "\(replay.stdout)")
        #expect(delivery["destination"] as? String == "dispatch-to")
        #expect((delivery["attempts"] as? [[String: Any]])?.map { $0["status_code"] as? Int } == [503, 200], "\(delivery)")
        let text = try cli.run(["replay", "--customer", customer])
        #expect(text.stdout.contains("(webhook to dispatch-to, 2 tries)"), "\(text.stdout)")
        // The body carries what a mailer needs.
        let body = try #require(requests.first?["body"] as? [String: Any])
        #expect(body["type"] as? String == "aftersale.command")
        #expect((body["recipient"] as? [String: Any])?["customer"] as? String == body["customer"] as? String)
    }

    @Test("a command cancelled while its delivery waits for a retry is not sent again, and its delivery says dropped")
    func cancelledWhileRetrying() throws {
        let cli = deliveryCLI()
        defer { cli.cleanUp() }
        let now = try shop(cli)
        let receiver = try Receiver(mode: "fail-first", log: cli.path("received.ndjson"))
        defer { receiver.stop() }
        try cli.run(["dispatch", "--now", now, "--to", receiver.url])
        let first = try #require(try receiver.requests().first?["id"] as? String)
        // What a later event does to a pending command (a return makes a review request moot).
        let database = try Database(path: cli.path("aftersale.db"))
        try database.execute("UPDATE outbox SET status = 'cancelled', status_reason = 'moot', cancelled_by = 'e-later' WHERE id = '\(first)'")
        let run = try cli.run(["dispatch", "--now", "2024-03-01T12:00:07Z", "--to", receiver.url])
        #expect(run.status == 0, "\(run.stderr)")
        let tries = try receiver.requests().filter { $0["id"] as? String == first }
        #expect(tries.count == 1, "the cancelled command went once, before it was cancelled")
        #expect(try receiver.requests().contains { $0["status"] as? Int == 200 }, "the others were retried and accepted")
        let line = try cli.run(["actions", "--now", "2024-03-01T12:00:07Z", "--status", "all", "--json"]).stdout
            .split(separator: "\n").first { $0.contains("\"id\":\"\(first)\"") }
        #expect(line?.contains(#""state":"dropped""#) == true, "\(line ?? "")")
        #expect(!(try dispatched(cli).contains(first)))
    }

    @Test("a whole fetch of deliveries made moot does not end the run: the ones queued behind them still go")
    func fullFetchDropped() throws {
        let cli = deliveryCLI()
        defer { cli.cleanUp() }
        try cli.run(["simulate", "--customers", "400", "--days", "60", "--seed", "7", "--out", cli.path("shop.ndjson")])
        #expect(try cli.run(["ingest", "--quiet", cli.path("shop.ndjson")]).status == 0)
        let receiver = try Receiver(mode: "fail-first", log: cli.path("received.ndjson"))
        defer { receiver.stop() }
        // One connection: a run asks the queue for sixteen deliveries at a time.
        try #"{"webhooks": {"destinations": [{"name": "one", "url": "\#(receiver.url)", "concurrency": 1}]}}"#
            .write(toFile: cli.path("one.json"), atomically: true, encoding: .utf8)
        let first = try cli.run(["dispatch", "--now", "2024-03-01T12:00:00Z", "--config", cli.path("one.json")])
        #expect(first.status == 0, "\(first.stderr)")
        let firstTries = Set(try receiver.requests().compactMap { $0["id"] as? String })
        try #require(firstTries.count > 16, "\(firstTries.count) first tries")
        // The first sixteen the next run will ask for (each customer's first queued delivery, in
        // retry order) are made moot, as a later event would.
        let database = try Database(path: cli.path("aftersale.db"))
        let due = try database.prepare("""
            SELECT d.command FROM deliveries d WHERE d.state = 'queued'
              AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.customer = d.customer AND e.state = 'queued'
                              AND (e.due < d.due OR (e.due = d.due AND e.command < d.command)))
            ORDER BY d.next_attempt LIMIT 16
            """)
        var moot: [String] = []
        while try due.step() { moot.append(due.text(0) ?? "") }
        for id in moot {
            try database.execute("UPDATE outbox SET status = 'cancelled', status_reason = 'moot', cancelled_by = 'e-later' WHERE id = '\(id)'")
        }
        let run = try cli.run(["dispatch", "--now", "2024-03-01T12:00:07Z", "--config", cli.path("one.json")])
        #expect(run.status == 0, "\(run.stderr)")
        let accepted = Set(try receiver.requests().filter { $0["status"] as? Int == 200 }.compactMap { $0["id"] as? String })
        #expect(accepted == firstTries.subtracting(moot), "\(run.stderr)")
    }

    @Test("410 Gone fails that command and disables the destination; the rest wait until it is enabled; a failed one is sent again by redeliver")
    func goneDisables() throws {
        let cli = deliveryCLI()
        defer { cli.cleanUp() }
        let now = try shop(cli)
        let gone = try Receiver(mode: "gone", log: cli.path("gone.ndjson"))
        let run = try cli.run(["dispatch", "--now", now, "--to", gone.url])
        gone.stop()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("disabled after 410 Gone"), "\(run.stderr)")
        let goneRequests = try gone.requests()
        // Only the first wave reached it: the rest wait for the destination.
        let failed = try cli.run(["actions", "--now", now, "--status", "failed", "--json"]).stdout.split(separator: "\n")
        #expect(failed.count == goneRequests.count && !failed.isEmpty)
        let listed = try cli.run(["destinations"])
        #expect(listed.stdout.contains("dispatch-to"), "\(listed.stdout)")

        // `--to` is one destination whatever its URL: disabled until enabled.
        let accept = try Receiver(mode: "accept", log: cli.path("accept.ndjson"))
        defer { accept.stop() }
        try cli.run(["dispatch", "--now", now, "--to", accept.url])
        #expect(try accept.requests().isEmpty, "a disabled destination gets nothing")
        #expect(try cli.run(["destinations", "--enable", "dispatch-to"]).status == 0)
        let enabled = try cli.run(["dispatch", "--now", now, "--to", accept.url])
        #expect(enabled.status == 0, "\(enabled.stderr)")
        #expect(try accept.requests().count > 0, "\(enabled.stderr)")
        let failedID = try #require((try JSONSerialization.jsonObject(with: Data(failed[0].utf8)) as? [String: Any])?["id"] as? String)
        #expect(!(try dispatched(cli).contains(failedID)))
        let again = try cli.run(["redeliver", "--now", now, failedID])
        #expect(again.status == 0, "\(again.stderr)")
        try cli.run(["dispatch", "--now", now, "--to", accept.url])
        #expect(try accept.requests().contains { $0["id"] as? String == failedID && $0["status"] as? Int == 200 })
        #expect(try dispatched(cli).contains(failedID), "a redelivered command is dispatched once accepted")
        let status = try cli.run(["actions", "--now", now, "--status", "all", "--json"]).stdout.split(separator: "\n").first { $0.contains("\"\(failedID)\"") }
        #expect(status?.contains(#""status":"dispatched""#) == true, "\(status ?? "")")
    }

    @Test("kill -9 while deliveries are in flight: the next run sends the same webhook-ids again and no command gets a second action.dispatched")
    func killedMidDelivery() throws {
        let cli = deliveryCLI()
        defer { cli.cleanUp() }
        let now = try shop(cli)
        let slow = try Receiver(mode: "accept", log: cli.path("slow.ndjson"), delayMilliseconds: 400)
        defer { slow.stop() }
        let (process, _, _) = try cli.start(["dispatch", "--now", now, "--to", slow.url])
        let deadline = Date().addingTimeInterval(30)
        while try slow.requests().isEmpty, Date() < deadline { usleep(5_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!(try slow.requests().isEmpty))
        let rerun = try cli.run(["dispatch", "--now", now, "--to", slow.url])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let ids = try slow.requests().compactMap { $0["id"] as? String }
        #expect(Set(ids).count < ids.count, "a try whose answer was not recorded is sent again with the same id")
        let events = try dispatched(cli)
        #expect(Set(events).count == events.count, "one action.dispatched per command")
        #expect(Set(events) == Set(ids), "every command sent is recorded once")
    }
}
