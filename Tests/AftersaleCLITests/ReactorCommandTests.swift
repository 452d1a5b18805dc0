import AftersaleCore
import AftersaleStore
import AftersaleSQLite
import AftersaleProjections
import AftersaleOutbox
import Foundation
import Testing

/// Writes events one per line from compact literals.
func ndjson(_ lines: [String]) -> String { lines.joined(separator: "\n") + "\n" }

func commandsJSON(_ text: String) throws -> [[String: Any]] {
    try text.split(separator: "\n").map { try json(String($0)) }
}

/// A customer's post-purchase life as the shop's webhooks would send it.
let annaJourney = [
    #"{"id":"a1","type":"customer.registered","customer":"anna","at":"2025-03-01T09:00:00Z","data":{"email":"anna@example.com","timezone":"Europe/Berlin","consent":{"email":true,"sms":false}}}"#,
    #"{"id":"a2","type":"order.placed","customer":"anna","at":"2025-03-01T10:00:00Z","data":{"order":"o-1","total":"59.80","currency":"EUR","lines":[{"sku":"RUN-42","quantity":1,"price":"59.80","category":"footwear","name":"Trail runner"}]}}"#,
    #"{"id":"a3","type":"shipment.dispatched","customer":"anna","at":"2025-03-02T08:00:00Z","data":{"order":"o-1","carrier":"DHL","tracking":"JJD0001"}}"#,
    #"{"id":"a4","type":"shipment.delivered","customer":"anna","at":"2025-03-04T15:00:00Z","data":{"order":"o-1"}}"#,
]

@Suite("actions, dispatch and replay, end to end", .serialized)
struct ReactorCommandTests {
    @Test("a delivered order gets its confirmation, dispatch notice and a review request 7 days after delivery")
    func reviewRequestAfterDelivery() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        #expect(try cli.run(["ingest", cli.write("anna.ndjson", ndjson(annaJourney))]).status == 0)
        let early = try commandsJSON(try cli.run(["actions", "--now", "2025-03-05T12:00:00Z", "--json"]).stdout)
        #expect(Set(early.compactMap { $0["kind"] as? String }).isSuperset(of: ["order_confirmation", "dispatch_notice"]))
        #expect(!early.contains { $0["kind"] as? String == "review_request" }, "not before 7 days after delivery")

        let later = try commandsJSON(try cli.run(["actions", "--now", "2025-03-12T12:00:00Z", "--json", "--customer", "anna"]).stdout)
        let request = try #require(later.first { $0["kind"] as? String == "review_request" })
        #expect(request["channel"] as? String == "email" && request["status"] as? String == "pending")
        #expect((request["due"] as? String ?? "") >= "2025-03-11T15:00:00Z")
        #expect(((request["payload"] as? [String: Any])?["skus"] as? [String]) == ["RUN-42"])
        #expect((request["reason"] as? String)?.contains("deliver") == true, "the reason says why: \(request["reason"] ?? "")")
        for command in later {
            for field in ["id", "customer", "kind", "channel", "due", "reason", "status"] { #expect(command[field] != nil, "\(field) missing") }
        }
    }

    @Test("a returned order's review request is cancelled, with the cancelling event recorded")
    func returnCancelsReviewRequest() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let returned = annaJourney + [#"{"id":"a5","type":"return.requested","customer":"anna","at":"2025-03-06T10:00:00Z","data":{"order":"o-1","return":"r-1","reason":"too small"}}"#]
        try cli.run(["ingest", cli.write("anna.ndjson", ndjson(returned))])
        let all = try commandsJSON(try cli.run(["actions", "--now", "2025-03-20T12:00:00Z", "--json", "--status", "all"]).stdout)
        let request = try #require(all.first { $0["kind"] as? String == "review_request" })
        #expect(request["status"] as? String == "cancelled")
        #expect(request["cancelled_by"] as? String == "a5")
        #expect(all.contains { $0["kind"] as? String == "return_confirmation" })
    }

