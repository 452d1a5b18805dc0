public import AftersaleCore

/// Play 9: after delivery, recommend what other customers most often bought after these items,
/// leaving out what the customer already owns.
public struct CrossSellPolicy: EventOnlyPolicy {
    public init() {}

    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        let config = context.configuration.crossSell
        guard event.type == .shipmentDelivered, let id = event.data["order"]?.stringValue, before.orders[id]?.deliveredAt == nil,
              let order = after.orders[id], order.placedAt != nil, order.cancelledAt == nil, order.returnRequestedAt == nil,
              let delivered = order.deliveredAt, config.maxItems > 0 else { return [] }
        let bought = Array(Set(order.lines.map(\.sku))).sorted()
        var counts: [String: Int] = [:]
        var anchors: [String: [String]] = [:]
        for sku in bought {
            for pair in context.crossSell[sku] ?? [] where pair.count >= config.minCount {
                guard !after.ownedSKUs.contains(pair.sku), !bought.contains(pair.sku) else { continue }
                counts[pair.sku, default: 0] += pair.count
                anchors[pair.sku, default: []].append(sku)
            }
        }
        let picks = counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(config.maxItems)
        guard !picks.isEmpty else { return [] }
        let payload = JSONObject([
            "order": .string(id), "skus": strings(bought),
            "recommendations": .array(picks.map { pick in
                var product = productJSON(sku: pick.key, context: context)
                if case .object(var o) = product {
                    o["bought_after_by"] = .integer(pick.value)
                    product = .object(o)
                }
                return product
            }),
        ])
        let words = picks.map { "\($0.key) (bought after \(anchors[$0.key]!.joined(separator: "+")) by \($0.value))" }
        return [.proposal(.crossSell, trigger: event.id, subkey: id, customer: after.customer,
                          due: delivered.adding(wholeDays: config.afterDays), payload: payload,
                          reason: "order \(id) delivered; most often bought next, not owned: \(words.joined(separator: ", "))",
                          context: context)]
    }

    public func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation] {
        // Only these events cancel a recommendation: others read nothing of the outbox.
        guard event.type == .orderCancelled || event.type == .returnRequested || event.type == .orderPlaced else { return [] }
        let order = event.data["order"]?.stringValue
        return pending.filter { $0.kind == .crossSell }.compactMap { command in
            let why: String?
            switch event.type {
            case .orderCancelled where command.order == order: why = "order \(order!) cancelled"
            case .returnRequested where command.order == order: why = "order \(order!) is being returned"
            case .orderPlaced:
                // The recommendations are read from the payload only for an order that may have bought them all.
                let recommended = command.payload["recommendations"]?.arrayValue?.compactMap { $0["sku"]?.stringValue } ?? []
                why = !recommended.isEmpty && recommended.allSatisfy(after.ownedSKUs.contains)
                    ? "the customer bought every recommendation (\(recommended.joined(separator: ", ")))" : nil
            default: why = nil
            }
            return why.map { Cancellation(commandID: command.id, byEventID: event.id, reason: $0) }
        }
    }
}
