/// An instant with millisecond precision, plus the UTC offset it was written with.
///
/// Ordering and equality use the instant only: 12:00+02:00 and 10:00Z are the same moment.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var millis: Int64
    /// The offset from UTC, in minutes, the sender wrote (0 for `Z`).
    public var offsetMinutes: Int

    public init(millis: Int64, offsetMinutes: Int = 0) {
        self.millis = millis
        self.offsetMinutes = offsetMinutes
    }

    public static func == (l: Timestamp, r: Timestamp) -> Bool { l.millis == r.millis }
    public func hash(into hasher: inout Hasher) { hasher.combine(millis) }
    public static func < (l: Timestamp, r: Timestamp) -> Bool { l.millis < r.millis }

    public static let millisPerDay: Int64 = 86_400_000

    /// Days since 1970-01-01 of this instant in UTC.
    public var utcDay: Int64 { Timestamp.floorDiv(millis, Timestamp.millisPerDay) }

    /// Days since 1970-01-01 of this instant on the sender's local calendar.
    public var localDay: Int64 { Timestamp.floorDiv(millis + Int64(offsetMinutes) * 60_000, Timestamp.millisPerDay) }

    /// 00:00 UTC of this instant's day.
    public var startOfUTCDay: Timestamp { Timestamp(millis: utcDay * Timestamp.millisPerDay) }

    public func adding(days: Double) -> Timestamp {
        Timestamp(millis: millis + Int64((days * Double(Timestamp.millisPerDay)).rounded()), offsetMinutes: offsetMinutes)
    }

    public func adding(millis delta: Int64) -> Timestamp {
        Timestamp(millis: millis + delta, offsetMinutes: offsetMinutes)
    }

    /// RFC 3339 in UTC: `2025-03-01T10:15:00Z`, with `.SSS` only when the milliseconds are not zero.
    public var description: String { Timestamp.format(millis: millis, offsetMinutes: 0) }

    /// RFC 3339 in the offset the sender used.
    public var rfc3339WithOffset: String { Timestamp.format(millis: millis, offsetMinutes: offsetMinutes) }

    /// The UTC calendar date, `YYYY-MM-DD`.
    public var dateString: String { CivilDate(daysSinceEpoch: utcDay).description }

    /// Division rounding towards negative infinity.
    public static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func format(millis: Int64, offsetMinutes: Int) -> String {
        let local = millis + Int64(offsetMinutes) * 60_000
        let day = floorDiv(local, millisPerDay)
        var msOfDay = local - day * millisPerDay
        let date = CivilDate(daysSinceEpoch: day)
        let hour = msOfDay / 3_600_000; msOfDay -= hour * 3_600_000
        let minute = msOfDay / 60_000; msOfDay -= minute * 60_000
        let second = msOfDay / 1000
        let ms = msOfDay - second * 1000
        // The usual case written byte by byte: the reactor writes times into most of its commands.
        if (0...9999).contains(date.year), abs(offsetMinutes) < 100 * 60 {
            let length = 19 + (ms != 0 ? 4 : 0) + (offsetMinutes == 0 ? 1 : 6)
            return String(unsafeUninitializedCapacity: length) { b in
                date.writeDigits(into: b)
                b[10] = UInt8(ascii: "T")
                writeDigits(hour, 2, into: b, at: 11)
                b[13] = UInt8(ascii: ":")
                writeDigits(minute, 2, into: b, at: 14)
                b[16] = UInt8(ascii: ":")
                writeDigits(second, 2, into: b, at: 17)
                var at = 19
                if ms != 0 {
                    b[at] = UInt8(ascii: ".")
                    writeDigits(ms, 3, into: b, at: at + 1)
                    at += 4
                }
                if offsetMinutes == 0 {
                    b[at] = UInt8(ascii: "Z")
                } else {
                    let m = Int64(abs(offsetMinutes))
                    b[at] = UInt8(ascii: offsetMinutes < 0 ? "-" : "+")
                    writeDigits(m / 60, 2, into: b, at: at + 1)
                    b[at + 3] = UInt8(ascii: ":")
                    writeDigits(m % 60, 2, into: b, at: at + 4)
                }
                return length
            }
        }
        var s = "\(date)T\(pad2(hour)):\(pad2(minute)):\(pad2(second))"
        if ms != 0 { s += "." + String(String(ms + 1000).dropFirst()) }
        if offsetMinutes == 0 {
            s += "Z"
        } else {
            let m = abs(offsetMinutes)
            s += (offsetMinutes < 0 ? "-" : "+") + pad2(Int64(m / 60)) + ":" + pad2(Int64(m % 60))
        }
        return s
    }
}

@inline(__always) func pad2(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }

/// Writes `n` (0 <= n < 10^count) as `count` decimal digits, zero-padded, at `at`.
@inline(__always) func writeDigits(_ n: Int64, _ count: Int, into b: UnsafeMutableBufferPointer<UInt8>, at: Int) {
    var n = n
    for i in stride(from: at + count - 1, through: at, by: -1) {
        b[i] = UInt8(ascii: "0") + UInt8(n % 10)
        n /= 10
    }
}

/// Why a text is not an RFC 3339 timestamp.
public struct TimestampSyntaxError: Error, Sendable, Equatable {
    public var message: String
}

extension Timestamp {
    /// Parses RFC 3339 (`2025-03-01T10:15:00Z`, `2025-03-01T12:15:00.250+02:00`).
    ///
    /// Fractional seconds beyond milliseconds are truncated; leap seconds (`:60`) are refused.
    public static func parse(_ text: String) throws(TimestampSyntaxError) -> Timestamp {
        // Read in place (a native string is contiguous UTF-8): copying it into an array, and
        // looking separators up in a String, were a quarter of the validator's time on timestamps.
        try text.withTypedUTF8 { (bytes) throws(TimestampSyntaxError) in try parse(utf8: bytes) }
    }