    @Test("consent refused on every channel: marketing is suppressed with the reason, not lost")
    func consentSuppresses() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let refused = annaJourney.map { $0.replacingOccurrences(of: #""consent":{"email":true,"sms":false}"#, with: #""consent":{"email":false,"sms":false}"#) }
        try cli.run(["ingest", cli.write("anna.ndjson", ndjson(refused))])
        let all = try commandsJSON(try cli.run(["actions", "--now", "2025-03-20T12:00:00Z", "--json", "--status", "all"]).stdout)
        let request = try #require(all.first { $0["kind"] as? String == "review_request" })
        #expect(request["status"] as? String == "suppressed")
        #expect((request["status_reason"] as? String)?.contains("consent") == true, "\(request["status_reason"] ?? "")")
    }

    @Test("dispatch hands due commands out once, records action.dispatched events, and a second dispatch sends nothing")
    func dispatchOnce() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        try cli.run(["ingest", cli.write("anna.ndjson", ndjson(annaJourney))])
        let first = try cli.run(["dispatch", "--now", "2025-03-05T12:00:00Z", "--out", cli.path("out1.ndjson")])
        #expect(first.status == 0, "\(first.stderr)")
        let sent = try commandsJSON(try String(contentsOfFile: cli.path("out1.ndjson"), encoding: .utf8))
        #expect(sent.count >= 2 && sent.allSatisfy { $0["status"] as? String == "dispatched" })
        let byType = try #require(try json(try cli.run(["log", "--json"]).stdout)["by_type"] as? [String: Int])
        #expect(byType["action.dispatched"] == sent.count)
        let second = try cli.run(["dispatch", "--now", "2025-03-05T12:00:00Z", "--out", cli.path("out2.ndjson")])
        #expect(try String(contentsOfFile: cli.path("out2.ndjson"), encoding: .utf8).isEmpty, "\(second.stderr)")
        let statuses = try commandsJSON(try cli.run(["actions", "--now", "2025-03-05T12:00:00Z", "--json", "--status", "all"]).stdout)
        for command in sent {
            #expect(statuses.first { $0["id"] as? String == command["id"] as? String }?["status"] as? String == "dispatched")
        }
    }

