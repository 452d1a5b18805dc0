import AftersaleCore
import AftersaleIngest
import AftersaleStore
import AftersaleSQLite
import AftersaleProjections
import AftersaleOutbox
import Foundation
import Testing

func ingest(_ paths: [String], into log: EventLog, format: InputFormat = .ndjson, currency: String? = nil,
            rejects: String? = nil, batchSize: Int = 4096) throws -> (IngestSummary, [String]) {
    var options = IngestOptions(now: testClock)
    options.format = format
    options.defaultCurrency = currency
    options.rejectsPath = rejects
    options.batchSize = batchSize
    let ingester = Ingester(log: log, options: options)
    var messages: [String] = []
    ingester.onReject = { messages.append($0) }
    return (try ingester.ingest(paths), messages)
}

@Suite("Ingest")
struct IngestTests {
    @Test("bad lines are reported as FILE:LINE: field: why, kept in a rejects file, and the rest is appended")
    func rejectsAreKept() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let input = scratch.write("events.ndjson", """
            {"id":"1","type":"order.placed","customer":"c-1","at":"2025-03-01T10:00:00Z","data":{"order":"o-1","total":"10.00","currency":"EUR","lines":[]}}
            # a comment

            {"id":"2","type":"review.posted","customer":"c-1","at":"2025-03-09T10:00:00Z","data":{"review":"r-1","sku":"s-1","rating":7}}
            {"id":"3","type":"order.placed","customer":"c-1","at":"2025-03-01T10:00:00Z","data":{"order":"o-3","total":"10.00","currency":"EUX","lines":[]}}
            not json at all
            {"id":"5","type":"order.cancelled","customer":"c-1","at":"2025-03-02T10:00:00Z","data":{"order":"o-1"}}

            """)
        let (summary, messages) = try ingest([input], into: log, batchSize: 2)
        #expect(summary.appended == 2 && summary.rejected == 3 && summary.duplicates == 0)
        #expect(messages == [
            "\(input):4: data.rating: rating 7 is outside 1-5",
            "\(input):5: data.currency: unknown currency code 'EUX' (ISO 4217, e.g. EUR)",
            "\(input):6: json: invalid JSON: unexpected character 'o' at column 2",
        ])
        let rejectsPath = scratch.path("events.rejects.ndjson")
        #expect(summary.rejectsFiles == [rejectsPath])
        let rejects = try String(contentsOfFile: rejectsPath, encoding: .utf8)
        #expect(rejects.hasPrefix("# \(input):4: data.rating: rating 7 is outside 1-5\n{\"id\":\"2\""))
        #expect(rejects.contains("\nnot json at all\n"))

        // The user fixes the lines in place and sends the rejects file again.
        let fixed = rejects.replacingOccurrences(of: "\"rating\":7", with: "\"rating\":5")
            .replacingOccurrences(of: "EUX", with: "EUR").replacingOccurrences(of: "not json at all\n", with: "")
        try fixed.write(toFile: rejectsPath, atomically: true, encoding: .utf8)
        let (again, _) = try ingest([rejectsPath], into: log)
        #expect(again.appended == 2 && again.rejected == 0)
        #expect(try log.head() == 4)
    }

    @Test("re-ingesting a file appends nothing; a changed event is a conflict, rejected")
    func rerunIsIdempotent() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let lines = (1...50).map { i in
            #"{"id":"e\#(i)","type":"order.placed","customer":"c-\#(i % 7)","at":"2025-03-01T10:00:00Z","data":{"order":"o-\#(i)","total":"\#(i).50","currency":"EUR","lines":[]}}"#
        }
        let input = scratch.write("a.ndjson", lines.joined(separator: "\n"))
        #expect(try ingest([input], into: log, batchSize: 8).0.appended == 50)
        let (rerun, _) = try ingest([input], into: log, batchSize: 8)
        #expect(rerun.appended == 0 && rerun.duplicates == 50)

        let changed = scratch.write("b.ndjson", lines[3].replacingOccurrences(of: "4.50", with: "4.60"))
        let (conflict, messages) = try ingest([changed], into: log)
        #expect(conflict.rejected == 1 && conflict.conflicts == 1)
        #expect(messages.first?.contains(":1: id: conflict: 'e4' is already in the log with different content (position 4)") == true)
        #expect(try log.head() == 50)
    }

    @Test("data is kept as sent, and a re-sent event with other key order and spacing is still a duplicate")
    func resentWithOtherFormatting() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let first = scratch.write("a.ndjson", #"{"id":"r","type":"review.posted","customer":"c","at":"2025-01-01T12:00:00Z","data":{"review":"r-1", "sku":"s","rating":5,"text":"Great"},"meta":{"try":1}}"# + "\n")
        #expect(try ingest([first], into: log).0.appended == 1)
        #expect(try log.database.scalarText("SELECT data FROM events") == #"{"review":"r-1", "sku":"s","rating":5,"text":"Great"}"#)
        let again = scratch.write("b.ndjson", #"{ "type": "review.posted", "id": "r", "customer": "c", "at": "2025-01-01T13:00:00+01:00", "data": { "text": "Great", "rating": 5, "sku": "s", "review": "r-1" }, "meta": {"try": 2} }"# + "\n")
        let (resent, _) = try ingest([again], into: log)
        #expect(resent.duplicates == 1 && resent.conflicts == 0)
        let changed = scratch.write("c.ndjson", #"{"id":"r","type":"review.posted","customer":"c","at":"2025-01-01T12:00:00Z","data":{"review":"r-1","sku":"s","rating":4,"text":"Great"}}"# + "\n")
        let (conflict, _) = try ingest([changed], into: log)
        #expect(conflict.conflicts == 1 && conflict.duplicates == 0)
    }

    @Test("a transactions CSV imports once; identical rows in it are separate purchases")
    func transactionsCSV() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let csv = scratch.write("tx.csv", """
            customer_id,date,amount
            00004,19970101,29.33
            00004,19970101,29.33
            "00021",1997-01-01,63.34
            00021,1997-02-30,1.00
            00022,19970105,-3.00

            """)
        let (first, messages) = try ingest([csv], into: log, format: .transactions, currency: "USD")
        #expect(first.appended == 3 && first.rejected == 2)
        #expect(messages == [
            "\(csv):5: date: '1997-02-30' is not YYYY-MM-DD or YYYYMMDD",
            "\(csv):6: amount: must not be negative, got -3.00",
        ])
        let rejects = try String(contentsOfFile: scratch.path("tx.rejects.csv"), encoding: .utf8)
        #expect(rejects.hasPrefix("customer_id,date,amount\n# "), "the rejects file is itself a valid CSV input")
        let (second, _) = try ingest([csv], into: log, format: .transactions, currency: "USD")
        #expect(second.appended == 0 && second.duplicates == 3)
        let stream = try log.stream(of: "00004")
        #expect(stream.count == 2)
        #expect(stream[0].event.data["total"] == .string("29.33") && stream[0].event.data["currency"] == .string("USD"))
        #expect(stream[0].event.at == CivilDate(year: 1997, month: 1, day: 1).startOfDayUTC)
        #expect(stream[0].event.id != stream[1].event.id)
    }

    @Test("a transactions CSV with a currency column and order ids")
    func transactionsWithCurrency() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let csv = scratch.write("tx.csv", "order_id,customer_id,amount,currency,date\nA-1,c-1,1200,JPY,2025-01-02\nA-2,c-1,12.5,JPY,2025-01-03\n")
        let (summary, messages) = try ingest([csv], into: log, format: .transactions)
        #expect(summary.appended == 1)
        #expect(messages == ["\(csv):3: amount: too many decimal places in 12.5: JPY has 0"])
        #expect(try log.stream(of: "c-1").first?.event.data["order"] == .string("A-1"))
    }

    @Test("a CSV header that cannot be used stops the file with a clear error")
    func badHeader() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let csv = scratch.write("tx.csv", "customer,date,amount\nc,2025-01-01,1\n")
        let error = #expect(throws: IngestError.self) { try ingest([csv], into: log, format: .transactions, currency: "EUR") }
        #expect(error?.description == "\(csv):1: header: unknown column 'customer' (expected customer_id,date,amount and optionally order_id,currency)")
        let noCurrency = scratch.write("tx2.csv", "customer_id,date,amount\nc,2025-01-01,1\n")
        #expect(throws: IngestError.self) { try ingest([noCurrency], into: log, format: .transactions) }
    }

    @Test("a file's batches start small and double, and its last ones shrink to a quarter of what is left")
    func batchSizes() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let total = 30_000
        let lines = (1...total).map { i in
            #"{"id":"e\#(i)","type":"order.cancelled","customer":"c-\#(i % 500)","at":"2025-03-01T10:00:00Z","data":{"order":"o-\#(i)"}}"#
        }
        let input = scratch.write("events.ndjson", lines.joined(separator: "\n") + "\n")
        var options = IngestOptions(now: testClock)
        options.batchSize = 4096
        let ingester = Ingester(log: log, options: options)
        var sizes: [Int] = []
        ingester.onProgress = { progress in sizes.append(progress.summary.appended - sizes.reduce(0, +)) }
        #expect(try ingester.ingest([input]).appended == total)
        #expect(sizes.reduce(0, +) == total)
        #expect(Array(sizes.prefix(4)) == [1024, 2048, 4096, 4096])
        // Each batch near the end is about a quarter of the lines left after the one before it.
        var left = total - sizes.prefix(4).reduce(0, +)
        for size in sizes.dropFirst(4) {
            #expect(size <= 4096 && size >= min(left, 1024), "batch of \(size) with \(left) left")
            #expect(size <= max(1024, left / 4 + 64) || size == 4096, "batch of \(size) with \(left) left")
            left -= size
        }
        #expect(sizes.last! < 4096 && sizes.suffix(3).allSatisfy { $0 <= 1024 }, "\(sizes)")
    }

    @Test("long lines across read chunks, CRLF endings and a missing final newline")
    func lineReading() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        // In a field the catalogue does not name: its own fields have length limits (FieldLimit).
        let longText = String(repeating: "x", count: 3_000_000)
        let lines = [
            #"{"id":"long","type":"review.posted","customer":"c","at":"2025-01-01T00:00:00Z","data":{"review":"r","sku":"s","rating":4,"survey":"\#(longText)"}}"#,
            #"{"id":"crlf","type":"order.cancelled","customer":"c","at":"2025-01-01T00:00:00Z","data":{"order":"o"}}"#,
            #"{"id":"last","type":"order.cancelled","customer":"c","at":"2025-01-01T00:00:00Z","data":{"order":"o"}}"#,
        ]
        let input = scratch.write("x.ndjson", lines.joined(separator: "\r\n"))
        let (summary, messages) = try ingest([input], into: log)
        #expect(messages.isEmpty)
        #expect(summary.appended == 3 && summary.lines == 3)
        #expect(try log.stream(of: "c").first?.event.data["survey"]?.stringValue?.count == 3_000_000)
    }
}
