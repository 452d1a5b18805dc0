public import AftersaleCore

/// Play 5: after delivery, invite a happy customer to share the unboxing; thank and reward a shared one.
///
/// Happy: no open return and no unanswered negative review when the parcel arrives. The invite is
/// cancelled when the order is cancelled or returned, a negative review arrives, or the unboxing is recorded.
public struct UnboxingPolicy: EventOnlyPolicy {
    public init() {}

    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        guard event.type == .shipmentDelivered || event.type == .unboxingRecorded, let id = event.data["order"]?.stringValue else { return [] }
        let config = context.configuration.unboxing
        let currency = after.orders[id]?.currency ?? after.primaryCurrency?.code ?? ""
        switch event.type {
        case .shipmentDelivered:
            guard before.orders[id]?.deliveredAt == nil, let order = after.orders[id], order.placedAt != nil, order.cancelledAt == nil,
                  order.returnRequestedAt == nil, let delivered = order.deliveredAt, after.marketingPause == nil else { return [] }
            var payload = JSONObject(["order": .string(id), "skus": strings(order.lines.map(\.sku))])
            var incentive = "no incentive configured for \(currency)"
            if let money = config.incentive.amount(in: currency) {
                payload["incentive"] = moneyJSON(money)
                incentive = "incentive \(money)"
            }
            return [.proposal(.unboxingInvite, trigger: event.id, customer: after.customer, due: delivered.adding(wholeDays: config.inviteAfterDays),
                              payload: payload,
                              reason: "order \(id) delivered to a happy customer (no open return, no unanswered complaint); "
                                + "invite to share the unboxing \(config.inviteAfterDays) days later, \(incentive)",
                              context: context)]
        case .unboxingRecorded:
            guard let shared = event.data["shared_on"]?.stringValue, !shared.isEmpty,
                  !outbox.contains(where: { $0.kind == .unboxingReward && $0.order == id && $0.status.name != "cancelled" }) else { return [] }
            var payload = JSONObject(["order": .string(id), "shared_on": .string(shared)])
            // A link the log keeps sealed (the customer's own post) is not copied into the outbox.
            if let url = event.data["media_url"]?.stringValue, !PersonalData.isSealed(url) { payload["media_url"] = .string(url) }
            var reward = "no reward configured for \(currency)"
            if let money = config.reward.amount(in: currency) {
                payload["reward"] = moneyJSON(money)
                reward = "reward \(money)"
            }
            return [.proposal(.unboxingReward, trigger: event.id, customer: after.customer, due: event.at, payload: payload,
                              reason: "unboxing of order \(id) shared on \(shared); thank and \(reward)", context: context)]
        default:
            return []
        }
    }

    public func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation] {
        // Only these events cancel an invitation: others read nothing of the outbox.
        switch event.type {
        case .orderCancelled, .returnRequested, .unboxingRecorded, .reviewPosted: break
        default: return []
        }
        let order = event.data["order"]?.stringValue
        return pending.filter { $0.kind == .unboxingInvite }.compactMap { command in
            let why: String? = switch event.type {
            case .orderCancelled where command.order == order: "order \(order!) cancelled"
            case .returnRequested: "return \(event.data["return"]?.stringValue ?? "?") requested: the customer is not happy"
            case .unboxingRecorded where command.order == order: "unboxing of order \(order!) already recorded"
            case .reviewPosted where (event.data["rating"]?.intValue ?? 5) <= 2:
                "negative review \(event.data["review"]?.stringValue ?? "?") (\(event.data["rating"]?.intValue ?? 0) stars) posted"
            default: nil
            }
            return why.map { Cancellation(commandID: command.id, byEventID: event.id, reason: $0) }
        }
    }
}