    @Test("a bad configuration is a clear error at start naming the setting")
    func badConfiguration() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let config = cli.write("bad.json", #"{"review_request": {"window_days": [15, 7]}}"#)
        let result = try cli.run(["actions", "--config", config, "--now", "2025-03-05T12:00:00Z"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("review_request.window_days"), "\(result.stderr)")
        let good = cli.write("good.json", #"{"review_request": {"window_days": [10, 15]}}"#)
        try cli.run(["ingest", cli.write("anna.ndjson", ndjson(annaJourney))])
        let later = try commandsJSON(try cli.run(["actions", "--config", good, "--now", "2025-03-20T12:00:00Z", "--json"]).stdout)
        let request = try #require(later.first { $0["kind"] as? String == "review_request" })
        #expect((request["due"] as? String ?? "") >= "2025-03-14T15:00:00Z", "the configured window moves the request")
    }

    @Test("running the reactor twice, or killing it mid-way and rerunning, gives the same outbox")
    func idempotentAndCrashSafe() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        try cli.run(["simulate", "--customers", "400", "--days", "400", "--seed", "3", "--out", cli.path("shop.ndjson")])
        try cli.run(["ingest", "--quiet", cli.path("shop.ndjson")])
        let db = cli.path("aftersale.db")
        try cli.copyDatabase(db, to: cli.path("copy.db"))
        let now = "2025-02-05T12:00:00Z"
        let once = try cli.run(["actions", "--now", now, "--status", "all", "--json"]).stdout
        let twice = try cli.run(["actions", "--now", now, "--status", "all", "--json"]).stdout
        #expect(!once.isEmpty && once == twice)

        // The copy: kill the reactor mid-run, then run it again. Mid-run is once its store is set
        // up (the index it creates last is there) and a transaction holds the write lock: the run's.
        let (process, _, _) = try cli.start(["actions", "--db", cli.path("copy.db"), "--now", now])
        let probe = try Database(path: cli.path("copy.db"))
        try probe.execute("PRAGMA busy_timeout=0")
        func running() throws -> Bool {
            guard try probe.scalarInt("SELECT count(*) FROM sqlite_schema WHERE name = 'reactor_customers_next_tick'") == 1 else { return false }
            do {
                try probe.execute("BEGIN IMMEDIATE")
                try probe.execute("ROLLBACK")
                return false
            } catch where error.isBusy {
                return true
            }
        }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline, try !running() { usleep(1000) }
        #expect(process.isRunning, "the run finished before it could be killed; make the shop larger")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let store = try ReactorStore(log: try EventLog(path: cli.path("copy.db")))
        #expect(try store.commands().isEmpty && store.checkpoint() == 0, "the killed run left nothing behind: it commits whole or not at all")
        let resumed = try cli.run(["actions", "--db", cli.path("copy.db"), "--now", now, "--status", "all", "--json"]).stdout
        #expect(resumed == once)
    }

    @Test("runs that load only the customers they need give the outbox of one run that loads everyone")
    func partialLoads() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        try cli.run(["simulate", "--customers", "200", "--days", "120", "--seed", "4", "--out", cli.path("shop.ndjson")])
        try cli.run(["ingest", "--quiet", cli.path("shop.ndjson")])
        // With a model, win-back and VIP are judged as forecasts change: their wakes are stored too.
        try cli.run(["fit", "--min-repeat-buyers", "20", "--as-of", "2024-04-29"])
        try cli.copyDatabase(cli.path("aftersale.db"), to: cli.path("once.db"))
        // Every third day for two months after the shop's period: after the first run, each run
        // loads only the customers with a tick due, not the shop.
        var day = CivilDate(year: 2024, month: 4, day: 30).daysSinceEpoch
        let end = CivilDate(year: 2024, month: 6, day: 30).daysSinceEpoch
        var loaded: [Int] = []
        while day <= end {
            let now = "\(CivilDate(daysSinceEpoch: day))T09:30:00Z"
            let run = try cli.run(["actions", "--now", now])
            #expect(run.status == 0)
            let counts = run.stderr.split(separator: "\n").first { $0.hasPrefix("reactor: ") }?.prefix { $0 != ";" }.split(separator: " ").compactMap { Int($0) } ?? []
            loaded.append(counts.count == 3 ? counts[1] : -1)
            day += 3
        }
        #expect(loaded.first == 0, "the first run finds no customer stored: \(loaded)")
        // A forecast holds for a 28-day period: a run into a new one judges every customer's new
        // forecast (two months cross two or three such boundaries); the others load those due.
        #expect(loaded.allSatisfy { $0 >= 0 }, "\(loaded)")
        #expect(loaded.dropFirst().filter { $0 >= 60 }.count <= 3, "later runs load the customers due: \(loaded)")
        #expect(loaded.dropFirst().contains { $0 > 0 }, "some are due: \(loaded)")
        // Other settings can move anyone's next tick: a run under new settings judges every customer again.
        try cli.copyDatabase(cli.path("aftersale.db"), to: cli.path("settings.db"))
        let config = cli.path("grace.json")
        try #"{"win_back": {"overdue_grace_days": 21}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        var underSettings: [Int] = []
        for settings in [nil, config, config] {
            let run = try cli.run(["actions", "--db", cli.path("settings.db"), "--now", "2024-07-01T09:30:00Z"] + (settings.map { ["--config", $0] } ?? []))
            let counts = run.stderr.split(separator: "\n").first { $0.hasPrefix("reactor: ") }?.prefix { $0 != ";" }.split(separator: " ").compactMap { Int($0) } ?? []
            underSettings.append(counts.count == 3 ? counts[1] : -1)
        }
        #expect(underSettings[1] == 200 && underSettings[0] < 60 && underSettings[2] < 60, "\(underSettings)")
        let final = "2024-07-01T09:30:00Z"
        let stepwise = try cli.run(["actions", "--now", final, "--status", "all", "--json"]).stdout
        let once = try cli.run(["actions", "--db", cli.path("once.db"), "--now", final, "--status", "all", "--json"]).stdout
        #expect(stepwise.split(separator: "\n").count > 300)
        #expect(stepwise == once)
    }

    @Test("a replay of a shop equals the live decisions for the same period, and never touches the live outbox")
    func replayEqualsLive() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        try cli.run(["simulate", "--customers", "300", "--days", "300", "--seed", "8", "--out", cli.path("shop.ndjson")])
        let lines = try String(contentsOfFile: cli.path("shop.ndjson"), encoding: .utf8).split(separator: "\n").map(String.init)
        // Live: the shop's webhooks arrive month by month; the reactor runs at each month end, and
        // due commands are dispatched (so contact caps count what was really sent).
        var month = 1
        var pending: [String] = []
        for line in lines {
            let at = String(line.split(separator: "\"at\":\"")[1].prefix(7))  // YYYY-MM
            let current = "2024-\(month < 10 ? "0" : "")\(month)"
            if at > current, !pending.isEmpty {
                try cli.run(["ingest", "--quiet", cli.write("m\(month).ndjson", ndjson(pending))])
                try cli.run(["dispatch", "--now", "\(current)-28T23:00:00Z", "--out", cli.path("sent\(month).ndjson")])
                pending = []
                month += 1
            }
            pending.append(line)
        }
        try cli.run(["ingest", "--quiet", cli.write("last.ndjson", ndjson(pending))])
        let end = "2024-10-27T00:00:00Z"
        let live = try commandsJSON(try cli.run(["actions", "--now", end, "--status", "all", "--json"]).stdout)
        #expect(live.count > 500)
        #expect(live.contains { $0["status"] as? String == "dispatched" })

