public import AftersaleCore

/// Play 12: win back a customer worth it when P(alive) falls below the threshold or the expected next order is overdue.
///
/// Never while an order is open (placed, not cancelled, delivered or returned, and younger than
/// `open_order_days`). One win-back per lapse: the id holds the date of the last order, so a new
/// order starts a new episode; a new order also cancels a pending win-back.
public struct WinBackPolicy: Policy {
    public init() {}

    public func advance(state: CustomerState, from: Timestamp, to: Timestamp, outbox: [Command], context: ReactorContext) -> [Command] {
        let config = context.configuration.winBack
        guard to > from, state.orderCount > 0, let last = state.lastOrderAt, let currency = state.primaryCurrency else { return [] }
        let open = state.placedOrders.filter {
            $0.deliveredAt == nil && $0.returnRequestedAt == nil && $0.placedAt!.adding(wholeDays: config.openOrderDays) > to
        }
        guard open.isEmpty else { return [] }
        let prediction = context.prediction(for: state.customer)
        guard let (value, basis) = customerValue(state, prediction) else { return [] }
        let threshold = config.minValue.amount(in: value.currency.code) ?? Money(minorUnits: 0, currency: value.currency)
        guard value.minorUnits >= threshold.minorUnits else { return [] }

        var triggers: [String] = []
        if let p = prediction, p.pAlive < config.pAliveBelow {
            triggers.append("P(alive) \(fixed2(p.pAlive)) < \(fixed2(config.pAliveBelow))")
        }
        let expected: Timestamp
        let expectedWhy: String
        if let next = prediction?.expectedNextOrderAt {
            expected = next
            expectedWhy = "the model's expected next order"
        } else if let gap = state.averageDaysBetweenOrders {
            expected = last.adding(days: gap)
            expectedWhy = "last order + average gap \(fixed0(gap)) days"
        } else {
            expected = last.adding(wholeDays: config.defaultGapDays)
            expectedWhy = "single order + default gap \(config.defaultGapDays) days"
        }
        let overdueAt = expected.adding(wholeDays: config.overdueGraceDays)
        if overdueAt <= to, expected > last {
            triggers.append("expected next order \(expected.dateString) (\(expectedWhy)) is \(fixed0(expected.days(until: to))) days overdue (grace \(config.overdueGraceDays))")
        }
        guard !triggers.isEmpty else { return [] }
        var payload = JSONObject(["last_order": .string(last.dateString), "value": moneyJSON(value)])
        var offer = "no coupon configured for \(currency.code)"
        if let coupon = config.coupon.amount(in: currency.code) {
            payload["offer"] = .object(JSONObject(["type": .string("discount"), "coupon": moneyJSON(coupon)]))
            offer = "coupon \(coupon)"
        }
        var command = Command.proposal(.winBack, trigger: state.customer, subkey: "since-\(last.dateString)", customer: state.customer,
                                       due: to, payload: payload,
                                       reason: "\(triggers.joined(separator: "; ")), \(basis) >= \(threshold); no open order; \(offer)",
                                       context: context)
        command.trigger = "clock"
        return [command]
    }

    public func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation] {
        guard event.type == .orderPlaced, let order = event.data["order"]?.stringValue else { return [] }
        return pending.filter { $0.kind == .winBack }.map {
            Cancellation(commandID: $0.id, byEventID: event.id, reason: "new order \(order) placed")
        }
    }
}
