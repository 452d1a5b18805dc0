/// Why a piece of text is not JSON, with the 1-based column where the parser stopped.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var column: Int
    public var message: String
    public var description: String { "invalid JSON: \(message) at column \(column)" }
}

/// A strict RFC 8259 parser over UTF-8 bytes. Numbers keep their literal text.
public enum JSONParser {
    /// Parses one complete JSON text (surrounding white space allowed).
    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try text.withTypedUTF8 { (buffer) throws(JSONSyntaxError) in try parse(buffer) }
    }

    /// Parses one complete JSON text from raw bytes.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> JSONValue {
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.parseValue(depth: 0)
        reader.skipWhitespace()
        if reader.index != bytes.count { throw reader.error("unexpected text after the value") }
        return value
    }
}

struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    static let maxDepth = 64

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func error(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(column: index + 1, message: message)
    }

    @inline(__always) var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    @inline(__always) mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard let byte = current else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"):
            guard depth < Reader.maxDepth else { throw error("nesting deeper than \(Reader.maxDepth)") }
            return .object(try parseObject(depth: depth + 1))
        case UInt8(ascii: "["):
            guard depth < Reader.maxDepth else { throw error("nesting deeper than \(Reader.maxDepth)") }
            return .array(try parseArray(depth: depth + 1))
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default:
            throw error("unexpected character '\(Unicode.Scalar(byte))'")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of input") }
        let start = literal.utf8Start
        for offset in 0..<count where bytes[index + offset] != start[offset] {
            index += offset
            throw error("unexpected character '\(Unicode.Scalar(bytes[index]))'")
        }
        index += count
    }

    mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONObject {
        index += 1  // {
        var members: [JSONObject.Member] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") { index += 1; return JSONObject(members) }
        // Room for an event's envelope or data at once, instead of growing 1, 2, 4, 8.
        members.reserveCapacity(8)
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a member name in double quotes") }
            let key: String
            if let known = KnownNames.find(in: bytes, at: index) {
                key = known.name
                index = known.next
            } else {
                key = try parseString()
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after a member name") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append(JSONObject.Member(key: key, value: value))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return JSONObject(members)
            case nil: throw error("unexpected end of input in an object")
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> [JSONValue] {
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return elements }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return elements
            case nil: throw error("unexpected end of input in an array")
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    mutating func parseNumber() throws(JSONSyntaxError) -> String {
        let start = index
        try scanNumber()
        return String.fromUTF8(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<index])))
    }

    /// Steps over a number literal, checking it against the JSON grammar.
    mutating func scanNumber() throws(JSONSyntaxError) {
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, first >= 0x30, first <= 0x39 else { throw error("expected a digit") }
        if first == 0x30 {
            index += 1
        } else {
            while let d = current, d >= 0x30, d <= 0x39 { index += 1 }
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard let d = current, d >= 0x30, d <= 0x39 else { throw error("expected a digit after '.'") }
            while let d = current, d >= 0x30, d <= 0x39 { index += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let d = current, d >= 0x30, d <= 0x39 else { throw error("expected a digit in the exponent") }
            while let d = current, d >= 0x30, d <= 0x39 { index += 1 }
        }
    }

    mutating func parseString() throws(JSONSyntaxError) -> String {
        let start = index + 1
        if let decoded = try scanString() { return decoded }
        return String.fromUTF8(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<(index - 1)])))
    }

    /// Steps over a string (from its opening quote to past its closing one), checking escapes and UTF-8.
    ///
    /// Returns the value when it differs from the bytes between the quotes or is not pure ASCII;
    /// nil when those bytes are the value, as ASCII (the common case: no String is made).
    mutating func scanString() throws(JSONSyntaxError) -> String? {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes. Pure ASCII needs no UTF-8 validation.
        skipPlainASCII()
        var nonASCII: UInt8 = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if nonASCII & 0x80 == 0 { return nil }
                return try Reader.validatedString(slice, column: start + 1)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error("a control character in a string must be escaped") }
            nonASCII |= byte
            index += 1
        }
        // Slow path: copy with escapes decoded.
        var out: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return try out.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) -> String in
                    try Reader.validatedString(buffer, column: start + 1)
                }
            case UInt8(ascii: "\\"):
                index += 1
                guard let escape = current else { throw error("unexpected end of input in an escape") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u")
                        else { throw error("a high surrogate must be followed by a low surrogate") }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("a lone low surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                    out.append(contentsOf: UTF8.encode(unicode)!)
                default:
                    throw error("invalid escape '\\\(Unicode.Scalar(escape))'")
                }
            default:
                if byte < 0x20 { throw error("a control character in a string must be escaped") }
                out.append(byte)
                index += 1
            }
        }
        throw error("unterminated string")
    }

    /// Steps over string bytes eight at a time up to the first that is a quote, a backslash, a
    /// control character or beyond ASCII (the byte loop after it sees to that one): most strings
    /// here are short, and end within the first eight bytes, where the loop stops right at the quote.
    @inline(__always) mutating func skipPlainASCII() {
        guard let base = bytes.baseAddress else { return }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while index + 8 <= bytes.count {
            // Little-endian: the byte at `index` is the word's lowest.
            let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
            // A byte below n sets its high bit in (x - n) & ~x (n at most 128). A borrow can also
            // flag bytes above a flagged one, never below it: the lowest flag is exact.
            func below(_ x: UInt64, _ n: UInt64) -> UInt64 { (x &- ones &* n) & ~x & highs }
            let flags = word & highs | below(word, 0x20) | below(word ^ (ones &* 0x22), 1) | below(word ^ (ones &* 0x5C), 1)
            if flags != 0 {
                index += flags.trailingZeroBitCount >> 3
                return
            }
            index += 8
        }
    }

    /// Text that is not pure ASCII must be valid UTF-8: invalid bytes are refused, never replaced.
    static func validatedString(_ bytes: UnsafeBufferPointer<UInt8>, column: Int) throws(JSONSyntaxError) -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw JSONSyntaxError(column: column, message: "a string is not valid UTF-8")
        }
        return s
    }

    mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("unexpected end of input in \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }
}

