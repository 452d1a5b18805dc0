/// Somewhere bytes can be appended: a `[UInt8]`, or a `LineWriter` over scratch memory.
protocol ByteSink {
    mutating func appendByte(_ byte: UInt8)
    mutating func appendBytes(_ bytes: UnsafeBufferPointer<UInt8>)
}

extension Array: ByteSink where Element == UInt8 {
    @inline(__always)
    mutating func appendByte(_ byte: UInt8) { append(byte) }

    @inline(__always)
    mutating func appendBytes(_ bytes: UnsafeBufferPointer<UInt8>) { append(contentsOf: bytes) }
}

/// Appends into caller-provided memory without bounds or uniqueness checks; the caller
/// guarantees the capacity (the stream renders each event into a stack buffer sized for the longest line).
struct LineWriter: ByteSink {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    private(set) var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    @inline(__always)
    mutating func appendByte(_ byte: UInt8) {
        assert(count < capacity, "line longer than its buffer")
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func appendBytes(_ bytes: UnsafeBufferPointer<UInt8>) {
        assert(count + bytes.count <= capacity, "line longer than its buffer")
        guard let source = bytes.baseAddress else { return }
        (base + count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    mutating func appendBytes(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { appendBytes($0) }
    }

    var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }
}

/// Byte-level JSON writing helpers: the simulator renders events straight into bytes.
extension ByteSink {
    /// Appends a literal (already valid JSON or plain ASCII).
    @inline(__always)
    mutating func write(_ literal: StaticString) {
        literal.withUTF8Buffer { appendBytes($0) }
    }

    /// Appends a JSON string literal: quotes, with `"`, `\` and control characters escaped.
    mutating func writeJSONString(_ text: String) {
        appendByte(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
        if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            appendBytes(utf8)
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): write("\\\"")
            case UInt8(ascii: "\\"): write("\\\\")
            case 0x0A: write("\\n")
            case 0x0D: write("\\r")
            case 0x09: write("\\t")
            case 0x08: write("\\b")
            case 0x0C: write("\\f")
            case 0..<0x20:
                write("\\u00")
                appendByte(hexDigit(byte >> 4))
                appendByte(hexDigit(byte & 0x0F))
            default: appendByte(byte)
            }
        }
        }
        appendByte(UInt8(ascii: "\""))
    }

    @inline(__always)
    private func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 48 + nibble : 87 + nibble
    }

    /// Appends a non-negative integer in decimal, zero-padded to at least `width` digits (at most 20).
    @inline(__always)
    mutating func writeDecimal(_ value: UInt64, width: Int = 1) {
        if value < 10 && width <= 1 {
            appendByte(UInt8(truncatingIfNeeded: 48 + value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var v = value
            var index = 20
            repeat {
                index -= 1
                digits[index] = UInt8(truncatingIfNeeded: 48 + v % 10)
                v /= 10
            } while v > 0
            while 20 - index < Swift.min(width, 20) {
                index -= 1
                digits[index] = 48
            }
            appendBytes(UnsafeBufferPointer(rebasing: digits[index..<20]))
        }
    }

    /// Appends a signed integer in decimal.
    @inline(__always)
    mutating func writeInteger(_ value: Int64) {
        if value < 0 {
            appendByte(UInt8(ascii: "-"))
            writeDecimal(value.magnitude)
        } else {
            writeDecimal(UInt64(value))
        }
    }

    /// Appends an amount in minor units as a quoted decimal string with two decimals, e.g. `"59.80"`.
    mutating func writeMoney(_ cents: Int64) {
        appendByte(UInt8(ascii: "\""))
        if cents < 0 { appendByte(UInt8(ascii: "-")) }
        let magnitude = cents.magnitude
        writeDecimal(magnitude / 100)
        appendByte(UInt8(ascii: "."))
        writeDecimal(magnitude % 100, width: 2)
        appendByte(UInt8(ascii: "\""))
    }

    /// Appends a quoted RFC 3339 UTC timestamp.
    @inline(__always)
    mutating func writeTimestamp(_ unixSeconds: Int64) {
        appendByte(UInt8(ascii: "\""))
        writeTimestampDigits(unixSeconds)
        appendByte(UInt8(ascii: "\""))
    }
}

/// Money formatting shared with callers that want to compare against the emitted text.
public enum SimulatedMoney {
    /// Formats minor units (cents) as a decimal string with two decimals, e.g. 5980 -> `59.80`.
    public static func format(cents: Int64) -> String {
        var bytes: [UInt8] = []
        bytes.writeMoney(cents)
        return String(decoding: bytes.dropFirst().dropLast(), as: UTF8.self)
    }

    /// Parses a decimal string with at most two decimals into minor units; nil when malformed.
    public static func cents(_ text: String) -> Int64? {
        var negative = false
        var whole: Int64 = 0
        var fraction: Int64 = 0
        var fractionDigits = 0
        var seenDot = false
        var seenDigit = false
        for (index, byte) in text.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "-") where index == 0:
                negative = true
            case UInt8(ascii: "."):
                if seenDot { return nil }
                seenDot = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                seenDigit = true
                let digit = Int64(byte - 48)
                if seenDot {
                    fractionDigits += 1
                    if fractionDigits > 2 { return nil }
                    fraction = fraction * 10 + digit
                } else {
                    let (product, overflow) = whole.multipliedReportingOverflow(by: 10)
                    if overflow || product > Int64.max / 100 - 10 { return nil }
                    whole = product + digit
                }
            default:
                return nil
            }
        }
        guard seenDigit else { return nil }
        if fractionDigits == 1 { fraction *= 10 }
        let value = whole * 100 + fraction
        return negative ? -value : value
    }
}
