import BuyTillYouDie
import Foundation

/// The CDNOW 1/10 sample (Fader, Hardie & Lee 2005), summarised for the calibration period
/// 1997-01-01 … 1997-09-30 in weeks.
enum CDNOW {
    struct Transaction {
        var customer: Int
        var day: Int
        var value: Double
    }

    static let calibrationEnd = dayNumber(19_970_930)

    static let transactions: [Transaction] = {
        let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        let text = try! String(contentsOf: directory.appendingPathComponent("cdnow_sample.txt"), encoding: .utf8)
        return text.split(whereSeparator: \.isNewline).map { line in
            let fields = line.split(whereSeparator: \.isWhitespace)
            return Transaction(customer: Int(fields[1])!, day: dayNumber(Int(fields[2])!), value: Double(fields[4])!)
        }
    }()

    /// Calibration summaries by sample customer id, in weeks.
    static let customers: [Int: RFMSummary] = {
        let byCustomer = Dictionary(grouping: transactions, by: \.customer)
        return byCustomer.compactMapValues { list in
            RFMSummary(purchases: list.map { Purchase(day: $0.day, value: $0.value) }, calibrationEnd: calibrationEnd, unit: .week)
        }
    }()

    static let statistics = SufficientStatistics(customers.values)

    /// Days since 1970-01-01 of a YYYYMMDD date (Hinnant's days-from-civil).
    static func dayNumber(_ yyyymmdd: Int) -> Int {
        var y = yyyymmdd / 10000
        let m = yyyymmdd / 100 % 100, d = yyyymmdd % 100
        if m <= 2 { y -= 1 }
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

/// `value` rounded to `decimals` places (for comparing with published estimates).
func rounded(_ value: Double, _ decimals: Int) -> Double {
    let scale = pow(10, Double(decimals))
    return (value * scale).rounded() / scale
}

/// ∂f/∂pᵢ by the five-point stencil with a step relative to pᵢ (truncation error O(h⁴)).
func fivePointDerivative(_ f: ([Double]) -> Double, at point: [Double], index i: Int, relativeStep: Double = 1e-4) -> Double {
    let h = relativeStep * max(abs(point[i]), 1e-3)
    func shifted(_ k: Double) -> Double {
        var p = point
        p[i] += k * h
        return f(p)
    }
    return (-shifted(2) + 8 * shifted(1) - 8 * shifted(-1) + shifted(-2)) / (12 * h)
}