/// Member names the event catalogue uses, handed out without building a String from the bytes.
///
/// An event line has some twenty member names and nearly all of them are these; finding one here
/// costs a fraction of making a String from the bytes (UTF-8 checks included).
enum KnownNames {
    /// The catalogue's own names (envelope, each type's data rules, order lines, consent
    /// channels) and the usual meta names, each once.
    static let names: [String] = {
        var names = ["id", "type", "customer", "at", "data", "meta", "schema"]
        names += EventType.allCases.flatMap { type in type.dataRules.flatMap { ([$0.name] + $0.members).map(\.description) } }
        names += ["sku", "quantity", "price", "category", "name"]  // order and return lines
        names += Upcaster.knownConsentChannels
        names += ["source", "correlation_id", "causation_id"]
        var seen: Set<String> = []
        let unique = names.filter { seen.insert($0).inserted }
        precondition(unique.count < slotCount / 2, "KnownNames: grow slotCount")
        return unique
    }()
    static let bytes: [[UInt8]] = names.map { Array($0.utf8) }
    static let slotCount = 256
    /// Open addressing on (length, first byte, last byte); each slot holds an index into `names` plus one.
    static let slots: [UInt16] = {
        var slots = [UInt16](repeating: 0, count: slotCount)
        for (i, name) in bytes.enumerated() {
            var slot = hash(count: name.count, first: name[0], last: name[name.count - 1])
            while slots[slot] != 0 { slot = (slot + 1) & (slotCount - 1) }
            slots[slot] = UInt16(i + 1)
        }
        return slots
    }()

    @inline(__always) static func hash(count: Int, first: UInt8, last: UInt8) -> Int {
        (count &* 37 &+ Int(first) &* 11 &+ Int(last)) & (slotCount - 1)
    }

    /// The name in quotes at `start` (which holds the opening quote) when it is one of `names`
    /// written without escapes, and where the text goes on after its closing quote.
    @inline(__always)
    static func find(in text: UnsafeBufferPointer<UInt8>, at start: Int) -> (name: String, next: Int)? {
        let first = start + 1
        var end = first
        while end < text.count, end - first <= 18 {
            let byte = text[end]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { return nil }
            end += 1
        }
        let count = end - first
        guard count > 0, end < text.count, text[end] == UInt8(ascii: "\"") else { return nil }
        var slot = hash(count: count, first: text[first], last: text[end - 1])
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return nil }
            let candidate = bytes[entry - 1]
            if candidate.count == count, candidate.withUnsafeBufferPointer({ name in
                for i in 0..<count where name[i] != text[first + i] { return false }
                return true
            }) {
                return (names[entry - 1], end + 1)
            }
            slot = (slot + 1) & (slotCount - 1)
        }
    }
}
