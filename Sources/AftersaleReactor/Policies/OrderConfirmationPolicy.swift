public import AftersaleCore

/// Play 1: thank the customer on `order.placed`, repeat the delivery time frame and how to reach the shop.
public struct OrderConfirmationPolicy: EventOnlyPolicy {
    public init() {}

    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        guard event.type == .orderPlaced, let id = event.data["order"]?.stringValue, before.orders[id]?.placedAt == nil,
              let order = after.orders[id], order.placedAt != nil, order.cancelledAt == nil else { return [] }
        let config = context.configuration.orderConfirmation
        let clock = LocalClock(after, context)
        let from = clock.localDate(event.at.adding(wholeDays: config.deliveryDays.min))
        let until = clock.localDate(event.at.adding(wholeDays: config.deliveryDays.max))
        var payload = JSONObject(["order": .string(id)])
        var total = ""
        if let currency = order.currency.flatMap({ Currency(code: $0) }), let units = order.total {
            let money = Money(minorUnits: units, currency: currency)
            payload["total"] = moneyJSON(money)
            total = "\(money), "
        }
        // Decoded once: `lines` reads them from the order's bytes at every use.
        let lines = order.lines
        payload["skus"] = strings(lines.map(\.sku))
        payload["lines"] = .array(lines.map {
            productJSON(sku: $0.sku, name: $0.name, category: $0.category, quantity: $0.quantity, context: context)
        })
        payload["delivery_days"] = .array([.integer(config.deliveryDays.min), .integer(config.deliveryDays.max)])
        payload["expected_delivery"] = .object(JSONObject(["from": .string(from.description), "until": .string(until.description)]))
        if !config.contact.isEmpty { payload["contact"] = .string(config.contact) }
        // Guest checkout: after the first order, offer registration with a perk.
        if after.registeredAt == nil { payload["invite_registration"] = .bool(true) }
        let items = lines.reduce(0) { $0 + $1.quantity }
        let reason = "order \(id) placed: \(total)\(items) item\(items == 1 ? "" : "s"); promised delivery in "
            + "\(config.deliveryDays.min)-\(config.deliveryDays.max) days (\(from) to \(until))"
        return [.proposal(.orderConfirmation, trigger: event.id, customer: after.customer, due: event.at, payload: payload,
                          reason: reason, context: context)]
    }
}
