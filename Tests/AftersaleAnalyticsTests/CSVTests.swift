import AftersaleCore
import Testing
@testable import AftersaleAnalytics

/// A row of free text (nil for a missing value), to put any text through the export writer.
private struct TextRow: ExportRow {
    static let exportName = "texts"
    static let columns = ["id", "text", "empty", "missing"]
    var fields: [String?]
    var values: [ExportValue] { fields.map(ExportValue.text) }
}

@Suite("CSV writer and reader")
struct CSVTests {
    @Test("awkward text round-trips through the export writer and the reader")
    func roundTrip() throws {
        var rows = awkwardTexts.enumerated().map { i, text in TextRow(fields: [String(i), text, "", nil]) }
        rows.append(TextRow(fields: [nil, nil, nil, "last"]))
        var bytes: [UInt8] = []
        var writer = ExportWriter<TextRow>(format: .csv, chunkSize: 16) { bytes.append(contentsOf: $0) }
        for row in rows { try writer.write(row) }
        try writer.finish()

        let parsed = try CSVReader.parse(bytes: bytes)
        #expect(parsed == [TextRow.columns] + rows.map(\.fields))
        #expect(writer.rowCount == rows.count)
    }

    @Test("quoting: only what needs it, quotes doubled, CRLF record ends, empty string vs missing")
    func exactBytes() {
        #expect(CSV.record(["a", "b c", " d "]) == "a,b c, d \r\n")
        #expect(CSV.record(["x,y", "say \"hi\"", "two\nlines"]) == "\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n")
        #expect(CSV.record(["", nil, "z"]) == "\"\",,z\r\n")
        #expect(CSV.record(["cr\rhere"]) == "\"cr\rhere\"\r\n")
        // A lone missing field is not a blank line.
        #expect(CSV.record([nil]) == "\"\"\r\n")
    }

    @Test("the streaming writer hands chunks to the sink as it goes")
    func streams() throws {
        var chunks: [[UInt8]] = []
        var writer = ExportWriter<TextRow>(format: .csv, chunkSize: 100) { chunks.append($0) }
        for i in 0..<100 { try writer.write(TextRow(fields: [String(i), "some text to fill the buffer", "", nil])) }
        #expect(chunks.count >= 20)
        #expect(chunks.allSatisfy { $0.count < 100 + 64 })
        try writer.finish()
        let all = chunks.flatMap { $0 }
        let parsed = try CSVReader.parse(bytes: all)
        #expect(parsed.count == 101)
        #expect(parsed[0] == TextRow.columns)
        #expect(parsed[100] == ["99", "some text to fill the buffer", "", nil])
    }

    @Test("a sink error reaches the caller")
    func sinkErrors() {
        struct DiskFull: Error {}
        var writer = ExportWriter<TextRow>(format: .csv, chunkSize: 1) { _ in throw DiskFull() }
        #expect(throws: DiskFull.self) { try writer.write(TextRow(fields: ["a", nil, nil, nil])) }
    }

    @Test("the reader accepts LF line ends, a BOM and no final line end")
    func readerLeniency() throws {
        #expect(try CSVReader.parse("a,b\nc,d") == [["a", "b"], ["c", "d"]])
        #expect(try CSVReader.parse("\u{FEFF}a,b\r\n") == [["a", "b"]])
        #expect(try CSVReader.parse("a,\"\"\r\n,\r\n") == [["a", ""], [nil, nil]])
        #expect(try CSVReader.parse("") == [])
    }

    @Test("the reader refuses malformed CSV", arguments: ["\"open", "a\"b", "\"x\"y", "a\rb"])
    func readerRefuses(text: String) {
        #expect(throws: CSVSyntaxError.self) { try CSVReader.parse(text) }
    }
}
