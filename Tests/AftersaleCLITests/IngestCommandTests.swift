import AftersaleCore
import AftersaleStore
import AftersaleSQLite
import AftersaleProjections
import AftersaleOutbox
import Foundation
import Testing

@Suite("aftersale ingest and log, end to end", .serialized)
struct IngestCommandTests {
    @Test("the shipped examples ingest into the default database, and a second run appends nothing")
    func shippedExamplesIngest() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let files = try shippedExamples()
        let count = try files.map { try String(contentsOfFile: $0, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }.count }
            .reduce(0, +)
        #expect(count >= 38)
        let first = try cli.run(["ingest"] + files)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout == "appended \(count), duplicates 0, rejected 0\n")
        #expect(FileManager.default.fileExists(atPath: cli.path("aftersale.db")), "the default is ./aftersale.db")
        let second = try cli.run(["ingest", "--json"] + files)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
        #expect(summary["appended"] as? Int == 0 && summary["duplicates"] as? Int == count && summary["rejected"] as? Int == 0)

        let log = try cli.run(["log"])
        #expect(log.stdout.hasPrefix("head position \(count), 4 customers"))
        #expect(log.stdout.contains("order.placed         5"))
    }

    @Test("log --customer prints the stream as NDJSON that ingests back as duplicates")
    func customerStreamRoundTrips() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        try cli.run(["ingest"] + shippedExamples())
        let stream = try cli.run(["log", "--customer", "c-1001"])
        let lines = stream.stdout.split(separator: "\n")
        #expect(lines.count >= 8)
        let back = try cli.run(["ingest", "-"], stdin: stream.stdout)
        #expect(back.stdout == "appended 0, duplicates \(lines.count), rejected 0\n", "\(back.stderr)")
        let missing = try cli.run(["log", "--customer", "nobody"])
        #expect(missing.status != 0 && missing.stderr.contains("no events for customer 'nobody'"))
    }

    @Test("bad lines: FILE:LINE: field: why on stderr, a rejects file, exit status 1, good lines appended")
    func badInput() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let input = cli.write("mixed.ndjson", """
            {"id":"ok","type":"order.cancelled","customer":"c","at":"2025-01-01T00:00:00Z","data":{"order":"o"}}
            {"id":"bad","type":"order.shipped","customer":"c","at":"2025-01-01T00:00:00Z","data":{"order":"o"}}

            """)
        let result = try cli.run(["ingest", "--db", cli.path("x.db"), input])
        #expect(result.status == 1)
        #expect(result.stdout == "appended 1, duplicates 0, rejected 1\n")
        #expect(result.stderr.contains("\(input):2: type: unknown event type 'order.shipped'"))
        let rejects = try String(contentsOfFile: cli.path("mixed.rejects.ndjson"), encoding: .utf8)
        #expect(rejects.contains(#"{"id":"bad","type":"order.shipped""#))
        let unreadable = try cli.run(["ingest", "--db", cli.path("x.db"), cli.path("no-such-file.ndjson")])
        #expect(unreadable.status != 0 && unreadable.stderr.contains("no-such-file.ndjson: cannot open"))
    }

    @Test("AFTERSALE_DB chooses the database; a transactions CSV needs its currency")
    func environmentAndCSV() throws {
        var cli = CLI()
        defer { cli.cleanUp() }
        cli.environment["AFTERSALE_DB"] = cli.path("env.db")
        let csv = cli.write("tx.csv", "customer_id,date,amount\n1,19970101,29.33\n1,19970118,29.73\n")
        let noCurrency = try cli.run(["ingest", "--format", "transactions", csv])
        #expect(noCurrency.status != 0 && noCurrency.stderr.contains("--currency"))
        let ok = try cli.run(["ingest", "--format", "transactions", "--currency", "USD", csv])
        #expect(ok.stdout == "appended 2, duplicates 0, rejected 0\n", "\(ok.stderr)")
        #expect(FileManager.default.fileExists(atPath: cli.path("env.db")))
        let badCurrency = try cli.run(["ingest", "--format", "transactions", "--currency", "DOLLARS", csv])
        #expect(badCurrency.status != 0 && badCurrency.stderr.contains("not an ISO 4217 currency code"))
    }

    @Test("killed with SIGKILL mid-ingest: the log stays consistent and a rerun finishes with no duplicates")
    func crashSafety() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let total = 200_000
        let input = cli.write("big.ndjson", generatedEvents(total))
        let db = cli.path("crash.db")
        let (process, _, _) = try cli.start(["ingest", "--db", db, "--quiet", "--batch-size", "4096", input])
        // Wait until some batches are committed, then kill without warning.
        let reader = try EventLog(path: db)
        var seen: Int64 = 0
        for _ in 0..<20_000 where seen < 20_000 && process.isRunning {
            usleep(1000)
            seen = (try? reader.head()) ?? 0
        }
        #expect(process.isRunning, "the ingest finished before it could be killed; make the input larger")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)

        let afterKill = try reader.head()
        #expect(afterKill > 0 && afterKill < Int64(total))
        // Batches of 1,024 events, then doubling up to the 4,096 asked for: where each one ends.
        var batchEnds: Set<Int64> = []
        var (end, size): (Int64, Int64) = (0, 1024)
        while end < Int64(total) {
            end += size
            batchEnds.insert(end)
            size = min(size * 2, 4096)
        }
        #expect(batchEnds.contains(afterKill), "only whole batches were committed (\(afterKill) events)")
        #expect(try reader.database.scalarText("PRAGMA integrity_check") == "ok")
        // Facts are stored for every committed event before `facts_from` (the ingest held the rest
        // in memory) and for nothing else; readers derive the rest from the JSON meanwhile.
        let factsFrom = try reader.database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_from'") ?? afterKill + 1
        #expect(factsFrom >= 1 && factsFrom <= afterKill + 1)
        #expect(try reader.database.scalarInt("SELECT count(*) FROM stream_facts") == factsFrom - 1)
        #expect(try reader.database.scalarInt("""
            SELECT count(*) FROM events e JOIN streams s ON s.customer = e.customer
            JOIN stream_facts f ON f.stream = s.stream AND f.version = e.version AND f.position = e.position
            """) == factsFrom - 1)
        var readBack: Int64 = 0
        try reader.readFacts(after: 0) { position, _, _, _ in
            readBack += 1
            #expect(position == readBack)
        }
        #expect(readBack == afterKill)

        let rerun = try cli.run(["ingest", "--db", db, "--json", input])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any])
        #expect(summary["appended"] as? Int == total - Int(afterKill))
        #expect(summary["duplicates"] as? Int == Int(afterKill))
        #expect(try reader.head() == Int64(total))
        #expect(try reader.database.scalarInt("SELECT count(DISTINCT id) FROM events") == Int64(total))
        #expect(try reader.database.scalarInt("SELECT count(*) FROM events") == Int64(total), "positions 1...N, no gaps")
        #expect(try reader.database.scalarInt("SELECT count(*) FROM log_settings WHERE name = 'facts_from'") == 0)
        // Every event's facts stored, the derived ones the same as the rerun's own: what the JSON gives.
        var checked: Int64 = 0
        let stored = try reader.database.prepare("""
            SELECT f.facts, e.type, e.customer, e.at, e.at_offset, e.schema, e.data, e.id FROM events e
            JOIN streams s ON s.customer = e.customer JOIN stream_facts f ON f.stream = s.stream AND f.version = e.version
            AND f.position = e.position WHERE e.position % 7 = 0 OR e.position BETWEEN ?1 - 50 AND ?1 + 50
            """)
        stored.bind(afterKill, at: 1)
        while try stored.step() {
            let type = try #require(EventType(rawValue: stored.text(1) ?? ""))
            let data = try JSONParser.parse(stored.text(6) ?? "").objectValue ?? JSONObject()
            let event = Event(id: stored.text(7) ?? "", type: type, customer: stored.text(2) ?? "",
                              at: Timestamp(millis: stored.int64(3), offsetMinutes: stored.int(4)), schema: stored.int(5), data: data)
            #expect(stored.withBytes(0) { Array($0) } == EventFacts.encode(event))
            checked += 1
        }
        #expect(checked >= Int64(total / 7))
        #expect(try reader.database.scalarInt("SELECT count(*) FROM stream_facts") == Int64(total))
    }

    @Test("commands that read the log refuse a database that does not exist, instead of creating an empty one")
    func missingDatabase() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        for command in [["log"], ["customer", "c-1"], ["fit"], ["actions"], ["export", "orders"], ["report"], ["replay"], ["rebuild"]] {
            let result = try cli.run(command + ["--db", cli.path("typo.db")])
            #expect(result.status != 0 && result.stderr.contains("no database at \(cli.path("typo.db"))"), "\(command): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: cli.path("typo.db")))
    }

    @Test("help names the commands")
    func help() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let help = try cli.run(["--help"])
        #expect(help.stdout.contains("ingest") && help.stdout.contains("log"))
        let ingestHelp = try cli.run(["ingest", "--help"])
        #expect(ingestHelp.stdout.contains("--rejects") && ingestHelp.stdout.contains("--format"))
    }
}
