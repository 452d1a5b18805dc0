/// One JSON text as a flat list of tokens over its bytes: what ingest validates an event line on.
///
/// Parsing into a `JSONValue` tree makes a String for every member name and value and an array
/// for every object, then frees them all; for an event line that was two thirds of decoding it.
/// A tape is one array of fixed-size tokens, kept from line to line. Strings stay bytes in the
/// line, except those whose value differs from their bytes (escapes) or that are not pure ASCII:
/// those are decoded once, while parsing, into a side list. The grammar is `JSONParser`'s own
/// (the same scanners for strings, numbers and literals), so both accept the same texts.
public struct JSONTape {
    @usableFromInline enum Kind: UInt8 { case null, `false`, `true`, number, string, array, object }

    @usableFromInline struct Token {
        var kind: Kind
        /// Strings: the bytes between the quotes. Others: the value's text (a container's from its
        /// opening bracket to past its closing one).
        var start: Int32
        var end: Int32
        /// Containers: the index of the token after the container's last one. Strings: the index
        /// of the decoded value in `strings`, or -1 when the bytes are the value.
        var link: Int32
    }

    @usableFromInline var tokens: [Token] = []
    @usableFromInline var strings: [String] = []

    public init() {
        tokens.reserveCapacity(64)
    }

    /// Parses `bytes` (one complete JSON text), replacing what the tape held, and hands the
    /// top-level value to `body`. The value is valid only inside `body`.
    ///
    /// Inlinable, so that it is compiled for each caller's `body`: called through its generic
    /// form, it looked up the metadata of its result types three times a line.
    @inlinable public mutating func parse<R, E: Error>(
        _ bytes: UnsafeBufferPointer<UInt8>, _ body: (Value) throws(E) -> R
    ) throws(JSONTapeError<E>) -> R {
        do throws(JSONSyntaxError) {
            try fill(from: bytes)
        } catch {
            throw .syntax(error)
        }
        do throws(E) {
            return try tokens.withUnsafeBufferPointer { (tokens) throws(E) -> R in
                try strings.withUnsafeBufferPointer { (strings) throws(E) -> R in
                    try body(Value(bytes: bytes, tokens: tokens, strings: strings, index: 0))
                }
            }
        } catch {
            throw .body(error)
        }
    }

    /// Replaces what the tape held with the tokens of `bytes`.
    @usableFromInline mutating func fill(from bytes: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) {
        tokens.removeAll(keepingCapacity: true)
        strings.removeAll(keepingCapacity: true)
        guard bytes.count < Int(Int32.max) else { throw JSONSyntaxError(column: 1, message: "a line longer than 2 GiB") }
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        try reader.parseTapeValue(depth: 0, into: &self)
        reader.skipWhitespace()
        if reader.index != bytes.count { throw reader.error("unexpected text after the value") }
    }

    /// One value on a parsed tape: trivially copyable, so reading it costs no reference counting.
    public struct Value {
        let bytes: UnsafeBufferPointer<UInt8>
        let tokens: UnsafeBufferPointer<Token>
        let strings: UnsafeBufferPointer<String>
        let index: Int

        @usableFromInline init(bytes: UnsafeBufferPointer<UInt8>, tokens: UnsafeBufferPointer<Token>,
                               strings: UnsafeBufferPointer<String>, index: Int) {
            self.bytes = bytes
            self.tokens = tokens
            self.strings = strings
            self.index = index
        }

        var token: Token { tokens[index] }

        func at(_ index: Int) -> Value { Value(bytes: bytes, tokens: tokens, strings: strings, index: index) }

        /// Where the value's text is in the bytes it was parsed from (quotes and brackets included).
        public var range: Range<Int> {
            let token = self.token
            return token.kind == .string ? Int(token.start - 1)..<Int(token.end + 1) : Int(token.start)..<Int(token.end)
        }

        /// The value's text exactly as written.
        public var text: String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
    }
}

/// Why `JSONTape.parse` failed: the text is not JSON, or the caller's body threw.
public enum JSONTapeError<Body: Error>: Error {
    case syntax(JSONSyntaxError)
    case body(Body)
}

extension Reader {
    /// Appends the value at `index` (and everything in it) to the tape.
    mutating func parseTapeValue(depth: Int, into tape: inout JSONTape) throws(JSONSyntaxError) {
        guard let byte = current else { throw error("unexpected end of input") }
        let start = index
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < Reader.maxDepth else { throw error("nesting deeper than \(Reader.maxDepth)") }
            let isObject = byte == UInt8(ascii: "{")
            let slot = tape.tokens.count
            tape.tokens.append(JSONTape.Token(kind: isObject ? .object : .array, start: Int32(start), end: 0, link: 0))
            if isObject { try parseTapeObject(depth: depth + 1, into: &tape) } else { try parseTapeArray(depth: depth + 1, into: &tape) }
            tape.tokens[slot].end = Int32(index)
            tape.tokens[slot].link = Int32(tape.tokens.count)
        case UInt8(ascii: "\""):
            try appendTapeString(into: &tape)
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            tape.tokens.append(JSONTape.Token(kind: .true, start: Int32(start), end: Int32(index), link: 0))
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            tape.tokens.append(JSONTape.Token(kind: .false, start: Int32(start), end: Int32(index), link: 0))
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            tape.tokens.append(JSONTape.Token(kind: .null, start: Int32(start), end: Int32(index), link: 0))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber()
            tape.tokens.append(JSONTape.Token(kind: .number, start: Int32(start), end: Int32(index), link: 0))
        default:
            throw error("unexpected character '\(Unicode.Scalar(byte))'")
        }
    }

    mutating func appendTapeString(into tape: inout JSONTape) throws(JSONSyntaxError) {
        let start = index + 1
        var link: Int32 = -1
        if let decoded = try scanString() {
            link = Int32(tape.strings.count)
            tape.strings.append(decoded)
        }
        tape.tokens.append(JSONTape.Token(kind: .string, start: Int32(start), end: Int32(index - 1), link: link))
    }

    /// Members go on the tape as name, value, name, value...
    mutating func parseTapeObject(depth: Int, into tape: inout JSONTape) throws(JSONSyntaxError) {
        index += 1  // {
        skipWhitespace()
        if current == UInt8(ascii: "}") { index += 1; return }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a member name in double quotes") }
            try appendTapeString(into: &tape)
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after a member name") }
            index += 1
            skipWhitespace()
            try parseTapeValue(depth: depth, into: &tape)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return
            case nil: throw error("unexpected end of input in an object")
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    mutating func parseTapeArray(depth: Int, into tape: inout JSONTape) throws(JSONSyntaxError) {
        index += 1  // [
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return }
        while true {
            skipWhitespace()
            try parseTapeValue(depth: depth, into: &tape)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return
            case nil: throw error("unexpected end of input in an array")
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }
}
