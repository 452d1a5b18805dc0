public import AftersaleCore

/// Play 4: answer every review; a rating <= 2 gets an apology with a remedy that scales with the customer's value.
///
/// Rating 3 asks what to improve, 4-5 thanks and invites sharing. The reply is done (cancelled)
/// when `review.replied` arrives.
public struct ReviewReplyPolicy: EventOnlyPolicy {
    public init() {}

    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] {
        guard event.type == .reviewPosted, let review = event.data["review"]?.stringValue, let rating = event.data["rating"]?.intValue,
              let sku = event.data["sku"]?.stringValue, after.unansweredReviews[review] != nil else { return [] }
        var payload = JSONObject(["review": .string(review), "sku": .string(sku), "skus": strings([sku]), "rating": .integer(rating)])
        if let order = event.data["order"]?.stringValue { payload["order"] = .string(order) }
        payload["product"] = productJSON(sku: sku, context: context)
        let due = event.at.adding(hours: context.configuration.reviewReply.dueHours)
        let stars = "\(rating)-star review \(review) of \(sku)"
        switch rating {
        case ...2:
            payload["tone"] = .string("apology")
            let (coupon, explanation) = ReviewReplyPolicy.apologyCoupon(after, context.prediction(for: after.customer), context.configuration)
            if let coupon { payload["coupon"] = moneyJSON(coupon) }
            return [.proposal(.reviewReply, trigger: event.id, customer: after.customer, due: due, payload: payload,
                              reason: "\(stars): apologise with a remedy; \(explanation)", priority: .high, context: context)]
        case 3:
            payload["tone"] = .string("ask_what_to_improve")
            return [.proposal(.reviewReply, trigger: event.id, customer: after.customer, due: due, payload: payload,
                              reason: "\(stars): thank and ask what to improve", context: context)]
        default:
            payload["tone"] = .string("thanks")
            payload["invite_sharing"] = .bool(true)
            return [.proposal(.reviewReply, trigger: event.id, customer: after.customer, due: due, payload: payload,
                              reason: "\(stars): thank and invite sharing", context: context)]
        }
    }

    public func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation] {
        guard event.type == .reviewReplied || event.type == .reviewPosted, let review = event.data["review"]?.stringValue else { return [] }
        return pending.filter { $0.kind == .reviewReply && $0.payload["review"]?.stringValue == review && $0.trigger != event.id }.map {
            Cancellation(commandID: $0.id, byEventID: event.id,
                         reason: event.type == .reviewReplied ? "review \(review) replied" : "review \(review) was posted again; the new version gets the reply")
        }
    }

    /// `base + percent x customer value`, at most `max`, in the customer's currency; the words explain the figures.
    static func apologyCoupon(_ state: CustomerState, _ prediction: CustomerForecast?, _ config: ReactorConfiguration) -> (Money?, String) {
        let rule = config.reviewReply.apologyCoupon
        guard let currency = state.primaryCurrency ?? prediction?.predictedCLV?.currency else {
            return (nil, "no order history, so no currency for a coupon")
        }
        guard let base = rule.base.amount(in: currency.code) else { return (nil, "no apology coupon configured for \(currency.code)") }
        var units = base.minorUnits
        var words = "coupon \(base)"
        if let (value, basis) = customerValue(state, prediction), value.currency == currency, value.minorUnits > 0 {
            let extra = value.minorUnits * Int64(rule.basisPointsOfValue) / 10_000
            units += extra
            words = "coupon \(base) + \(percent(rule.basisPointsOfValue)) of \(basis)"
        }
        if let cap = rule.max.amount(in: currency.code), units > cap.minorUnits {
            units = cap.minorUnits
            words += ", capped at \(cap)"
        }
        let coupon = Money(minorUnits: units, currency: currency)
        return (coupon, "\(words) = \(coupon)")
    }

    static func percent(_ basisPoints: Int) -> String {
        basisPoints % 100 == 0 ? "\(basisPoints / 100)%" : "\(Double(basisPoints) / 100)%"
    }
}
