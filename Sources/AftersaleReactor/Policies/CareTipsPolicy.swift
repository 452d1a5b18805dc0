public import AftersaleCore

/// Play 8: care and usage content after delivery of durable goods, one message per category of the order.
public struct CareTipsPolicy: EventOnlyPolicy {
    public init() {}

    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        let config = context.configuration.careTips
        guard event.type == .shipmentDelivered, let id = event.data["order"]?.stringValue, before.orders[id]?.deliveredAt == nil,
              let order = after.orders[id], order.placedAt != nil, order.cancelledAt == nil, order.returnRequestedAt == nil,
              let delivered = order.deliveredAt else { return [] }
        // The configured categories are few: looked through, not hashed into a set at each delivery.
        let durable = config.categories
        var byCategory: [String: [OrderLine]] = [:]
        for line in order.lines { if let c = line.category, durable.contains(c) { byCategory[c, default: []].append(line) } }
        return byCategory.keys.sorted().map { category in
            let lines = byCategory[category]!
            let payload = JSONObject([
                "order": .string(id), "category": .string(category), "skus": strings(lines.map(\.sku)),
                "products": .array(lines.map { productJSON(sku: $0.sku, name: $0.name, context: context) }),
            ])
            return .proposal(.careTips, trigger: event.id, subkey: category, customer: after.customer,
                             due: delivered.adding(wholeDays: config.afterDays), payload: payload,
                             reason: "order \(id) delivered with durable \(category) goods (\(lines.map(\.sku).joined(separator: ", "))); "
                                + "care and usage content \(config.afterDays) days later",
                             context: context)
        }
    }

    public func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation] {
        guard event.type == .orderCancelled || event.type == .returnRequested, let order = event.data["order"]?.stringValue else { return [] }
        return pending.filter { $0.kind == .careTips && $0.order == order }.map {
            Cancellation(commandID: $0.id, byEventID: event.id,
                         reason: event.type == .orderCancelled ? "order \(order) cancelled" : "order \(order) is being returned")
        }
    }
}
