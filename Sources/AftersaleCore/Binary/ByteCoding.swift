/// Text a `ByteWriter` stores: a String, or a string value as parsed (`JSONString`).
public protocol StoredText {
    func withStoredUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R
}

extension String: StoredText {
    @inlinable public func withStoredUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var text = self
        return text.withUTF8(body)
    }
}

extension String {
    /// A String of UTF-8 bytes, invalid sequences repaired as `String(decoding:as:)` does.
    ///
    /// Up to 15 bytes (most ids, SKUs and currency codes) are copied straight into a small string,
    /// which the standard library checks for ASCII with two word masks and takes without further
    /// validation; only a non-ASCII one is validated (and repaired). `String(decoding:as:)`
    /// validates every string byte by byte first, a large share of a rebuild worker's work, most
    /// of it on short ASCII ids.
    @inlinable static func fromUTF8(_ bytes: UnsafeRawBufferPointer) -> String {
        guard bytes.count <= 15 else { return String(decoding: bytes, as: UTF8.self) }
        guard let source = bytes.baseAddress, bytes.count > 0 else { return "" }
        return String(unsafeUninitializedCapacity: bytes.count) { buffer in
            buffer.baseAddress!.initialize(from: source.assumingMemoryBound(to: UInt8.self), count: bytes.count)
            return bytes.count
        }
    }

    /// `withUTF8` on a copy (a native string's own bytes, no copy of them), passing on `body`'s
    /// typed error, which `withUTF8` would widen to `any Error`.
    func withTypedUTF8<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        var text = self
        let result: Result<R, E> = text.withUTF8 { utf8 in
            do throws(E) { return .success(try body(utf8)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}

/// Appends compact binary fields: LEB128 varints (zigzag for signed values) and length-prefixed UTF-8.
///
/// Used for the fold facts stored beside each event and for projection rows: formats the engine
/// both writes and reads, so they carry their own version and need no self-description.
public struct ByteWriter: ~Copyable {
    // A buffer of its own rather than an `[UInt8]`: appending to an array checks uniqueness and
    // capacity per byte, and encoding a customer's state appends byte by byte.
    @usableFromInline var base: UnsafeMutablePointer<UInt8>
    @usableFromInline var count = 0
    @usableFromInline var capacity: Int

    public init(capacity: Int = 64) {
        self.capacity = max(16, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// What was written.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// How many bytes were written.
    public var byteCount: Int { count }

    /// What was written, where it is (valid only inside `body`).
    @inlinable public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Starts over, keeping the buffer.
    public mutating func removeAll() { count = 0 }

    /// Makes room for `n` more bytes.
    @inlinable mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(n) }
    }

    @usableFromInline mutating func grow(_ n: Int) {
        let larger = max(capacity * 2, count + n)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
        buffer.update(from: base, count: count)
        base.deallocate()
        base = buffer
        capacity = larger
    }

    @inlinable public mutating func byte(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    @inlinable public mutating func unsigned(_ value: UInt64) {
        reserve(10)
        var v = value
        while v >= 0x80 {
            base[count] = UInt8(truncatingIfNeeded: v) | 0x80
            count += 1
            v >>= 7
        }
        base[count] = UInt8(v)
        count += 1
    }

    @inlinable public mutating func signed(_ value: Int64) {
        unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    @inlinable public mutating func int(_ value: Int) { signed(Int64(value)) }

    @inlinable public mutating func bool(_ value: Bool) { byte(value ? 1 : 0) }

    @inlinable public mutating func string<Text: StoredText>(_ value: Text) {
        value.withStoredUTF8 { utf8 in
            unsigned(UInt64(utf8.count))
            append(utf8)
        }
    }

    /// Appends a string's UTF-8 bytes alone, with no length.
    public mutating func utf8(_ value: String) {
        value.withStoredUTF8 { append($0) }
    }

    /// nil is written as length 0, a string as its length + 1.
    @inlinable public mutating func optionalString<Text: StoredText>(_ value: Text?) {
        guard let value else { return byte(0) }
        value.withStoredUTF8 { utf8 in
            unsigned(UInt64(utf8.count) + 1)
            append(utf8)
        }
    }

    /// Appends bytes as they are (a field another reader stepped over).
    public mutating func append(raw: UnsafeRawBufferPointer) {
        append(raw.bindMemory(to: UInt8.self))
    }

    public mutating func append(_ raw: [UInt8]) {
        raw.withUnsafeBufferPointer { append($0) }
    }

    @usableFromInline mutating func append(_ raw: UnsafeBufferPointer<UInt8>) {
        guard let source = raw.baseAddress, raw.count > 0 else { return }
        reserve(raw.count)
        (base + count).update(from: source, count: raw.count)
        count += raw.count
    }

    /// nil is written as 0, a value as its zigzag + 1.
    @inlinable public mutating func optionalSigned(_ value: Int64?) {
        guard let value else { return byte(0) }
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
        // Most varints here (lengths, counts, quantities) are one byte.
        if index < base.count, base[index] < 0x80 {
            index += 1
            return UInt64(base[index - 1])
        }
        return try multiByteUnsigned()
    }

    @usableFromInline mutating func multiByteUnsigned() throws(BinaryDecodingError) -> UInt64 {
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

    /// How many bytes have been read.
    public var offset: Int { index }

    /// A copy of the bytes read since `offset` `start`.
    public func bytes(from start: Int) -> [UInt8] { Array(UnsafeRawBufferPointer(rebasing: base[start..<index])) }

    /// Steps over a string (checking that its bytes are there) without making a `String` of it.
    public mutating func skipString() throws(BinaryDecodingError) {
        try skip(count: Int(try unsigned()))
    }

    /// Steps over an optional string; true when it was there (not nil).
    @discardableResult
    public mutating func skipOptionalString() throws(BinaryDecodingError) -> Bool {
        let n = try unsigned()
        if n > 0 { try skip(count: Int(n - 1)) }
        return n > 0
    }

    /// Steps over an optional string and returns its bytes as written (its length included), to
    /// be copied elsewhere with `ByteWriter.append(raw:)`.
    public mutating func optionalStringField() throws(BinaryDecodingError) -> UnsafeRawBufferPointer {
        let start = index
        try skipOptionalString()
        return UnsafeRawBufferPointer(rebasing: base[start..<index])
    }

    private mutating func skip(count: Int) throws(BinaryDecodingError) {
        guard count >= 0, index + count <= base.count else { throw BinaryDecodingError("truncated string at byte \(index)") }
        index += count
    }

    private mutating func utf8(count: Int) throws(BinaryDecodingError) -> String {
        guard count >= 0, index + count <= base.count else { throw BinaryDecodingError("truncated string at byte \(index)") }
        defer { index += count }
        return String.fromUTF8(UnsafeRawBufferPointer(rebasing: base[index..<index + count]))
    }
}
