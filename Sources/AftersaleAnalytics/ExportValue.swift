public import AftersaleCore

/// One cell of an export, typed so that CSV and JSON Lines each write it in their own way.
///
/// | Case | CSV | JSON Lines |
/// |------|-----|------------|
/// | `text` | as is | string |
/// | `integer` | digits | number |
/// | `decimal` | the literal (`0.8123`) | number |
/// | `money` | exact decimal (`59.80`) | string (`"59.80"`), so no reader turns it into a float |
/// | `bool` | `true` / `false` | `true` / `false` |
/// | `date` | `YYYY-MM-DD` | string |
/// | `timestamp` | RFC 3339 in UTC | string |
/// | `json` | compact JSON text | the JSON value itself |
/// | `missing` | empty field | `null` |
public enum ExportValue: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    /// A decimal number literal, already formatted (see `ExportValue.fixed(_:digits:)`).
    case decimal(String)
    /// An exact amount in major units, without the currency (it has its own column).
    case money(String)
    case bool(Bool)
    case date(CivilDate)
    case timestamp(Timestamp)
    case json(JSONValue)
    case missing

    /// The CSV field; `nil` for a missing value.
    public var csvField: String? {
        switch self {
        case .text(let s), .decimal(let s), .money(let s): s
        case .integer(let n): String(n)
        case .bool(let b): b ? "true" : "false"
        case .date(let d): d.description
        case .timestamp(let t): t.description
        case .json(let v): v.compactText
        case .missing: nil
        }
    }

    /// The JSON value written in JSON Lines.
    public var jsonValue: JSONValue {
        switch self {
        case .text(let s), .money(let s): .string(s)
        case .decimal(let s): .number(s)
        case .integer(let n): .number(String(n))
        case .bool(let b): .bool(b)
        case .date(let d): .string(d.description)
        case .timestamp(let t): .string(t.description)
        case .json(let v): v
        case .missing: .null
        }
    }
}

extension ExportValue {
    /// Text, or missing when `nil`.
    public static func text(_ s: String?) -> ExportValue { s.map { .text($0) } ?? .missing }
    /// An integer, or missing when `nil`.
    public static func integer(_ n: Int?) -> ExportValue { n.map { .integer(Int64($0)) } ?? .missing }
    /// A date, or missing when `nil`.
    public static func date(_ d: CivilDate?) -> ExportValue { d.map { .date($0) } ?? .missing }
    /// The UTC date of an instant, or missing when `nil`.
    public static func date(of t: Timestamp?) -> ExportValue { t.map { .date(CivilDate(daysSinceEpoch: $0.utcDay)) } ?? .missing }
    /// An instant, or missing when `nil`.
    public static func timestamp(_ t: Timestamp?) -> ExportValue { t.map { .timestamp($0) } ?? .missing }
    /// An exact amount in minor units of a currency with `digits` decimals, or missing when `nil`.
    public static func money(minorUnits: Int64?, digits: Int) -> ExportValue {
        minorUnits.map { .money(Money.decimalString(minorUnits: $0, digits: digits)) } ?? .missing
    }
    /// A finite double with exactly `digits` decimals (half away from zero); missing when `nil`, NaN or infinite.
    public static func fixed(_ x: Double?, digits: Int) -> ExportValue {
        guard let x, let s = FixedPoint.format(x, digits: digits) else { return .missing }
        return .decimal(s)
    }
}

/// Fixed-precision decimal text without Foundation.
enum FixedPoint {
    /// `x` with exactly `digits` decimals, rounded half away from zero; nil for NaN, infinities and
    /// magnitudes beyond 1e15 (where a double has no fraction digits left to print).
    static func format(_ x: Double, digits: Int) -> String? {
        guard x.isFinite, abs(x) < 1e15 else { return nil }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(x) * scale).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9.0e18 else { return nil }
        let units = Int64(scaled)
        let negative = x < 0 && units != 0
        return (negative ? "-" : "") + Money.decimalString(minorUnits: units, digits: digits)
    }
}
