public import AftersaleCore

/// Play 6: confirm a return request with the next steps; check satisfaction after the refund.
///
/// The other half of the play, no marketing while a return or a complaint is open, is the
/// contact policy's pause (`CustomerState.marketingPause`).
public struct ReturnsPolicy: EventOnlyPolicy {
    public init() {}

    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        guard let order = event.data["order"]?.stringValue, let ret = event.data["return"]?.stringValue else { return [] }
        var payload = JSONObject(["order": .string(order), "return": .string(ret)])
        switch event.type {
        case .returnRequested:
            guard !before.openReturns.contains(ret) else { return [] }
            let lines = event.data["lines"]?.arrayValue ?? []
            if !lines.isEmpty {
                payload["skus"] = strings(lines.compactMap { $0["sku"]?.stringValue })
                payload["lines"] = .array(lines)
            }
            payload["next_steps"] = strings(["pack the items with the return label", "hand the parcel to the carrier",
                                             "refund to the original payment method once the parcel arrives"])
            let what = lines.isEmpty ? "the order (not itemised)" : "\(lines.count) line\(lines.count == 1 ? "" : "s")"
            // A reason the log keeps sealed is the customer's own words: not copied into the outbox.
            let why = event.data["reason"]?.stringValue.flatMap { PersonalData.isSealed($0) ? nil : ", reason: \($0)" } ?? ""
            return [.proposal(.returnConfirmation, trigger: event.id, customer: after.customer, due: event.at, payload: payload,
                              reason: "return \(ret) of order \(order) requested for \(what)\(why); confirm next steps", context: context)]
        case .returnRefunded:
            let days = context.configuration.returns.satisfactionCheckAfterDays
            var refund = ""
            if let money = Money(amount: event.data["amount"], currency: event.data["currency"]) {
                payload["refund"] = moneyJSON(money)
                refund = " \(money)"
            }
            return [.proposal(.returnSatisfactionCheck, trigger: event.id, customer: after.customer, due: event.at.adding(wholeDays: days),
                              payload: payload,
                              reason: "return \(ret) of order \(order) refunded\(refund); check satisfaction \(days) days after the refund",
                              context: context)]
        default:
            return []
        }
    }
}
