public import AftersaleCore

/// Play 3: ask for a review of the products bought, once per order, at the start of the window after delivery.
///
/// Without a delivery event (manual fulfilment) the request falls back to dispatch + typical transit;
/// if the delivery is reported later, the fallback is cancelled and the request rescheduled from it.
/// A product is asked about at most once per `per_product_days`; reviewed products are left out.
public struct ReviewRequestPolicy: EventOnlyPolicy {
    public init() {}

    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        guard event.type == .shipmentDelivered || event.type == .shipmentDispatched else { return [] }
        let config = context.configuration.reviewRequest
        guard let id = event.data["order"]?.stringValue, let order = after.orders[id], order.placedAt != nil,
              order.cancelledAt == nil, order.returnRequestedAt == nil else { return [] }
        let due: Timestamp
        let basis: String
        let windowEnd: Timestamp
        switch event.type {
        case .shipmentDelivered:
            guard before.orders[id]?.deliveredAt == nil, let delivered = order.deliveredAt else { return [] }
            if outbox.contains(where: { $0.kind == .reviewRequest && $0.order == id && $0.status == .dispatched }) { return [] }
            due = delivered.adding(wholeDays: config.windowDays.min)
            windowEnd = delivered.adding(wholeDays: config.windowDays.max)
            basis = "delivered \(delivered.dateString)"
        case .shipmentDispatched:
            guard before.orders[id]?.dispatchedAt == nil, order.deliveredAt == nil, let dispatched = order.dispatchedAt else { return [] }
            let arrival = dispatched.adding(wholeDays: config.transitDays)
            due = arrival.adding(wholeDays: config.windowDays.min)
            windowEnd = arrival.adding(wholeDays: config.windowDays.max)
            basis = "no delivery reported: dispatched \(dispatched.dateString) + \(config.transitDays) transit days"
        default:
            return []
        }
        var skus: [String] = []
        var seen = Set<String>()
        var left: [String] = []
        // The payload's order last: it is looked up in the payload, the rest are fields.
        let recentlyAsked = Set(outbox.filter {
            $0.kind == .reviewRequest && ($0.isPending || $0.status == .dispatched)
                && $0.due.days(until: due) < Double(config.perProductDays) && $0.order != id
        }.flatMap(\.skus))
        let lines = order.lines
        for line in lines where seen.insert(line.sku).inserted {
            if after.reviewedSKUs.contains(line.sku) { left.append("\(line.sku) already reviewed"); continue }
            if recentlyAsked.contains(line.sku) { left.append("\(line.sku) asked about within \(config.perProductDays) days"); continue }
            skus.append(line.sku)
        }
        guard !skus.isEmpty else { return [] }
        let names = Dictionary(lines.map { ($0.sku, $0.name) }, uniquingKeysWith: { a, _ in a })
        let payload = JSONObject([
            "order": .string(id), "skus": strings(skus),
            "products": .array(skus.map { productJSON(sku: $0, name: names[$0] ?? nil, context: context) }),
            "window": .object(JSONObject(["from": .string(due.description), "until": .string(windowEnd.description)])),
            "basis": .string(event.type == .shipmentDelivered ? "delivery" : "dispatch"),
        ])
        var reason = "order \(id) \(basis); review window \(config.windowDays.min)-\(config.windowDays.max) days, "
            + "due at its start for \(skus.joined(separator: ", "))"
        if !left.isEmpty { reason += " (left out: \(left.joined(separator: "; ")))" }
        return [.proposal(.reviewRequest, trigger: event.id, subkey: id, customer: after.customer, due: due, payload: payload,
                          reason: reason, context: context)]
    }

    public func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation] {
        // Only these events cancel a request: others read nothing of the outbox.
        switch event.type {
        case .orderCancelled, .returnRequested, .shipmentDelivered, .reviewPosted: break
        default: return []
        }
        let mine = pending.filter { $0.kind == .reviewRequest }
        let order = event.data["order"]?.stringValue
        return mine.compactMap { command in
            let why: String? = switch event.type {
            case .orderCancelled where command.order == order: "order \(order!) cancelled"
            case .returnRequested where command.order == order:
                "order \(order!) is being returned (return \(event.data["return"]?.stringValue ?? "?"))"
            case .shipmentDelivered where command.order == order && command.payload["basis"]?.stringValue == "dispatch":
                "delivery of order \(order!) reported: the request is rescheduled from the delivery"
            case .reviewPosted where !command.skus.isEmpty && command.skus.allSatisfy(after.reviewedSKUs.contains):
                "every product in order \(command.order ?? "?") already reviewed (\(command.skus.joined(separator: ", ")))"
            default: nil
            }
            return why.map { Cancellation(commandID: command.id, byEventID: event.id, reason: $0) }
        }
    }
}
