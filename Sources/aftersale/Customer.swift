import AftersaleCore
import AftersaleAnalytics
import AftersaleStore
import ArgumentParser
import CustomerValue
import Foundation

extension Aftersale {
    struct Customer: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "customer",
            abstract: "One customer: state, lifetime value, predictions and recent events."
        )

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The customer id.")
        var id: String

        @Option(help: ArgumentHelp("Judge stage and predictions at this time (default: the clock).", valueName: "RFC3339"))
        var now: String?

        @Option(help: "Monthly discount rate for predicted value.")
        var discountRate = 0.01

        @Option(help: "How many recent events to show.")
        var recent = 10

        @Flag(help: "Print as one JSON object.")
        var json = false

        @Flag(help: "Print everything held about the person as one JSON object (an access request): profile, every event, every command.")
        var personalData = false

        func run() throws {
            let log = try database.openLog()
            if personalData {
                guard let report = try PersonalDataReport.json(of: id, from: log) else { throw CommandFailure("no events for customer '\(id)'") }
                print(report)
                return
            }
            let at = try now.map { text in
                do { return try Timestamp.parse(text) } catch { throw CommandFailure("--now \(text) is not an RFC 3339 timestamp") }
            } ?? WallClock.now()
            guard let profile = try CustomerProfile.load(id, from: log, at: at, monthlyDiscountRate: discountRate, recentEvents: recent) else {
                throw CommandFailure("no events for customer '\(id)'")
            }
            print(json ? profile.json : profile.text)
        }
    }
}

extension CustomerProfile {
    /// The profile as the terminal shows it.
    var text: String {
        let s = state
        var lines = ["customer \(s.customer): \(stage.rawValue)"]
        if let name = s.name { lines[0] += ", \(name)" }
        if let email = s.email { lines[0] += " <\(email)>" }
        switch personalData {
        case .erased where s.name == nil && s.email == nil: lines[0] += " (personal data erased)"
        case .unavailable: lines[0] += " (personal data unavailable: keys missing or unreadable)"
        default: break
        }
        let net = s.netValue.amounts.map(\.description)
        lines.append("  orders \(s.orderCount) (\(s.itemCount) items), first \(s.firstOrderAt?.dateString ?? "-"), last \(s.lastOrderAt?.dateString ?? "-")")
        lines.append("  historical value (net) \(net.isEmpty ? "-" : net.joined(separator: ", "))")
        if let aov = s.averageOrderValue {
            lines.append("  average order \(aov)" + (s.averageDaysBetweenOrders.map { String(format: ", every %.0f days", $0) } ?? ""))
        }
        lines.append("  open orders \(s.openOrders.count), open shipments \(s.openShipments), returns \(s.returnsRequested) (\(s.openReturns.count) open), reviews \(s.reviewCount)"
            + (s.unansweredNegativeReviews.isEmpty ? "" : ", \(s.unansweredNegativeReviews.count) unanswered negative"))
        let consent = s.consent.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value ? "yes" : "no")" }.joined(separator: ", ")
        lines.append("  consent \(consent.isEmpty ? "none recorded" : consent)" + (s.birthday.map { ", birthday \($0)" } ?? "") + (s.timeZone.map { ", \($0)" } ?? ""))
        if let p = prediction, let model {
            lines.append("  prediction (\(model.kind.displayName), fitted through \(model.calibrationEnd)):")
            lines.append(String(format: "    P(alive) %.2f, expected purchases 30d %.2f / 90d %.2f / 365d %.2f, P(order within 90d) %.2f",
                                p.probabilityAlive, p.expectedPurchases30Days, p.expectedPurchases90Days, p.expectedPurchases365Days,
                                p.repeatPurchaseProbability90Days))
            lines.append("    expected next order \(p.expectedNextOrder?.dateString ?? "none expected"), predicted 12-month value \(p.predictedValue12Months?.description ?? "-"), total \(p.totalValue?.description ?? "-")")
        } else {
            lines.append("  prediction: none (run `aftersale fit` first)")
        }
        lines.append("  recent events:")
        for e in recent { lines.append("    \(e.at.rfc3339WithOffset)  \(e.type.rawValue)  \(e.data["order"]?.stringValue ?? e.data["review"]?.stringValue ?? "")") }
        return lines.joined(separator: "\n")
    }

}
