import AftersaleCore

/// HTML and SVG text helpers: escaping and number formatting, without Foundation.
public enum HTML {
    /// `text` with `& < > " '` replaced by character references: safe in element content and in
    /// quoted attribute values, in HTML and in inline SVG.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // C0 controls other than tab, LF and CR are not allowed in HTML text.
                if scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r" {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// `12345` -> `12,345`.
    static func integer(_ n: Int) -> String { group(String(n.magnitude), negative: n < 0) }

    /// An exact amount with thousands separators and its code: `12,345.60 EUR`.
    static func money(_ m: Money) -> String {
        let s = m.decimalString
        let negative = s.hasPrefix("-")
        let body = negative ? String(s.dropFirst()) : s
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        var out = group(String(parts[0]), negative: negative)
        if parts.count > 1 { out += "." + parts[1] }
        return out + " " + m.currency.code
    }

    /// An amount in major units rounded to whole units for axis labels: `1,200 EUR`.
    static func wholeMoney(minorUnits: Int64, currency: Currency) -> String {
        var scale: Int64 = 1
        for _ in 0..<currency.minorUnitDigits { scale *= 10 }
        let major = minorUnits >= 0 ? (minorUnits + scale / 2) / scale : -((-minorUnits + scale / 2) / scale)
        return group(String(major.magnitude), negative: major < 0)
    }

    /// `0.4321` -> `43.2%` (one decimal), or `43%` with `digits: 0`.
    static func percent(_ share: Double, digits: Int = 1) -> String {
        (FixedPoint.format(share * 100, digits: digits) ?? "–") + "%"
    }

    /// A plain decimal with `digits` places.
    static func decimal(_ x: Double, digits: Int) -> String { FixedPoint.format(x, digits: digits) ?? "–" }

    /// A duration in hours, in the unit a reader expects: `45 min`, `5.2 h`, `3.1 days`.
    static func duration(hours: Double) -> String {
        if hours < 1 { return decimal(hours * 60, digits: 0) + " min" }
        if hours < 48 { return decimal(hours, digits: 1) + " h" }
        return decimal(hours / 24, digits: 1) + " days"
    }

    private static func group(_ digits: String, negative: Bool) -> String {
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (negative ? "-" : "") + out
    }
}

/// SVG coordinate text: one decimal, deterministic.
@inline(__always) func svg(_ x: Double) -> String {
    guard let s = FixedPoint.format(x, digits: 1) else { return "0" }
    return s.hasSuffix(".0") ? String(s.dropLast(2)) : s
}

/// Round axis ticks: a nice step and the top of the axis, for values from 0 to `maximum`.
func niceAxis(maximum: Double, targetTicks: Int = 5) -> (step: Double, top: Double) {
    guard maximum > 0, maximum.isFinite else { return (1, 1) }
    let rough = maximum / Double(max(1, targetTicks))
    var magnitude = 1.0
    while magnitude * 10 <= rough { magnitude *= 10 }
    while magnitude > rough { magnitude /= 10 }
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
    let top = (maximum / step).rounded(.up) * step
    return (step, max(top, step))
}

/// Axis tick text: integers without decimals, others with what the step needs.
func tickLabel(_ value: Double, step: Double) -> String {
    if step >= 1 && value == value.rounded() { return HTML.integer(Int(value)) }
    let digits = step >= 0.1 ? 1 : step >= 0.01 ? 2 : 3
    return HTML.decimal(value, digits: digits)
}
