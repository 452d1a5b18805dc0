/// The kinds of JSON value.
public enum JSONKind: Sendable {
    case null, bool, number, string, array, object

    /// A short name of the kind, for error messages.
    public var name: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A member name written in the code, compared as bytes: looking a member up makes no String.
public struct MemberName: ExpressibleByStringLiteral, CustomStringConvertible, Sendable {
    public let text: StaticString

    public init(stringLiteral text: StaticString) { self.text = text }

    var utf8: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount) }

    public var description: String { text.description }

    /// Whether `name` is this name.
    @inline(__always) func matches(_ name: UnsafeBufferPointer<UInt8>) -> Bool { sameBytes(name, utf8) }

    func matches(_ name: String) -> Bool { name.withStoredUTF8(matches) }
}

/// Whether two byte runs are equal: lengths first, then bytes, with no bounds checks.
@inline(__always) func sameBytes(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    guard let p = a.baseAddress, let q = b.baseAddress else { return true }
    for i in 0..<a.count where p[i] != q[i] { return false }
    return true
}

/// Read access to one parsed JSON value, as a tree (`JSONValue`) or on a tape (`JSONTape.Value`).
///
/// The event validator and the facts encoder are written once, against this: ingest runs them on
/// a tape, everything holding an `Event` on its tree.
public protocol JSONReading {
    var kind: JSONKind { get }
    var boolValue: Bool? { get }
    /// A string's value.
    var stringValue: String? { get }
    /// A number as an `Int` when it is an integer literal in range.
    var intValue: Int? { get }
    var doubleValue: Double? { get }
    /// The first member named `name` of an object.
    subscript(member name: MemberName) -> Self? { get }
    /// Hands `body` the UTF-8 of a string's value or of a number's literal; nil for other kinds.
    func withText<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R?
    /// Each member of an object in order, its name as a string value.
    func forEachMember<E: Error>(_ body: (_ name: Self, _ value: Self) throws(E) -> Void) throws(E)
    /// Each element of an array in order.
    func forEachElement<E: Error>(_ body: (_ offset: Int, _ element: Self) throws(E) -> Void) throws(E)
}

extension JSONReading {
    public var kindName: String { kind.name }
    /// The value when it is a string, for a `ByteWriter` to store without making a String.
    public var storedText: JSONString<Self>? { kind == .string ? JSONString(value: self) : nil }

    /// A decimal amount (number or string) in minor units of a currency with `digits` decimals;
    /// nil when it is not one (the validator has refused such events already). The one reader of
    /// amounts from JSON: the facts encoder calls it, everything else reads `Money(amount:currency:)`.
    func minorUnits(digits: Int) -> Int64? {
        withText { utf8 in try? Money.parseMinorUnits(utf8: utf8, digits: digits) } ?? nil
    }
}

/// A JSON string value, stored by a `ByteWriter` straight from where it was parsed.
public struct JSONString<Value: JSONReading>: StoredText {
    let value: Value

    public func withStoredUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R { value.withText(body)! }
}

extension JSONValue: JSONReading {
    public var kind: JSONKind {
        switch self {
        case .null: .null
        case .bool: .bool
        case .number: .number
        case .string: .string
        case .array: .array
        case .object: .object
        }
    }

    public func withText<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R? {
        switch self {
        case .string(let text), .number(let text):
            return try text.withTypedUTF8(body)
        default:
            return nil
        }
    }

    public subscript(member name: MemberName) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        for member in object.members where name.matches(member.key) { return member.value }
        return nil
    }

    public func forEachMember<E: Error>(_ body: (_ name: JSONValue, _ value: JSONValue) throws(E) -> Void) throws(E) {
        guard case .object(let object) = self else { return }
        for member in object.members { try body(.string(member.key), member.value) }
    }

    public func forEachElement<E: Error>(_ body: (_ offset: Int, _ element: JSONValue) throws(E) -> Void) throws(E) {
        guard case .array(let elements) = self else { return }
        for (offset, element) in elements.enumerated() { try body(offset, element) }
    }
}

extension JSONTape.Value: JSONReading {
    public var kind: JSONKind {
        switch token.kind {
        case .null: .null
        case .false, .true: .bool
        case .number: .number
        case .string: .string
        case .array: .array
        case .object: .object
        }
    }

    public var boolValue: Bool? {
        switch token.kind {
        case .true: true
        case .false: false
        default: nil
        }
    }

    public var stringValue: String? {
        let token = self.token
        guard token.kind == .string else { return nil }
        if token.link >= 0 { return strings[Int(token.link)] }
        return String.fromUTF8(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[Int(token.start)..<Int(token.end)])))
    }

    /// As `Int(String)` reads a JSON number literal: nil for a fraction, an exponent or overflow.
    public var intValue: Int? {
        let token = self.token
        guard token.kind == .number else { return nil }
        var i = Int(token.start)
        let end = Int(token.end)
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var value = 0
        while i < end {
            let byte = bytes[i]
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int(byte - 0x30)) : m.addingReportingOverflow(Int(byte - 0x30))
            if o1 || o2 { return nil }
            value = s
            i += 1
        }
        return value
    }

    public var doubleValue: Double? {
        guard token.kind == .number else { return nil }
        return Double(text)
    }

    public subscript(member name: MemberName) -> JSONTape.Value? {
        let token = self.token
        guard token.kind == .object else { return nil }
        var i = index + 1
        let end = Int(token.link)
        while i < end {
            if at(i).hasName(name) { return at(i + 1) }
            i = next(after: i + 1)
        }
        return nil
    }

    /// The index after the value at `i` and everything in it.
    func next(after i: Int) -> Int {
        let token = tokens[i]
        return token.kind == .object || token.kind == .array ? Int(token.link) : i + 1
    }

    /// Whether this string's value is exactly `name`.
    @inline(__always) func hasName(_ name: MemberName) -> Bool {
        let token = self.token
        if token.link >= 0 { return name.matches(strings[Int(token.link)]) }
        return name.matches(UnsafeBufferPointer(rebasing: bytes[Int(token.start)..<Int(token.end)]))
    }

    public func withText<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R? {
        let token = self.token
        switch token.kind {
        case .string where token.link >= 0:
            return try strings[Int(token.link)].withTypedUTF8(body)
        case .string, .number:
            return try body(UnsafeBufferPointer(rebasing: bytes[Int(token.start)..<Int(token.end)]))
        default:
            return nil
        }
    }

    public func forEachMember<E: Error>(_ body: (_ name: JSONTape.Value, _ value: JSONTape.Value) throws(E) -> Void) throws(E) {
        guard token.kind == .object else { return }
        var i = index + 1
        let end = Int(token.link)
        while i < end {
            try body(at(i), at(i + 1))
            i = next(after: i + 1)
        }
    }

    public func forEachElement<E: Error>(_ body: (_ offset: Int, _ element: JSONTape.Value) throws(E) -> Void) throws(E) {
        guard token.kind == .array else { return }
        var i = index + 1
        var offset = 0
        let end = Int(token.link)
        while i < end {
            try body(offset, at(i))
            i = next(after: i)
            offset += 1
        }
    }
}