        let db = cli.path("aftersale.db")
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        let replay = try commandsJSON(try cli.run(["replay", "--until", end, "--json"]).stdout)
        #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before, "replay wrote nothing")
        // The last record of each command is its final state.
        var final: [String: [String: Any]] = [:]
        for record in replay { final[record["id"] as! String] = record }
        #expect(final.count == live.count)
        for command in live {
            let id = command["id"] as! String
            let replayed = final[id]
            #expect(replayed?["status"] as? String == command["status"] as? String, "\(id)")
            #expect(replayed?["due"] as? String == command["due"] as? String, "\(id)")
            #expect(replayed?["channel"] as? String == command["channel"] as? String, "\(id)")
        }
        let why = try cli.run(["replay", "--until", end, "--customer", "c-000001"])
        #expect(why.stdout.contains("c-000001") && why.stderr.contains("the live outbox was not touched"))
    }

    @Test("a shop run month by month in passes, on several threads, gets the decisions and hand-offs of one engine in one pass")
    func passesEqualOne() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        try cli.run(["simulate", "--customers", "240", "--days", "300", "--seed", "12", "--out", cli.path("shop.ndjson")])
        let lines = try String(contentsOfFile: cli.path("shop.ndjson"), encoding: .utf8).split(separator: "\n").map(String.init)
        // One database run by one engine holding everyone; the other by three threads holding at
        // most 45 customers at a time (six passes).
        let ways = [("one.db", ["--threads", "1", "--customers-per-pass", "100000"]), ("passes.db", ["--threads", "3", "--customers-per-pass", "45"])]
        var passes: [Int] = []
        func step(_ month: Int, _ events: [String], fit: Bool) throws {
            let file = cli.write("m\(month).ndjson", ndjson(events))
            let end = "2024-\(month < 10 ? "0" : "")\(month)-28T23:00:00Z"
            var sent: [[String]] = []
            for (db, options) in ways {
                try cli.run(["ingest", "--quiet", "--db", cli.path(db), file])
                if fit { try cli.run(["fit", "--db", cli.path(db), "--min-repeat-buyers", "20"]) }
                let run = try cli.run(["actions", "--db", cli.path(db), "--now", end] + options)
                let summary = run.stderr.split(separator: "\n").first { $0.hasPrefix("reactor: ") } ?? ""
                passes.append(summary.contains(" passes;") ? Int(summary.split(separator: " in ").last!.split(separator: " ").first!)! : 1)
                try cli.run(["dispatch", "--db", cli.path(db), "--now", end, "--out", cli.path("\(db)-sent\(month).ndjson")] + options)
                // Passes hand commands out customer group by customer group: the same set, in another order.
                sent.append(try String(contentsOfFile: cli.path("\(db)-sent\(month).ndjson"), encoding: .utf8).split(separator: "\n").map(String.init).sorted())
            }
            #expect(sent[0] == sent[1], "month \(month): the same hand-offs")
        }
        var month = 1
        var pending: [String] = []
        for line in lines {
            let at = String(line.split(separator: "\"at\":\"")[1].prefix(7))  // YYYY-MM
            if at > "2024-\(month < 10 ? "0" : "")\(month)", !pending.isEmpty {
                try step(month, pending, fit: month == 6)
                pending = []
                month += 1
            }
            pending.append(line)
        }
        try step(month, pending, fit: false)
        #expect(passes.count == 2 * month)
        #expect(passes.enumerated().filter { $0.offset % 2 == 1 }.allSatisfy { $0.element >= 2 }, "the second way runs in passes: \(passes)")
        #expect(passes.enumerated().filter { $0.offset % 2 == 0 }.allSatisfy { $0.element == 1 }, "\(passes)")
        let final = ways.map { db, _ in
            (try? cli.run(["actions", "--db", cli.path(db), "--now", "2024-11-30T00:00:00Z", "--status", "all", "--json", "--threads", "1"]).stdout) ?? ""
        }
        let all = final.map { $0.split(separator: "\n").sorted() }
        #expect(all[0].count > 1000)
        #expect(all[0].contains { $0.contains("\"status\":\"dispatched\"") } && all[0].contains { $0.contains("\"kind\":\"cross_sell\"") })
        #expect(all[0] == all[1], "the same outbox, command by command")
    }
}
