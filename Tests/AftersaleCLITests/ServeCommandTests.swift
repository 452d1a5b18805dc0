import AftersaleSQLite
import AftersaleStore
import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

/// `aftersale serve` as a process: started on a free port, its standard error in a file.
final class ServerProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    let errorLog: String

    init(_ cli: CLI, db: String, name: String = "serve") throws {
        errorLog = cli.path("\(name).log")
        FileManager.default.createFile(atPath: errorLog, contents: nil)
        process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--db", db, "--port", "0"]
        process.currentDirectoryURL = cli.directory
        var env = ProcessInfo.processInfo.environment
        env["AFTERSALE_DB"] = nil
        for (k, v) in cli.environment { env[k] = v }
        env["AFTERSALE_API_TOKEN"] = "e2e-token"
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: errorLog)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var found: Int?
        for _ in 0..<600 where found == nil {
            let text = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
            if let range = text.range(of: "listening on http://127.0.0.1:") {
                found = Int(text[range.upperBound...].prefix { $0.isNumber })
            } else if !process.isRunning {
                break
            } else {
                usleep(50_000)
            }
        }
        guard let found else {
            process.terminate()
            throw CommandFailureForTest("the server did not start: \((try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "")")
        }
        port = found
    }

    /// POSTs NDJSON to /v1/events; the status and body.
    func postEvents(_ body: String) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/events")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer e2e-token")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 24)
        return (Int(response.status.code), String(buffer: bytes))
    }

    func get(_ path: String) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.headers.add(name: "Authorization", value: "Bearer e2e-token")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 24)
        return (Int(response.status.code), String(buffer: bytes))
    }

    /// Sends `signal` and waits for the process to end; its exit status.
    @discardableResult
    func stop(_ signal: Int32) -> Int32 {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process.terminationStatus
    }
}

struct CommandFailureForTest: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite("aftersale serve, end to end", .serialized)
struct ServeCommandTests {
    @Test("SIGTERM stops the server with exit 0; while it runs, the CLI reads and ingests into the same file without lock errors")
    func terminateAndShareTheFile() async throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let db = cli.path("shop.db")
        let server = try ServerProcess(cli, db: db)
        let (status, body) = try await server.postEvents(generatedEvents(500, customers: 50))
        #expect(status == 200, "\(body.prefix(300))")
        // The CLI on the same file while the server runs and takes more events.
        let more = cli.write("more.ndjson", generatedEvents(2000, customers: 300).replacingOccurrences(of: "\"gen-", with: "\"cli-"))
        async let sending: [Int] = {
            var statuses: [Int] = []
            for i in 0..<20 {
                let events = generatedEvents(100, customers: 40).replacingOccurrences(of: "\"gen-", with: "\"http\(i)-")
                statuses.append(try await server.postEvents(events).0)
            }
            return statuses
        }()
        let ingest = try cli.run(["ingest", "--quiet", "--db", db, more])
        let customer = try cli.run(["customer", "--db", db, "c-7", "--json"])
        let actions = try cli.run(["actions", "--db", db, "--json"])
        let statuses = try await sending
        #expect(ingest.status == 0, "\(ingest.stderr)")
        #expect(customer.status == 0, "\(customer.stderr)")
        #expect(actions.status == 0, "\(actions.stderr)")
        for result in [ingest, customer, actions] { #expect(!result.stderr.contains("locked"), "\(result.stderr)") }
        #expect(statuses == Array(repeating: 200, count: 20))
        // A rejected event is kept, and `aftersale rejects` gives it back to fix and ingest again.
        let bad = #"{"id":"bad-1","type":"order.placed","customer":"c-1","at":"2025-03-01T10:00:00Z","data":{"total":"1.00","currency":"EUR","lines":[]}}"#
        #expect(try await server.postEvents(bad).0 == 422)
        #expect(server.stop(SIGTERM) == 0)
        let listed = try cli.run(["rejects", "--db", db, "--json"])
        #expect(listed.status == 0)
        #expect(listed.stdout.contains(#""reason":"data.order: missing required field""#))
        let raw = try cli.run(["rejects", "--db", db, "--raw"])
        #expect(raw.stdout.split(separator: "\n").map(String.init) == ["# reject 1, api line 1: data.order: missing required field", bad])
        #expect(try cli.run(["rejects", "--db", db, "--remove", "1"]).status == 0)
        #expect(try cli.run(["rejects", "--db", db, "--json"]).stdout.isEmpty)
        let log = try String(contentsOfFile: server.errorLog, encoding: .utf8)
        #expect(log.contains("stopped"))
        #expect(try EventLog(path: db).head() == 500 + 2000 + 2000)  // the rejected one is not in the log
    }

    @Test("kill -9 during a load: every acknowledged event is in the log, the file is sound, and the server starts again")
    func killDuringLoad() async throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let db = cli.path("shop.db")
        let server = try ServerProcess(cli, db: db)
        // Eight senders; each remembers the ids of the requests that got a 2xx.
        let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
            for sender in 0..<8 {
                group.addTask {
                    var ids: [String] = []
                    for request in 0..<400 {
                        let prefix = "s\(sender)-r\(request)-"
                        let events = generatedEvents(20, customers: 500).replacingOccurrences(of: "\"gen-", with: "\"\(prefix)")
                        guard let (status, _) = try? await server.postEvents(events) else { break }  // the server is gone
                        if status == 200 { ids += (0..<20).map { "\(prefix)\($0)" } }
                    }
                    return ids
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(700))
                server.stop(SIGKILL)
                return []
            }
            var all: [String] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(!acknowledged.isEmpty, "some requests were acknowledged before the kill")
        let database = try Database(path: db)
        #expect(try database.scalarText("PRAGMA integrity_check") == "ok")
        let stored = try database.prepare("SELECT id FROM events")
        var ids = Set<String>()
        while try stored.step() { ids.insert(stored.text(0) ?? "") }
        let missing = acknowledged.filter { !ids.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) acknowledged events are missing, e.g. \(missing.prefix(3))")
        // Requests are all or nothing: every event in the log came with all of its request.
        #expect(ids.count % 20 == 0)
        // It starts again on the same file and takes events.
        let again = try ServerProcess(cli, db: db, name: "again")
        #expect(try await again.get("/healthz").0 == 200)
        #expect(try await again.postEvents(generatedEvents(5).replacingOccurrences(of: "\"gen-", with: "\"after-")).0 == 200)
        #expect(again.stop(SIGTERM) == 0)
        // The facts the killed intake held in memory were derived from the events, and nothing else
        // is held: every event has its facts at its own version, and each stream's versions are gapless.
        let unmatched = try database.scalarInt("""
            SELECT count(*) FROM events e JOIN streams s ON s.customer = e.customer
            LEFT JOIN stream_facts f ON f.stream = s.stream AND f.version = e.version WHERE f.position IS NOT e.position
            """)
        #expect(unmatched == 0)
        #expect(try database.scalarInt("SELECT count(*) FROM stream_facts") == database.scalarInt("SELECT count(*) FROM events"))
        #expect(try database.scalarInt("SELECT count(*) FROM log_settings WHERE name = 'facts_from'") == 0)
        #expect(try database.scalarInt("SELECT count(*) FROM (SELECT customer FROM events GROUP BY customer HAVING max(version) != count(*))") == 0)
    }
}
