public import AftersaleCore

/// Reviews joined with their replies, from `review.posted` and `review.replied` events in log order.
///
/// A review re-posted under the same id keeps its first version; a reply counts once, the first,
/// and a reply to a review not (yet) seen is left out.
public struct ReviewJoin: Sendable {
    /// The reviews, in the order they were posted.
    public private(set) var rows: [ReviewRow] = []
    private var index: [String: Int] = [:]

    public init() {}

    public mutating func add(_ event: Event) {
        let d = event.data
        guard let review = d["review"]?.stringValue else { return }
        switch event.type {
        case .reviewPosted:
            guard index[review] == nil else { return }
            index[review] = rows.count
            rows.append(ReviewRow(review: review, customer: event.customer, sku: d["sku"]?.stringValue ?? "", order: d["order"]?.stringValue,
                                  rating: d["rating"]?.intValue ?? 0, postedAt: event.at, text: d["text"]?.stringValue))
        case .reviewReplied:
            guard let i = index[review], rows[i].repliedAt == nil else { return }
            rows[i].repliedAt = event.at
            rows[i].replyBy = d["by"]?.stringValue
            rows[i].replyText = d["text"]?.stringValue
        default:
            return
        }
    }
}

/// Returns joined with their refunds, from `return.requested` and `return.refunded` events in log order.
///
/// A refund that arrives before its request starts the row (with no request time); a request
/// re-sent under the same id keeps its first version.
public struct ReturnJoin: Sendable {
    /// The returns, in the order they were first seen.
    public private(set) var rows: [ReturnRow] = []
    private var index: [String: Int] = [:]

    public init() {}

    public mutating func add(_ event: Event) {
        let d = event.data
        guard let id = d["return"]?.stringValue else { return }
        switch event.type {
        case .returnRequested:
            guard index[id] == nil else { return }
            index[id] = rows.count
            let lines = d["lines"]?.arrayValue?.compactMap { v -> ReturnRow.Line? in
                guard let sku = v["sku"]?.stringValue else { return nil }
                return ReturnRow.Line(sku: sku, quantity: v["quantity"]?.intValue ?? 1)
            }
            rows.append(ReturnRow(returnID: id, order: d["order"]?.stringValue ?? "", customer: event.customer, requestedAt: event.at,
                                  reason: d["reason"]?.stringValue, lines: lines))
        case .returnRefunded:
            let amount = Money(amount: d["amount"], currency: d["currency"])
            if let i = index[id] {
                rows[i].refundedAt = event.at
                rows[i].refund = amount
            } else {
                index[id] = rows.count
                rows.append(ReturnRow(returnID: id, order: d["order"]?.stringValue ?? "", customer: event.customer, requestedAt: nil,
                                      reason: nil, lines: nil, refundedAt: event.at, refund: amount))
            }
        default:
            return
        }
    }
}
