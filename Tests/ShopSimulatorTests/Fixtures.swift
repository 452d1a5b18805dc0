import Foundation
import ShopSimulator

/// Shared simulated logs, generated once per test process.
enum Fixtures {
    /// A full shop: 2,000 customers over two years, every side process on.
    static let fullShopConfiguration = SimulationConfiguration(seed: 11, customers: 2_000)
    static let fullShop: [String] = Array(ShopSimulation(fullShopConfiguration))

    /// A purchases-only shop for checking the log against the known truth.
    static let purchasesOnlyConfiguration = SimulationConfiguration.purchasesOnly(seed: 5, customers: 5_000)
    static let purchasesOnly: [String] = Array(ShopSimulation(purchasesOnlyConfiguration))

    /// Parses NDJSON lines into dictionaries; nil entries for lines that are not JSON objects.
    static func parse(_ lines: [String]) -> [[String: Any]?] {
        lines.map { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// Unix seconds of an RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` text; nil when not in exactly that shape.
    static func unixSeconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              bytes[19] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        return CivilTime.unixSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// True for a decimal string with exactly two decimals, e.g. `59.80`.
    static func isMoney(_ value: Any?) -> Bool {
        guard let text = value as? String else { return false }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].count == 2
            && parts.allSatisfy { $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }
}
