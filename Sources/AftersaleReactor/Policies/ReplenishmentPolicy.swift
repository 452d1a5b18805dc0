public import AftersaleCore

/// Play 7: remind when supply should be running out, per category (or SKU), cancelled when the customer rebuys.
///
/// The interval, in order of preference: the median repurchase interval learned from the log for
/// the SKU, then for the category (`ReactorContext`), then the start of the configured cadence.
/// One reminder per order and category (a SKU without a category stands alone).
public struct ReplenishmentPolicy: EventOnlyPolicy {
    public init() {}

    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        guard event.type == .orderPlaced, let id = event.data["order"]?.stringValue, before.orders[id]?.placedAt == nil,
              let order = after.orders[id], let placed = order.placedAt, order.cancelledAt == nil else { return [] }
        let cadences = context.configuration.replenishment.cadenceDays
        // group key -> (days, why, lines)
        var groups: [String: (days: Double, why: String, lines: [OrderLine])] = [:]
        for line in order.lines {
            let interval: (Double, String)?
            if let d = context.replenishmentDaysBySKU[line.sku] {
                interval = (d, "median repurchase interval of \(line.sku) learned from the log: \(fixed0(d)) days")
            } else if let c = line.category, let d = context.replenishmentDaysByCategory[c] {
                interval = (d, "median repurchase interval of \(c) learned from the log: \(fixed0(d)) days")
            } else if let c = line.category, let w = cadences[c] {
                interval = (Double(w.min), "\(c) cadence \(w.min)-\(w.max) days, remind at the start")
            } else {
                interval = nil
            }
            guard let (days, why) = interval else { continue }
            let key = line.category ?? line.sku
            if var g = groups[key] {
                if days < g.days { g.days = days; g.why = why }
                g.lines.append(line)
                groups[key] = g
            } else {
                groups[key] = (days, why, [line])
            }
        }
        let currency = order.currency.flatMap { Currency(code: $0) }
        return groups.keys.sorted().map { key in
            let g = groups[key]!
            let due = placed.adding(days: g.days)
            var payload = JSONObject(["order": .string(id), "skus": strings(g.lines.map(\.sku))])
            if let c = g.lines.first?.category { payload["category"] = .string(c) }
            payload["products"] = .array(g.lines.map { productJSON(sku: $0.sku, name: $0.name, quantity: $0.quantity, context: context) })
            if let currency {
                payload["value"] = moneyJSON(Money(minorUnits: g.lines.reduce(0) { $0 + $1.price * Int64($1.quantity) }, currency: currency))
            }
            let bought = g.lines.map { "\($0.sku) x\($0.quantity)" }.joined(separator: ", ")
            return .proposal(.replenishmentReminder, trigger: event.id, subkey: key, customer: after.customer, due: due, payload: payload,
                             reason: "bought \(bought) on \(placed.dateString); \(g.why): due \(due.dateString)", context: context)
        }
    }

    public func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation] {
        // Only these events cancel a reminder: others read nothing of the outbox.
        guard event.type == .orderPlaced || event.type == .orderCancelled || event.type == .returnRequested else { return [] }
        let order = event.data["order"]?.stringValue
        let mine = pending.filter { $0.kind == .replenishmentReminder }
        guard !mine.isEmpty else { return [] }
        switch event.type {
        case .orderPlaced:
            guard let order, let placed = after.orders[order], placed.cancelledAt == nil else { return [] }
            let lines = placed.lines
            let skus = Set(lines.map(\.sku))
            let categories = Set(lines.compactMap(\.category))
            return mine.compactMap { command in
                let rebought = command.skus.filter(skus.contains)
                if !rebought.isEmpty {
                    return Cancellation(commandID: command.id, byEventID: event.id, reason: "rebought \(rebought.joined(separator: ", ")) in order \(order)")
                }
                if let c = command.payload["category"]?.stringValue, categories.contains(c) {
                    return Cancellation(commandID: command.id, byEventID: event.id, reason: "rebought \(c) in order \(order)")
                }
                return nil
            }
        case .orderCancelled, .returnRequested:
            return mine.filter { $0.order == order && order != nil }.map {
                Cancellation(commandID: $0.id, byEventID: event.id,
                             reason: event.type == .orderCancelled ? "order \(order!) cancelled" : "order \(order!) is being returned")
            }
        default:
            return []
        }
    }
}

/// Days rounded to a whole number for the reason text.
func fixed0(_ x: Double) -> String { String(Int(x.rounded())) }