    static func parse(utf8 b: UnsafeBufferPointer<UInt8>) throws(TimestampSyntaxError) -> Timestamp {
        func digits(_ at: Int, _ count: Int) throws(TimestampSyntaxError) -> Int {
            guard at + count <= b.count else { throw TimestampSyntaxError(message: "too short") }
            var v = 0
            for i in at..<(at + count) {
                let c = b[i]
                guard c >= 0x30, c <= 0x39 else { throw TimestampSyntaxError(message: "expected a digit at position \(i + 1)") }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        /// `byte` at `at`, or one of the alternatives; `byte` is the one the error names.
        func expect(_ at: Int, _ byte: UInt8, or other: UInt8 = 0, _ another: UInt8 = 0) throws(TimestampSyntaxError) {
            guard at < b.count, b[at] == byte || (other != 0 && b[at] == other) || (another != 0 && b[at] == another) else {
                throw TimestampSyntaxError(message: "expected '\(Character(Unicode.Scalar(byte)))' at position \(at + 1)")
            }
        }
        let year = try digits(0, 4)
        try expect(4, UInt8(ascii: "-"))
        let month = try digits(5, 2)
        try expect(7, UInt8(ascii: "-"))
        let day = try digits(8, 2)
        try expect(10, UInt8(ascii: "T"), or: UInt8(ascii: "t"), UInt8(ascii: " "))
        let hour = try digits(11, 2)
        try expect(13, UInt8(ascii: ":"))
        let minute = try digits(14, 2)
        try expect(16, UInt8(ascii: ":"))
        let second = try digits(17, 2)
        var i = 19
        var ms = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            var scale = 100
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                ms += Int(b[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { throw TimestampSyntaxError(message: "expected digits after '.'") }
        }
        guard i < b.count else { throw TimestampSyntaxError(message: "missing the offset (Z or +HH:MM)") }
        var offset = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            let oh = try digits(i + 1, 2)
            try expect(i + 3, UInt8(ascii: ":"))
            let om = try digits(i + 4, 2)
            guard oh <= 23, om <= 59 else { throw TimestampSyntaxError(message: "offset out of range") }
            offset = sign * (oh * 60 + om)
            i += 6
        default:
            throw TimestampSyntaxError(message: "expected Z or +HH:MM at position \(i + 1)")
        }
        guard i == b.count else { throw TimestampSyntaxError(message: "unexpected text at position \(i + 1)") }
        guard (1...12).contains(month) else { throw TimestampSyntaxError(message: "month \(month) out of range") }
        guard day >= 1, day <= CivilDate.daysIn(month: month, year: year) else {
            throw TimestampSyntaxError(message: "day \(day) out of range")
        }
        guard hour <= 23, minute <= 59, second <= 59 else { throw TimestampSyntaxError(message: "time of day out of range") }
        let days = CivilDate(year: year, month: month, day: day).daysSinceEpoch
        let local = days * 86_400_000 + Int64(hour * 3_600_000 + minute * 60_000 + second * 1000 + ms)
        return Timestamp(millis: local - Int64(offset) * 60_000, offsetMinutes: offset)
    }
}

/// A proleptic Gregorian calendar date.
public struct CivilDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    public static func < (l: CivilDate, r: CivilDate) -> Bool { (l.year, l.month, l.day) < (r.year, r.month, r.day) }

    /// Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    public var daysSinceEpoch: Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date `daysSinceEpoch` days after 1970-01-01 (civil_from_days).
    public init(daysSinceEpoch z0: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(year: Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), month: Int(m), day: Int(d))
    }

    public var description: String {
        // `YYYY-MM-DD` written byte by byte for the years of four digits: ids and reasons hold dates.
        if (0...9999).contains(year) {
            return String(unsafeUninitializedCapacity: 10) { b in
                writeDigits(into: b)
                return 10
            }
        }
        let y = String(year)
        return String(repeating: "0", count: max(0, 4 - y.count)) + y + "-" + pad2(Int64(month)) + "-" + pad2(Int64(day))
    }

    /// Midnight UTC at the start of this date.
    public var startOfDayUTC: Timestamp { Timestamp(millis: daysSinceEpoch * Timestamp.millisPerDay) }

    public static func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Parses `YYYY-MM-DD` or `YYYYMMDD`.
    public static func parse(_ text: String) -> CivilDate? {
        let b = Array(text.utf8)
        let digits: [Int]
        if b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") {
            digits = [0, 1, 2, 3, 5, 6, 8, 9].map { Int(b[$0]) - 0x30 }
        } else if b.count == 8 {
            digits = b.map { Int($0) - 0x30 }
        } else {
            return nil
        }
        guard digits.allSatisfy({ (0...9).contains($0) }) else { return nil }
        let year = digits[0] * 1000 + digits[1] * 100 + digits[2] * 10 + digits[3]
        let month = digits[4] * 10 + digits[5]
        let day = digits[6] * 10 + digits[7]
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        return CivilDate(year: year, month: month, day: day)
    }
}

extension CivilDate {
    /// Writes `YYYY-MM-DD` into the first ten bytes (a year of 0...9999).
    @inline(__always) func writeDigits(into b: UnsafeMutableBufferPointer<UInt8>) {
        AftersaleCore.writeDigits(Int64(year), 4, into: b, at: 0)
        b[4] = UInt8(ascii: "-")
        AftersaleCore.writeDigits(Int64(month), 2, into: b, at: 5)
        b[7] = UInt8(ascii: "-")
        AftersaleCore.writeDigits(Int64(day), 2, into: b, at: 8)
    }
}
