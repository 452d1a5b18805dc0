public import AftersaleCore

/// Play 2: a dispatch notice with tracking on `shipment.dispatched`; an apology at once on `shipment.failed`
/// or, from the clock, when a parcel is `late_after_hours` past its estimated delivery without arriving.
public struct DeliveryNoticePolicy: Policy {
    public init() {}

    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        // Only these two call for a notice: the payload is made for them alone.
        guard event.type == .shipmentDispatched || event.type == .shipmentFailed,
              let id = event.data["order"]?.stringValue else { return [] }
        let order = after.orders[id]
        guard order?.cancelledAt == nil else { return [] }
        var payload = JSONObject(["order": .string(id)])
        for key in ["shipment", "carrier", "tracking", "estimated_delivery", "reason"] {
            if let v = event.data[key]?.stringValue { payload[key] = .string(v) }
        }
        if let lines = order?.lines, !lines.isEmpty { payload["skus"] = strings(lines.map(\.sku)) }
        switch event.type {
        case .shipmentDispatched:
            let tracking = event.data["tracking"]?.stringValue.map { "tracking \($0)" } ?? "no tracking number"
            let carrier = event.data["carrier"]?.stringValue.map { " with \($0)" } ?? ""
            let eta = event.data["estimated_delivery"]?.stringValue.map { ", estimated delivery \($0)" } ?? ""
            return [.proposal(.dispatchNotice, trigger: event.id, customer: after.customer, due: event.at, payload: payload,
                              reason: "order \(id) dispatched\(carrier), \(tracking)\(eta)", context: context)]
        case .shipmentFailed:
            let why = event.data["reason"]?.stringValue.map { ": \($0)" } ?? ""
            return [.proposal(.deliveryIssueApology, trigger: event.id, customer: after.customer, due: event.at, payload: payload,
                              reason: "delivery of order \(id) failed or is delayed\(why); apologise at once (failure \(after.deliveryFailures) for this customer)",
                              priority: .high, context: context)]
        default:
            return []
        }
    }

    public func advance(state: CustomerState, from: Timestamp, to: Timestamp, outbox: [Command], context: ReactorContext) -> [Command] {
        guard to > from else { return [] }
        let clock = LocalClock(state, context)
        let earliest = to.adding(wholeDays: -context.configuration.clock.catchUpDays)
        let grace = context.configuration.delivery.lateAfterHours
        return state.placedOrders.compactMap { order in
            guard let (text, eta, moment) = DeliveryNoticePolicy.lateMoment(of: order, clock, grace: grace) else { return nil }
            guard moment > from, moment <= to, moment >= earliest,
                  !DeliveryNoticePolicy.apologised(for: order, eta: eta, outbox) else { return nil }
            var payload = JSONObject(["order": .string(order.id), "estimated_delivery": .string(text), "skus": strings(order.lines.map(\.sku))])
            if let t = order.tracking { payload["tracking"] = .string(t) }
            var command = Command.proposal(.deliveryIssueApology, trigger: state.customer, subkey: "late-\(order.id)", customer: state.customer,
                                           due: moment, payload: payload,
                                           reason: "order \(order.id) not delivered \(grace) h after its estimated delivery \(text); apologise at once",
                                           priority: .high, context: context)
            command.trigger = "clock"
            return command
        }
    }

    /// The first late moment still ahead of `clock` of a parcel without an apology.
    public func nextWake(state: CustomerState, after clock: Timestamp, outbox: [Command], context: ReactorContext,
                         forecasts: ForecastLookup?) -> Timestamp? {
        let local = LocalClock(state, context)
        let grace = context.configuration.delivery.lateAfterHours
        var wake: Timestamp?
        for order in state.orders.values where order.placedAt != nil && order.cancelledAt == nil {
            guard let (_, eta, moment) = DeliveryNoticePolicy.lateMoment(of: order, local, grace: grace), moment > clock,
                  wake.map({ moment < $0 }) ?? true, !DeliveryNoticePolicy.apologised(for: order, eta: eta, outbox) else { continue }
            wake = moment
        }
        return wake
    }

    /// A parcel on its way with an estimated delivery: that estimate as sent, as an instant, and the
    /// moment it is late (`grace` hours after it).
    static func lateMoment(of order: OrderState, _ clock: LocalClock, grace: Int) -> (text: String, eta: Timestamp, moment: Timestamp)? {
        guard order.dispatchedAt != nil, order.deliveredAt == nil, order.returnRequestedAt == nil,
              let text = order.estimatedDelivery else { return nil }
        // A date means the end of that day in the customer's zone.
        let eta: Timestamp
        if let t = try? Timestamp.parse(text) {
            eta = t
        } else if let d = CivilDate.parse(text) {
            eta = clock.instant(CivilDate(daysSinceEpoch: d.daysSinceEpoch + 1), minute: 0)
        } else {
            return nil
        }
        return (text, eta, eta.adding(hours: grace))
    }

    /// Whether the outbox apologises for the order already, for this estimate or a later one.
    static func apologised(for order: OrderState, eta: Timestamp, _ outbox: [Command]) -> Bool {
        outbox.contains { $0.kind == .deliveryIssueApology && $0.order == order.id && $0.due >= eta }
    }
}
