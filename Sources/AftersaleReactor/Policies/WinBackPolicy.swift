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
        guard to > from, state.orderCount > 0, let last = state.lastOrderAt, let currency = state.primaryCurrency,
              to >= WinBackPolicy.noOpenOrderFrom(state, config) else { return [] }
        // One per lapse: with this one's in the outbox, the forecast need not be asked.
        guard !WinBackPolicy.holdsEpisode(outbox, customer: state.customer, last: last) else { return [] }
        let prediction = context.prediction(for: state.customer)
        // Judged on the figures first: most ticks propose nothing, and the words are for a command.
        guard WinBackPolicy.isWorth(state, prediction, context) else { return [] }
        let lapsed = prediction.map { $0.pAlive < config.pAliveBelow } ?? false
        let expected = WinBackPolicy.expectedNextOrderAt(state, last: last, prediction, config)
        let overdue = expected.adding(wholeDays: config.overdueGraceDays) <= to && expected > last
        guard lapsed || overdue, let (value, basis, threshold) = WinBackPolicy.worth(state, prediction, context) else { return [] }
        var triggers: [String] = []
        if let p = prediction, lapsed {
            triggers.append("P(alive) \(fixed2(p.pAlive)) < \(fixed2(config.pAliveBelow))")
        }
        if overdue {
            let (_, expectedWhy) = WinBackPolicy.expectedNextOrder(state, last: last, prediction, config)
            triggers.append("expected next order \(expected.dateString) (\(expectedWhy)) is \(fixed0(expected.days(until: to))) days overdue (grace \(config.overdueGraceDays))")
        }
        var payload = JSONObject(["last_order": .string(last.dateString), "value": moneyJSON(value)])
        var offer = "no coupon configured for \(currency.code)"
        if let coupon = config.coupon.amount(in: currency.code) {
            payload["offer"] = .object(JSONObject(["type": .string("discount"), "coupon": moneyJSON(coupon)]))
            offer = "coupon \(coupon)"
        }
        var command = Command.proposal(.winBack, trigger: state.customer, subkey: WinBackPolicy.episode(last), customer: state.customer,
                                       due: to, payload: payload,
                                       reason: "\(triggers.joined(separator: "; ")), \(basis) >= \(threshold); no open order; \(offer)",
                                       context: context)
        command.trigger = "clock"
        return [command]
    }

    /// The first moment a win-back could be proposed for the customer's current lapse: none when
    /// the outbox holds it already (a new order starts a new one); otherwise once no order is open,
    /// the first moment the customer is worth it and the forecast or the calendar says lapsed.
    /// Forecasts are fixed within a forecast period: it judges the one ahead and, if that says
    /// nothing, answers the start of the next, to be asked again.
    public func nextWake(state: CustomerState, after clock: Timestamp, outbox: [Command], context: ReactorContext,
                         forecasts: ForecastLookup?) -> Timestamp? {
        let config = context.configuration.winBack
        guard state.orderCount > 0, let last = state.lastOrderAt, state.primaryCurrency != nil else { return nil }
        guard !WinBackPolicy.holdsEpisode(outbox, customer: state.customer, last: last) else { return nil }
        let t = max(clock.adding(millis: 1), WinBackPolicy.noOpenOrderFrom(state, config))
        let prediction = forecasts?.at(t)
        if WinBackPolicy.isWorth(state, prediction, context) {
            if let p = prediction, p.pAlive < config.pAliveBelow { return t }
            let expected = WinBackPolicy.expectedNextOrderAt(state, last: last, prediction, config)
            if expected > last {
                let overdue = max(t, expected.adding(wholeDays: config.overdueGraceDays))
                // Without a model nothing changes with time but the calendar.
                if forecasts == nil || overdue < ForecastLookup.nextPeriod(after: t) { return overdue }
            }
        } else if let prediction, WinBackPolicy.staysUnworthy(prediction, context) {
            // Not worth it now, nor in any later forecast before the customer's next event, which
            // wakes the plays anyway: asking every period would cost a forecast each time.
            return nil
        }
        // Without a model, a customer not worth it or never overdue stays so until their next event.
        return forecasts == nil ? nil : ForecastLookup.nextPeriod(after: t)
    }

    /// The id's episode: the day of the last order.
    static func episode(_ last: Timestamp) -> String { "since-\(last.dateString)" }

    /// Whether the outbox holds the win-back of the lapse since `last`.
    static func holdsEpisode(_ outbox: [Command], customer: String, last: Timestamp) -> Bool {
        Command.isHeld(in: outbox, .winBack, customer, episode(last))
    }

    /// From when no order is open: orders placed, not cancelled, delivered or returned, count as
    /// open for `open_order_days`.
    static func noOpenOrderFrom(_ state: CustomerState, _ config: ReactorConfiguration.WinBack) -> Timestamp {
        var from = Timestamp(millis: Int64.min)
        for order in state.orders.values where order.cancelledAt == nil && order.deliveredAt == nil && order.returnRequestedAt == nil {
            guard let placed = order.placedAt else { continue }
            from = max(from, placed.adding(wholeDays: config.openOrderDays))
        }
        return from
    }

    /// Whether the customer's value reaches the threshold (`worth`, without its words).
    static func isWorth(_ state: CustomerState, _ prediction: CustomerForecast?, _ context: ReactorContext) -> Bool {
        guard let (value, _) = customerValueAmount(state, prediction) else { return false }
        return value.minorUnits >= threshold(for: value, context).minorUnits
    }

    /// The customer's value, how it was judged, and the threshold it reaches, when it reaches it.
    static func worth(_ state: CustomerState, _ prediction: CustomerForecast?, _ context: ReactorContext) -> (Money, String, Money)? {
        guard let (value, basis) = customerValue(state, prediction) else { return nil }
        let threshold = threshold(for: value, context)
        return value.minorUnits >= threshold.minorUnits ? (value, basis, threshold) : nil
    }

    /// For a customer not worth it now: whether no later forecast makes them so before their
    /// next event. Their historical value, below its threshold now, stays what it is; the value
    /// is the CLV instead only when that reaches the threshold in its own currency.
    static func staysUnworthy(_ prediction: CustomerForecast, _ context: ReactorContext) -> Bool {
        let minimum = prediction.clvCurrency.map { WinBackPolicy.threshold(for: Money(minorUnits: 0, currency: $0), context).minorUnits }
        return prediction.clvStaysBelow(minimum ?? .max)
    }

    /// The configured minimum value in the value's currency (none configured: zero).
    static func threshold(for value: Money, _ context: ReactorContext) -> Money {
        context.configuration.winBack.minValue.amount(in: value.currency.code) ?? Money(minorUnits: 0, currency: value.currency)
    }

    /// `expectedNextOrder` without its words.
    static func expectedNextOrderAt(_ state: CustomerState, last: Timestamp, _ prediction: CustomerForecast?,
                                    _ config: ReactorConfiguration.WinBack) -> Timestamp {
        if let next = prediction?.expectedNextOrderAt { return next }
        if let gap = state.averageDaysBetweenOrders { return last.adding(days: gap) }
        return last.adding(wholeDays: config.defaultGapDays)
    }

    /// When the next order was expected, and why then.
    static func expectedNextOrder(_ state: CustomerState, last: Timestamp, _ prediction: CustomerForecast?,
                                  _ config: ReactorConfiguration.WinBack) -> (Timestamp, String) {
        if let next = prediction?.expectedNextOrderAt { return (next, "the model's expected next order") }
        if let gap = state.averageDaysBetweenOrders { return (last.adding(days: gap), "last order + average gap \(fixed0(gap)) days") }
        return (last.adding(wholeDays: config.defaultGapDays), "single order + default gap \(config.defaultGapDays) days")
    }

    public func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation] {
        guard event.type == .orderPlaced, let order = event.data["order"]?.stringValue else { return [] }
        return pending.filter { $0.kind == .winBack }.map {
            Cancellation(commandID: $0.id, byEventID: event.id, reason: "new order \(order) placed")
        }
    }
}
