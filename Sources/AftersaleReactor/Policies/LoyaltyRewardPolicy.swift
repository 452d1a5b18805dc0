public import AftersaleCore

/// Play 11: reward order milestones (e.g. the third order) and give VIP treatment by predicted CLV.
///
/// A milestone reward is cancelled if the order that reached it is cancelled. VIP treatment comes
/// from the clock, once a year, while the prediction reaches the threshold.
public struct LoyaltyRewardPolicy: Policy {
    public init() {}

    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        let config = context.configuration.loyalty
        guard event.type == .orderPlaced, let id = event.data["order"]?.stringValue, before.orders[id]?.placedAt == nil,
              after.orders[id]?.cancelledAt == nil else { return [] }
        let currency = after.orders[id]?.currency ?? after.primaryCurrency?.code ?? ""
        return config.milestones.filter { before.orderCount < $0 && $0 <= after.orderCount }.map { milestone in
            var payload = JSONObject(["order": .string(id), "milestone": .integer(milestone), "orders": .integer(after.orderCount)])
            var reward = "no milestone coupon configured for \(currency)"
            if let coupon = config.milestoneCoupon.amount(in: currency) {
                payload["offer"] = .object(JSONObject(["type": .string("discount"), "coupon": moneyJSON(coupon)]))
                reward = "coupon \(coupon)"
            }
            return .proposal(.loyaltyReward, trigger: event.id, subkey: "order-\(milestone)", customer: after.customer,
                             due: event.at.adding(wholeDays: config.afterDays), payload: payload,
                             reason: "order \(id) is order number \(milestone) (milestone \(milestone)); \(reward)", context: context)
        }
    }

    public func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation] {
        guard event.type == .orderCancelled, let order = event.data["order"]?.stringValue else { return [] }
        return pending.filter { $0.kind == .loyaltyReward && $0.order == order }.map {
            Cancellation(commandID: $0.id, byEventID: event.id, reason: "order \(order) cancelled: the milestone is no longer reached")
        }
    }

    public func advance(state: CustomerState, from: Timestamp, to: Timestamp, outbox: [Command], context: ReactorContext) -> [Command] {
        guard to > from else { return [] }
        let year = LocalClock(state, context).localDate(to).year
        // Once a year: with this year's in the outbox, the forecast need not be asked.
        guard !LoyaltyRewardPolicy.holdsVIP(outbox, customer: state.customer, year: year),
              let (clv, threshold) = LoyaltyRewardPolicy.vip(context.prediction(for: state.customer), context) else { return [] }
        let payload = JSONObject([
            "tier": .string("vip"), "year": .integer(year), "predicted_clv": moneyJSON(clv),
            "offer": .object(JSONObject(["type": .string("free_shipping"), "priority_service": .bool(true)])),
        ])
        var command = Command.proposal(.loyaltyReward, trigger: state.customer, subkey: LoyaltyRewardPolicy.vipSubkey(year), customer: state.customer, due: to,
                                       payload: payload,
                                       reason: "VIP: predicted CLV \(clv) >= \(threshold); free shipping and priority service, once in \(year)",
                                       context: context)
        command.trigger = "clock"
        return [command]
    }

    /// The VIP command's id holds the local year: once a year.
    static func vipSubkey(_ year: Int) -> String { "vip-\(year)" }

    /// Whether the outbox holds the VIP command of `year`.
    static func holdsVIP(_ outbox: [Command], customer: String, year: Int) -> Bool {
        Command.isHeld(in: outbox, .loyaltyReward, customer, vipSubkey(year))
    }

    /// The prediction's value and the threshold it reaches, when it reaches the VIP threshold.
    static func vip(_ prediction: CustomerForecast?, _ context: ReactorContext) -> (clv: Money, threshold: Money)? {
        guard let threshold = vipThreshold(prediction, context), let clv = prediction?.predictedCLV(ifAtLeast: threshold.minorUnits),
              clv.minorUnits >= threshold.minorUnits else { return nil }
        return (clv, threshold)
    }

    /// The VIP threshold in the currency of the prediction's CLV, if it has one.
    static func vipThreshold(_ prediction: CustomerForecast?, _ context: ReactorContext) -> Money? {
        prediction?.clvCurrency.flatMap { context.configuration.loyalty.vipMinPredictedCLV.amount(in: $0.code) }
    }

    /// The first moment the forecast reaches the VIP threshold in a local year whose VIP command
    /// the outbox does not hold yet. Forecasts are fixed within a forecast period: it judges the one
    /// ahead and, if that says nothing, answers the start of the next, to be asked again.
    public func nextWake(state: CustomerState, after clock: Timestamp, outbox: [Command], context: ReactorContext,
                         forecasts: ForecastLookup?) -> Timestamp? {
        guard let forecasts else { return nil }
        let local = LocalClock(state, context)
        var t = clock.adding(millis: 1)
        let periodEnd = ForecastLookup.nextPeriod(after: t)
        let forecast = forecasts.at(t)
        if LoyaltyRewardPolicy.vip(forecast, context) != nil {
            while t < periodEnd {
                let year = local.localDate(t).year
                if !LoyaltyRewardPolicy.holdsVIP(outbox, customer: state.customer, year: year) { return t }
                t = local.instant(CivilDate(year: year + 1, month: 1, day: 1), minute: 0)
            }
        } else if let forecast, forecast.clvStaysBelow(LoyaltyRewardPolicy.vipThreshold(forecast, context)?.minorUnits ?? .max) {
            // No later forecast reaches the threshold before the customer's next event, which
            // wakes the plays anyway: asking every period would cost a forecast each time.
            return nil
        }
        return max(t, periodEnd)
    }
}
