import Foundation
import Testing

@Suite("--db and --config before or after the subcommand, end to end")
struct GlobalOptionTests {
    static let event = #"{"id":"e-1","type":"order.cancelled","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"order":"o-1"}}"# + "\n"

    @Test("--db before the subcommand names the same database as after it")
    func databaseBeforeOrAfter() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let input = cli.write("one.ndjson", GlobalOptionTests.event)
        let before = try cli.run(["--db", cli.path("before.db"), "ingest", input])
        #expect(before.status == 0 && before.stdout == "appended 1, duplicates 0, rejected 0\n", "\(before.stderr)")
        let after = try cli.run(["ingest", "--db", cli.path("after.db"), input])
        #expect(after.status == 0 && after.stdout == "appended 1, duplicates 0, rejected 0\n", "\(after.stderr)")
        let equals = try cli.run(["--db=\(cli.path("before.db"))", "ingest", input])
        #expect(equals.stdout == "appended 0, duplicates 1, rejected 0\n", "\(equals.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("aftersale.db")), "neither fell back to ./aftersale.db")
        for database in ["before.db", "after.db"] {
            let front = try cli.run(["--db", cli.path(database), "log"])
            let back = try cli.run(["log", "--db", cli.path(database)])
            #expect(front.stdout.hasPrefix("head position 1, 1 customers"), "\(front.stderr)")
            #expect(front.stdout == back.stdout)
        }
    }

    @Test("given both, the one after the subcommand wins; $AFTERSALE_DB is the fallback")
    func precedence() throws {
        var cli = CLI()
        defer { cli.cleanUp() }
        cli.environment["AFTERSALE_DB"] = cli.path("env.db")
        let input = cli.write("one.ndjson", GlobalOptionTests.event)
        let both = try cli.run(["--db", cli.path("front.db"), "ingest", "--db", cli.path("back.db"), input])
        #expect(both.status == 0, "\(both.stderr)")
        #expect(FileManager.default.fileExists(atPath: cli.path("back.db")))
        #expect(!FileManager.default.fileExists(atPath: cli.path("front.db")))
        let front = try cli.run(["--db", cli.path("front.db"), "ingest", input])
        #expect(front.status == 0 && FileManager.default.fileExists(atPath: cli.path("front.db")), "before the subcommand, it beats $AFTERSALE_DB")
        #expect(!FileManager.default.fileExists(atPath: cli.path("env.db")))
        let neither = try cli.run(["ingest", input])
        #expect(neither.status == 0 && FileManager.default.fileExists(atPath: cli.path("env.db")), "\(neither.stderr)")
    }

    @Test("--config before or after a command that takes it; given both, the one after wins")
    func configurationBeforeOrAfter() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        try cli.run(["ingest", cli.write("one.ndjson", GlobalOptionTests.event)])
        let bad = cli.write("bad.json", #"{"review_request": {"window_days": [15, 7]}}"#)
        let good = cli.write("good.json", "{}")
        for arguments in [["--config", bad, "actions"], ["actions", "--config", bad], ["--config", good, "dispatch", "--config", bad]] {
            let result = try cli.run(arguments)
            #expect(result.status == 1 && result.stderr.contains("bad.json: review_request.window_days"), "\(arguments): \(result.stderr)")
        }
        for arguments in [["--config", good, "actions"], ["--config", bad, "actions", "--config", good], ["--config", bad, "replay", "--config", good]] {
            let result = try cli.run(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
    }

    @Test("a global option before a command that does not take it is a usage error")
    func refusedWhereNotTaken() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        try cli.run(["ingest", cli.write("one.ndjson", GlobalOptionTests.event)])
        let config = try cli.run(["--config", cli.write("c.json", "{}"), "log"])
        #expect(config.status == 64)
        #expect(config.stderr.contains("Unknown option '--config'") && config.stderr.contains("Usage: aftersale log"), "\(config.stderr)")
        #expect(config.stdout.isEmpty)
        let database = try cli.run(["--db", cli.path("x.db"), "simulate", "--customers", "2", "--days", "5"])
        #expect(database.status == 64 && database.stderr.contains("Unknown option '--db'"), "\(database.stderr)")
        #expect(database.stdout.isEmpty)
        let alone = try cli.run(["--db", cli.path("x.db")])
        #expect(alone.status == 64 && alone.stderr.contains("global options go with a subcommand"), "\(alone.stderr)")
    }

    @Test("the root's help and each command's say where the options go and which wins")
    func help() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let root = try cli.run(["--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(root.contains("USAGE: aftersale [--db <PATH>] [--config <FILE>] <subcommand>"))
        #expect(root.contains("may come before the subcommand as well as after it: aftersale --db shop.db ingest orders.ndjson. Given in both places, the one after the subcommand wins."))
        for command in ["demo", "ingest", "log", "fit", "customer", "rebuild", "actions", "dispatch", "replay", "export", "report"] {
            let help = try cli.run([command, "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(help.contains("--db <PATH> The SQLite file (default: $AFTERSALE_DB, else ./aftersale.db). May also come before the command (aftersale --db PATH COMMAND); given both, the one after the command wins."), "\(command)")
        }
        for command in ["actions", "dispatch", "replay"] {
            let help = try cli.run([command, "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(help.contains("May also come before the command; given both, the one after the command wins."), "\(command)")
        }
        let helpBefore = try cli.run(["--db", cli.path("x.db"), "ingest", "--help"])
        #expect(helpBefore.status == 0 && helpBefore.stdout.contains("USAGE: aftersale ingest"))
    }
}
