import Foundation
import Testing

@Suite("Two ingests creating one database at once")
struct ConcurrentIngestTests {
    @Test("both succeed and the log holds each event once, three times in a row")
    func twoCreatorsBothSucceed() throws {
        for round in 1...3 {
            let cli = CLI()
            defer { cli.cleanUp() }
            let shared = #"{"id":"shared","type":"order.cancelled","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"order":"o-0"}}"#
            let first = cli.write("first.ndjson", shared + "\n" + #"{"id":"first","type":"order.cancelled","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"order":"o-1"}}"# + "\n")
            let second = cli.write("second.ndjson", shared + "\n" + #"{"id":"second","type":"order.cancelled","customer":"c-2","at":"2025-01-01T00:00:00Z","data":{"order":"o-2"}}"# + "\n")
            let db = cli.path("new.db")
            let runs = [first, second].map { file in try? cli.start(["ingest", "--quiet", "--db", db, file]) }
            for case let (process, out, err)? in runs {
                let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                _ = out.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                #expect(process.terminationStatus == 0, "round \(round): \(stderr)")
            }
            #expect(runs.allSatisfy { $0 != nil })
            let log = try cli.run(["log", "--db", db])
            #expect(log.stdout.hasPrefix("head position 3, 2 customers"), "round \(round): \(log.stdout)\(log.stderr)")
        }
    }
}
