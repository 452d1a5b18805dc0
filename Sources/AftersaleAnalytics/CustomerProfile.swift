public import AftersaleCore
internal import AftersaleProjections
public import AftersaleStore
public import CustomerValue

/// One customer as `aftersale customer` shows them: state, stage, historical and predicted value,
/// recent events.
public struct CustomerProfile: Sendable {
    public var state: CustomerState
    public var stage: LifecycleStage
    /// The latest fitted model, if any.
    public var model: FittedModel?
    public var prediction: CustomerValue.CustomerPrediction?
    /// The customer's latest events, oldest first, their personal data opened where it can be.
    public var recent: [Event]
    /// Whether the personal data in `state` and `recent` could be opened (`erased` once forgotten).
    public var personalData: PersonalDataStatus = .none

    /// The customer's profile judged at `now` (the customers projection caught up first); nil when
    /// the log has no events of theirs.
    public static func load(_ customer: String, from log: EventLog, at now: Timestamp, monthlyDiscountRate: Double = 0.01,
                            recentEvents: Int = 10) throws -> CustomerProfile? {
        // Folds what the read model has not yet for this customer alone, and writes nothing: a read
        // under load is not held back by a catch-up of everyone's events.
        guard let (sealed, events) = try CustomerProjection(log: log).current(customer) else { return nil }
        let (state, status) = sealed.revealingPersonalData(with: log.vault)
        let model = try log.lastEvent(of: .modelFitted, in: EventType.systemCustomer).flatMap { FittedModel(event: $0.event) }
        let prediction = model.flatMap { LifetimeValue.predict(state, with: $0, now: now, monthlyDiscountRate: monthlyDiscountRate) }
        return CustomerProfile(state: state, stage: LifecycleStage.classify(state, at: now), model: model, prediction: prediction,
                               recent: events.suffix(recentEvents).map { PersonalDataVault.reveal($0.event, with: log.vault).event },
                               personalData: status)
    }

    private func money(_ sums: MoneyByCurrency) -> JSONValue {
        .object(JSONObject(sums.amounts.map { .init(key: $0.currency.code, value: .string($0.decimalString)) }))
    }

    /// The profile as one JSON object.
    public var json: String {
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
        o["email"] = s.email.map(JSONValue.string) ?? .null
        o["name"] = s.name.map(JSONValue.string) ?? .null
        o["personal_data"] = .string(personalData.rawValue)
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

    private func round4(_ x: Double) -> Double { (x * 10_000).rounded() / 10_000 }
}
