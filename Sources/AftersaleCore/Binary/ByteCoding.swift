/// Appends compact binary fields: LEB128 varints (zigzag for signed values) and length-prefixed UTF-8.
///
/// Used for the fold facts stored beside each event and for projection rows: formats the engine
/// both writes and reads, so they carry their own version and need no self-description.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable public mutating func byte(_ b: UInt8) { bytes.append(b) }

    @inlinable public mutating func unsigned(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inlinable public mutating func signed(_ value: Int64) {
        unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    @inlinable public mutating func int(_ value: Int) { signed(Int64(value)) }

    @inlinable public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            unsigned(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// nil is written as length 0, a string as its length + 1.
    public mutating func optionalString(_ value: String?) {
        guard var value else { return bytes.append(0) }
        value.withUTF8 { utf8 in
            unsigned(UInt64(utf8.count) + 1)
            bytes.append(contentsOf: utf8)
        }
    }

    /// nil is written as 0, a value as its zigzag + 1.
    @inlinable public mutating func optionalSigned(_ value: Int64?) {
        guard let value else { return bytes.append(0) }
        unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)) &+ 1)
    }
}

/// Stored bytes that do not decode: truncated, or written by an unknown format.
public struct BinaryDecodingError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "cannot decode stored bytes: \(reason)" }
}

/// Reads what `ByteWriter` wrote, in the same order.
public struct ByteReader {
    @usableFromInline let base: UnsafeRawBufferPointer
    @usableFromInline var index = 0

    public init(_ bytes: UnsafeRawBufferPointer) { base = bytes }

    public var isAtEnd: Bool { index >= base.count }

    @inlinable public mutating func byte() throws(BinaryDecodingError) -> UInt8 {
        guard index < base.count else { throw BinaryDecodingError("truncated at byte \(index)") }
        defer { index += 1 }
        return base[index]
    }

    @inlinable public mutating func unsigned() throws(BinaryDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            guard shift < 64 else { throw BinaryDecodingError("varint too long at byte \(index)") }
        }
    }

    @inlinable public mutating func signed() throws(BinaryDecodingError) -> Int64 {
        let u = try unsigned()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    @inlinable public mutating func int() throws(BinaryDecodingError) -> Int { Int(truncatingIfNeeded: try signed()) }

    @inlinable public mutating func bool() throws(BinaryDecodingError) -> Bool { try byte() != 0 }

    public mutating func string() throws(BinaryDecodingError) -> String {
        try utf8(count: Int(try unsigned()))
    }

    public mutating func optionalString() throws(BinaryDecodingError) -> String? {
        let n = try unsigned()
        return n == 0 ? nil : try utf8(count: Int(n - 1))
    }

    public mutating func optionalSigned() throws(BinaryDecodingError) -> Int64? {
        let u = try unsigned()
        guard u > 0 else { return nil }
        let z = u - 1
        return Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1)))
    }

    private mutating func utf8(count: Int) throws(BinaryDecodingError) -> String {
        guard count >= 0, index + count <= base.count else { throw BinaryDecodingError("truncated string at byte \(index)") }
        defer { index += count }
        return String(decoding: UnsafeRawBufferPointer(rebasing: base[index..<index + count]), as: UTF8.self)
    }
}
