/// An exact amount of money: integer minor units (cents) of one currency. Never a `Double`.
public struct Money: Sendable, Hashable, CustomStringConvertible {
    public var minorUnits: Int64
    public var currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// The amount in major units as an exact decimal string: "59.80", "1200" (JPY), "-0.05".
    public var decimalString: String {
        Money.decimalString(minorUnits: minorUnits, digits: currency.minorUnitDigits)
    }

    /// "59.80 EUR".
    public var description: String { "\(decimalString) \(currency.code)" }

    public static func decimalString(minorUnits: Int64, digits: Int) -> String {
        guard digits > 0 else { return String(minorUnits) }
        let magnitude = minorUnits.magnitude
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        let fraction = String(magnitude % scale)
        let padded = String(repeating: "0", count: digits - fraction.count) + fraction
        return (minorUnits < 0 ? "-" : "") + String(magnitude / scale) + "." + padded
    }
}

/// Why a text is not an amount of money in a currency.
public enum AmountError: Error, Sendable, Equatable {
    case notDecimal
    case negative
    case tooManyDecimalPlaces(allowed: Int)
    case tooLarge
}

extension Money {
    /// Parses a decimal in major units ("59.8", "59.80", "1200") into minor units of a currency.
    ///
    /// Exact: digits beyond the currency's minor unit are accepted only when they are zeros.
    public static func parseMinorUnits(_ text: String, digits: Int) throws(AmountError) -> Int64 {
        try text.withTypedUTF8 { (utf8) throws(AmountError) in try parseMinorUnits(utf8: utf8, digits: digits) }
    }

    /// Money as JSON states it: an amount (a number, or a decimal string in major units:
    /// `59.8`, `"59.80"`, `"1200"` for JPY) and an ISO 4217 currency code, as in a refund's data
    /// or a command's payload.
    ///
    /// Nil when either is missing or not one, or when the amount is negative or has more
    /// decimals than the currency's minor unit (other than zeros).
    public init?<V: JSONReading>(amount: V?, currency: V?) {
        guard let currency = currency.flatMap(Currency.init(named:)),
              let units = amount?.minorUnits(digits: currency.minorUnitDigits) else { return nil }
        self.init(minorUnits: units, currency: currency)
    }

    /// The same from the text's UTF-8.
    static func parseMinorUnits(utf8 text: UnsafeBufferPointer<UInt8>, digits: Int) throws(AmountError) -> Int64 {
        var utf8 = text[...]
        var negative = false
        if utf8.first == UInt8(ascii: "-") {
            negative = true
            utf8 = utf8.dropFirst()
        }
        guard let first = utf8.first, first >= 0x30, first <= 0x39 else { throw .notDecimal }
        var units: Int64 = 0
        var seenPoint = false
        var fractionDigits = 0
        var sawDigitAfterPoint = false
        var excessDigits = false
        var nonZero = false
        for byte in utf8 {
            if byte == UInt8(ascii: ".") {
                if seenPoint { throw .notDecimal }
                seenPoint = true
                continue
            }
            guard byte >= 0x30, byte <= 0x39 else { throw .notDecimal }
            let digit = Int64(byte - 0x30)
            if digit != 0 { nonZero = true }
            if seenPoint {
                sawDigitAfterPoint = true
                fractionDigits += 1
                if fractionDigits > digits {
                    if digit != 0 { excessDigits = true }
                    continue
                }
            }
            let (m, o1) = units.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(digit)
            if o1 || o2 { throw .tooLarge }
            units = s
        }
        if seenPoint && !sawDigitAfterPoint { throw .notDecimal }
        if negative && nonZero { throw .negative }
        if excessDigits { throw .tooManyDecimalPlaces(allowed: digits) }
        for _ in min(fractionDigits, digits)..<digits {
            let (m, o) = units.multipliedReportingOverflow(by: 10)
            if o { throw .tooLarge }
            units = m
        }
        return units
    }
}
