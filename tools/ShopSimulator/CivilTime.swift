internal import AftersaleCore

/// Calendar helpers in UTC for the simulator: day numbers and fast RFC 3339 writing.
///
/// Used instead of `DateFormatter`, which is far too slow for millions of timestamps.
public enum CivilTime {
    /// Seconds in one day.
    public static let secondsPerDay: Int64 = 86_400

    /// Days since 1970-01-01 for a civil date (the core's `CivilDate` does the arithmetic).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        Int(CivilDate(year: year, month: month, day: day).daysSinceEpoch)
    }

    /// The civil date of a day number (days since 1970-01-01).
    public static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let date = CivilDate(daysSinceEpoch: Int64(days))
        return (date.year, date.month, date.day)
    }

    /// Unix seconds for a UTC civil date and time.
    public static func unixSeconds(
        year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0
    ) -> Int64 {
        Int64(daysFromCivil(year: year, month: month, day: day)) * secondsPerDay
            + Int64(hour * 3600 + minute * 60 + second)
    }

    /// RFC 3339 UTC text with second precision, e.g. `2024-01-01T00:00:00Z`; years must be in 0...9999.
    public static func rfc3339(_ unixSeconds: Int64) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20)
        bytes.writeTimestampDigits(unixSeconds)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A `YYYY-MM-DD` date for a day number.
    public static func isoDate(days: Int) -> String {
        var bytes: [UInt8] = []
        bytes.writeDateDigits(days: days)
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension ByteSink {
    @inline(__always)
    mutating func writeTwoDigits(_ value: Int) {
        appendByte(UInt8(truncatingIfNeeded: 48 + value / 10))
        appendByte(UInt8(truncatingIfNeeded: 48 + value % 10))
    }

    /// Appends `YYYY-MM-DD` (no quotes).
    mutating func writeDateDigits(days: Int) {
        let (year, month, day) = CivilTime.civilFromDays(days)
        writeTwoDigits(year / 100)
        writeTwoDigits(year % 100)
        appendByte(UInt8(ascii: "-"))
        writeTwoDigits(month)
        appendByte(UInt8(ascii: "-"))
        writeTwoDigits(day)
    }

    /// Appends `YYYY-MM-DDTHH:MM:SSZ` (no quotes).
    mutating func writeTimestampDigits(_ unixSeconds: Int64) {
        var days = unixSeconds / CivilTime.secondsPerDay
        var secondOfDay = unixSeconds % CivilTime.secondsPerDay
        if secondOfDay < 0 {
            secondOfDay += CivilTime.secondsPerDay
            days -= 1
        }
        writeDateDigits(days: Int(days))
        let s = Int(secondOfDay)
        appendByte(UInt8(ascii: "T"))
        writeTwoDigits(s / 3600)
        appendByte(UInt8(ascii: ":"))
        writeTwoDigits((s / 60) % 60)
        appendByte(UInt8(ascii: ":"))
        writeTwoDigits(s % 60)
        appendByte(UInt8(ascii: "Z"))
    }
}
