import AftersaleCore
import AftersaleStore
import ArgumentParser
import CustomerValue
import Foundation

extension Aftersale {
    struct Customer: ParsableCommand {
        static let configuration = CommandConfiguration(
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

        func run() throws {
            let log = try database.openLog()
            let projection = try CustomerProjection(log: log)
            try projection.catchUp()
            guard let state = try projection.state(of: id) else { throw CommandFailure("no events for customer '\(id)'") }
            let at = try now.map { text in
                do { return try Timestamp.parse(text) } catch { throw CommandFailure("--now \(text) is not an RFC 3339 timestamp") }
            } ?? WallClock.now()
            let model = try log.lastEvent(of: .modelFitted, in: EventType.systemCustomer).flatMap { FittedModel(event: $0.event) }
            let prediction = model.flatMap { LifetimeValue.predict(state, with: $0, now: at, monthlyDiscountRate: discountRate) }
            let stage = LifecycleStage.classify(state, at: at)
            let events = try log.stream(of: id).suffix(recent)
            let view = CustomerView(state: state, stage: stage, model: model, prediction: prediction, recent: Array(events.map(\.event)))
            print(json ? view.json : view.text)
        }
    }
}

/// What `aftersale customer` shows.
struct CustomerView {
    var state: CustomerState
    var stage: LifecycleStage
    var model: FittedModel?
    var prediction: CustomerPrediction?
    var recent: [Event]

    func money(_ sums: MoneyByCurrency) -> JSONValue {
        .object(JSONObject(sums.amounts.map { .init(key: $0.currency.code, value: .string($0.decimalString)) }))
    }

    var json: String {
        let s = state
        var o = JSONObject([
            "customer": .string(s.customer), "stage": .string(stage.rawValue),
            "order_count": .integer(s.orderCount), "item_count": .integer(s.itemCount),
            "first_order": s.firstOrderAt.map { .string($0.description) } ?? .null,
            "last_order": s.lastOrderAt.map { .string($0.description) } ?? .null,
            "historical_value": money(s.netValue),
            "open_orders": .array(s.openOrders.map { .string($0.id) }), "open_shipments": .integer(s.openShipments),
            "returns_requested": .integer(s.returnsRequested), "returns_refunded": .integer(s.returnsRefunded),
            "refunded": money(s.refundedValue), "reviews": .integer(s.reviewCount),
            "last_rating": s.lastRating.map(JSONValue.integer) ?? .null,
            "unanswered_negative_reviews": .array(s.unansweredNegativeReviews.sorted().map(JSONValue.string)),
            "unboxings_shared": .integer(s.unboxingsShared),
            "consent": .object(JSONObject(s.consent.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .bool($0.value)) })),
            "birthday": s.birthday.map { .string($0.description) } ?? .null, "timezone": s.timeZone.map(JSONValue.string) ?? .null,
        ])
        if let aov = s.averageOrderValue {
            o["average_order_value"] = .string(aov.decimalString)
            o["currency"] = .string(aov.currency.code)
        }
        o["average_days_between_orders"] = s.averageDaysBetweenOrders.map { .double(($0 * 10).rounded() / 10) } ?? .null
        if let p = prediction, let model {
            o["prediction"] = .object(JSONObject([
                "model": .string(model.event().id),
                "p_alive": .double(round4(p.probabilityAlive)),
                "expected_purchases_30d": .double(round4(p.expectedPurchases30Days)),
                "expected_purchases_90d": .double(round4(p.expectedPurchases90Days)),
                "expected_purchases_365d": .double(round4(p.expectedPurchases365Days)),
                "repeat_purchase_probability_90d": .double(round4(p.repeatPurchaseProbability90Days)),
                "expected_next_order": p.expectedNextOrder.map { .string($0.dateString) } ?? .null,
                "predicted_clv_12m": p.predictedValue12Months.map { .string($0.decimalString) } ?? .null,
                "total_clv": p.totalValue.map { .string($0.decimalString) } ?? .null,
            ]))
        } else {
            o["prediction"] = .null
        }
        o["recent_events"] = .array(recent.map { e in
            (try? JSONParser.parse(e.jsonLine)) ?? .null
        })
        return JSONValue.object(o).compactText
    }

    var text: String {
        let s = state
        var lines = ["customer \(s.customer): \(stage.rawValue)"]
        if let name = s.name { lines[0] += ", \(name)" }
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

    func round4(_ x: Double) -> Double { (x * 10_000).rounded() / 10_000 }
}
