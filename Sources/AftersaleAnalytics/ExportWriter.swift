public import AftersaleCore

/// A row of one export kind: a fixed, documented column list and one value per column.
///
/// The columns of every kind are documented in `EXPORTS.md`; they are a stable contract, so a
/// new column is appended at the end and none is renamed or removed.
public protocol ExportRow: Sendable {
    /// The export's name, also the file's base name: `customers`, `orders`, ...
    static var exportName: String { get }
    /// The header, in order.
    static var columns: [String] { get }
    /// One value per column, in the order of `columns`.
    var values: [ExportValue] { get }
}

extension ExportRow {
    /// The CSV fields of this row (`nil` for missing values).
    public var csvFields: [String?] { values.map(\.csvField) }

    /// This row as a JSON object with keys in column order.
    public var jsonObject: JSONObject {
        let values = self.values
        precondition(values.count == Self.columns.count, "\(Self.self): \(values.count) values for \(Self.columns.count) columns")
        return JSONObject(zip(Self.columns, values).map { JSONObject.Member(key: $0, value: $1.jsonValue) })
    }
}

/// The file format of an export.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// RFC 4180 CSV with a header record (see `CSV`).
    case csv
    /// JSON Lines: one JSON object per line, keys in column order, LF line ends, no header.
    case jsonl

    /// The file extension, without the dot.
    public var fileExtension: String { rawValue }
}

/// Where an exporter's bytes go: a file handle, a pipe, a test buffer. Called with chunks in order.
public typealias ByteSink = ([UInt8]) throws -> Void

/// Streams rows of one export kind to a byte sink as CSV or JSON Lines, in chunks, with flat memory.
///
/// The CSV header is written even when no row follows. Call `finish()` at the end.
public struct ExportWriter<Row: ExportRow> {
    public let format: ExportFormat
    private var buffer: [UInt8] = []
    private let sink: ByteSink
    private let chunkSize: Int
    /// Data rows written so far (the header does not count).
    public private(set) var rowCount = 0

    /// - Parameter chunkSize: bytes buffered before the sink is called.
    public init(format: ExportFormat, chunkSize: Int = 64 * 1024, sink: @escaping ByteSink) {
        self.format = format
        self.sink = sink
        self.chunkSize = max(1, chunkSize)
        buffer.reserveCapacity(min(self.chunkSize, 1 << 20) + 1024)
        if format == .csv { CSV.appendRecord(Row.columns, to: &buffer) }
    }

    /// Writes one row.
    public mutating func write(_ row: Row) throws {
        let values = row.values
        precondition(values.count == Row.columns.count, "\(Row.self): \(values.count) values for \(Row.columns.count) columns")
        switch format {
        case .csv:
            CSV.appendRecord(values.map(\.csvField), to: &buffer)
        case .jsonl:
            buffer.append(UInt8(ascii: "{"))
            for (index, (column, value)) in zip(Row.columns, values).enumerated() {
                if index > 0 { buffer.append(UInt8(ascii: ",")) }
                JSONValue.writeString(column, into: &buffer)
                buffer.append(UInt8(ascii: ":"))
                value.jsonValue.write(into: &buffer, sortKeys: false)
            }
            buffer.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        }
        rowCount += 1
        if buffer.count >= chunkSize { try flush() }
    }

    /// Writes rows in order.
    public mutating func write(contentsOf rows: some Sequence<Row>) throws {
        for row in rows { try write(row) }
    }

    /// Hands the buffered bytes to the sink.
    public mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        let chunk = buffer
        buffer.removeAll(keepingCapacity: true)
        try sink(chunk)
    }

    /// Flushes what is left.
    public mutating func finish() throws { try flush() }
}

extension ExportRow {
    /// All rows as one in-memory file (for tests and small exports).
    public static func render(_ rows: some Sequence<Self>, format: ExportFormat) -> [UInt8] {
        var out: [UInt8] = []
        var writer = ExportWriter<Self>(format: format, chunkSize: .max) { out.append(contentsOf: $0) }
        // The sink only appends to memory, so nothing here can throw.
        try! writer.write(contentsOf: rows)
        try! writer.finish()
        return out
    }
}
