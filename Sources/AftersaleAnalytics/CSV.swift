/// RFC 4180 CSV text: the field quoting and the record layout every export uses.
///
/// - Records end with CRLF, as RFC 4180 says; pandas, DuckDB, Python's `csv`, Excel and
///   LibreOffice all read CRLF files as is. Line breaks inside a field are written unchanged.
/// - A field is quoted when it contains a comma, a double quote, CR or LF, or when it is an empty
///   string; a quote inside a quoted field is doubled.
/// - A missing value (`nil`) is an empty, unquoted field. An empty string is `""`. Readers that do
///   not tell them apart (pandas' default) read both as missing.
/// - Leading and trailing spaces are kept and are not a reason to quote (RFC 4180: spaces are part
///   of a field).
/// - UTF-8, no byte order mark.
public enum CSV {
    /// The record terminator: CR LF.
    public static let recordTerminator: [UInt8] = [0x0D, 0x0A]

    /// Appends one field, quoted when it must be.
    public static func appendField(_ field: String?, to out: inout [UInt8]) {
        guard let field else { return }
        if field.isEmpty {
            out.append(contentsOf: [0x22, 0x22])
            return
        }
        var needsQuotes = false
        for byte in field.utf8 where byte == 0x2C || byte == 0x22 || byte == 0x0D || byte == 0x0A {
            needsQuotes = true
            break
        }
        guard needsQuotes else {
            out.append(contentsOf: field.utf8)
            return
        }
        out.append(0x22)
        for byte in field.utf8 {
            if byte == 0x22 { out.append(0x22) }
            out.append(byte)
        }
        out.append(0x22)
    }

    /// Appends one record: the fields separated by commas, then CRLF.
    ///
    /// A record of one missing field is written as `""` so that it is not a blank line, which
    /// most readers skip.
    public static func appendRecord(_ fields: [String?], to out: inout [UInt8]) {
        if fields.count == 1, fields[0] == nil {
            out.append(contentsOf: [0x22, 0x22])
        } else {
            for (index, field) in fields.enumerated() {
                if index > 0 { out.append(0x2C) }
                appendField(field, to: &out)
            }
        }
        out.append(contentsOf: recordTerminator)
    }

    /// One record as text, with its CRLF.
    public static func record(_ fields: [String?]) -> String {
        var out: [UInt8] = []
        appendRecord(fields, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// Why a text is not RFC 4180 CSV.
public struct CSVSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based physical line where the reader stopped.
    public var line: Int
    public var message: String
    public var description: String { "invalid CSV at line \(line): \(message)" }
}

/// A strict RFC 4180 reader, for tests and small files: the whole text in, records out.
///
/// Accepts CRLF or LF record ends and an optional UTF-8 byte order mark. Tells a missing field
/// (empty, unquoted: `nil`) from an empty string (`""`: `""`). A blank line is a record with one
/// missing field. A final record terminator is optional.
public enum CSVReader {
    /// Parses all records.
    public static func parse(_ text: String) throws(CSVSyntaxError) -> [[String?]] {
        try parse(bytes: Array(text.utf8))
    }

    /// Parses all records from UTF-8 bytes.
    public static func parse(bytes input: [UInt8]) throws(CSVSyntaxError) -> [[String?]] {
        var bytes = input[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        var records: [[String?]] = []
        var record: [String?] = []
        var field: [UInt8] = []
        var line = 1
        var index = bytes.startIndex
        let end = bytes.endIndex
        guard index < end else { return [] }

        func decode(_ field: [UInt8]) throws(CSVSyntaxError) -> String {
            guard let s = String(validating: field, as: UTF8.self) else {
                throw CSVSyntaxError(line: line, message: "not valid UTF-8")
            }
            return s
        }

        while true {
            // At the start of a field.
            field.removeAll(keepingCapacity: true)
            var quoted = false
            if index < end, bytes[index] == 0x22 {
                quoted = true
                index += 1
                while true {
                    guard index < end else { throw CSVSyntaxError(line: line, message: "unterminated quoted field") }
                    let byte = bytes[index]
                    if byte == 0x22 {
                        if index + 1 < end, bytes[index + 1] == 0x22 {
                            field.append(0x22)
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    if byte == 0x0A { line += 1 }
                    field.append(byte)
                    index += 1
                }
            } else {
                while index < end {
                    let byte = bytes[index]
                    if byte == 0x2C || byte == 0x0A || byte == 0x0D { break }
                    if byte == 0x22 { throw CSVSyntaxError(line: line, message: "a quote inside an unquoted field") }
                    field.append(byte)
                    index += 1
                }
            }
            record.append(quoted || !field.isEmpty ? try decode(field) : nil)
            // After the field: a comma, a record end, or the end of the text.
            guard index < end else {
                records.append(record)
                return records
            }
            switch bytes[index] {
            case 0x2C:
                index += 1
                continue
            case 0x0D:
                guard index + 1 < end, bytes[index + 1] == 0x0A else {
                    throw CSVSyntaxError(line: line, message: "a CR not followed by LF")
                }
                index += 2
            case 0x0A:
                index += 1
            default:
                throw CSVSyntaxError(line: line, message: "text after a closing quote")
            }
            records.append(record)
            record = []
            line += 1
            if index == end { return records }
        }
    }
}
