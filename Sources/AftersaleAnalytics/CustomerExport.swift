public import AftersaleCore

/// A fitted model's predictions for one customer; every value is optional so partial models fit.
public struct CustomerPrediction: Sendable, Equatable {
    /// Probability the customer is still active (buy-till-you-die P(alive)), 0-1.
    public var pAlive: Double?
    /// Expected value of the customer's orders in the next 12 months (net of nothing; the model's spend).
    public var predictedValue12Months: Money?
    /// Expected number of purchases in the next 365 days.
    public var expectedPurchases365Days: Double?
    /// Probability of at least one purchase in the next 90 days, 0-1.
    public var repeatPurchaseProbability90Days: Double?
    /// When the next order is expected.
    public var expectedNextOrderAt: Timestamp?

    public init(pAlive: Double? = nil, predictedValue12Months: Money? = nil, expectedPurchases365Days: Double? = nil,
                repeatPurchaseProbability90Days: Double? = nil, expectedNextOrderAt: Timestamp? = nil) {
        self.pAlive = pAlive
        self.predictedValue12Months = predictedValue12Months
        self.expectedPurchases365Days = expectedPurchases365Days
        self.repeatPurchaseProbability90Days = repeatPurchaseProbability90Days
        self.expectedNextOrderAt = expectedNextOrderAt
    }
}

/// Decimal places of probabilities (`p_alive`, `repeat_purchase_probability_90d`, retention shares).
public let probabilityDigits = 4

/// One row of `customers.csv`: a customer's state, stage, scores and predictions.
public struct CustomerRow: ExportRow, Equatable {
    public static let exportName = "customers"
    public static let columns = [
        "customer_id", "stage", "registered_at", "first_order_date", "last_order_date", "recency_days",
        "order_count", "item_count", "currency", "average_order_value", "historical_clv", "refunded_value",
        "predicted_clv_12m", "total_clv", "p_alive", "repeat_purchase_probability_90d", "expected_purchases_365d",
        "expected_next_order_date", "rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_segment", "other_currencies",
        "returns_requested", "returns_refunded", "reviews", "unanswered_reviews", "unanswered_negative_reviews",
        "delivery_failures", "email_consent", "sms_consent", "push_consent", "last_event_at",
    ]

    public let values: [ExportValue]

    /// The row of one customer.
    ///
    /// - Parameters:
    ///   - stage: the lifecycle stage as of `asOf` (`LifecycleStage.classify`).
    ///   - asOf: the export's reference instant; `recency_days` counts UTC days up to it.
    ///   - prediction: nil when no model is fitted: the prediction columns are left empty.
    ///     A predicted value in another currency than the customer's primary one is left out.
    ///   - rfm: the customer's scores from `RFM.score(_:)`; nil leaves the RFM columns empty.
    public init(state: CustomerState, stage: LifecycleStage, asOf: Timestamp, prediction: CustomerPrediction? = nil,
                rfm: RFMScore? = nil) {
        let currency = state.primaryCurrency ?? prediction?.predictedValue12Months?.currency
        let code = currency?.code
        let digits = currency?.minorUnitDigits ?? 2
        let ordered = state.primaryCurrency != nil && state.orderCount > 0
        let historical: Int64? = ordered ? state.historicalValue?.minorUnits : nil
        let predicted: Int64? = prediction?.predictedValue12Months.flatMap { $0.currency.code == code ? $0.minorUnits : nil }
        let total: Int64? = predicted.map { $0 + (historical ?? 0) }
        let others = state.placedValue.amounts.map(\.currency.code).filter { $0 != code }
        let recency: Int? = state.lastOrderAt.map { Int(max(0, asOf.utcDay - $0.utcDay)) }

        values = [
            .text(state.customer),
            .text(stage.rawValue),
            .timestamp(state.registeredAt),
            .date(of: state.firstOrderAt),
            .date(of: state.lastOrderAt),
            .integer(recency),
            .integer(Int64(state.orderCount)),
            .integer(Int64(state.itemCount)),
            .text(code),
            .money(minorUnits: CustomerRow.averageOrderValue(state), digits: digits),
            .money(minorUnits: historical, digits: digits),
            .money(minorUnits: ordered ? currency.map { state.refundedValue[$0].minorUnits } : nil, digits: digits),
            .money(minorUnits: predicted, digits: digits),
            .money(minorUnits: total, digits: digits),
            .fixed(prediction?.pAlive, digits: probabilityDigits),
            .fixed(prediction?.repeatPurchaseProbability90Days, digits: probabilityDigits),
            .fixed(prediction?.expectedPurchases365Days, digits: 4),
            .date(of: prediction?.expectedNextOrderAt),
            .integer(rfm?.recency),
            .integer(rfm?.frequency),
            .integer(rfm?.monetary),
            .text(rfm?.segment.rawValue),
            .text(others.isEmpty ? nil : others.joined(separator: ";")),
            .integer(Int64(state.returnsRequested)),
            .integer(Int64(state.returnsRefunded)),
            .integer(Int64(state.reviewCount)),
            .integer(Int64(state.unansweredReviews.count)),
            .integer(Int64(state.unansweredNegativeReviews.count)),
            .integer(Int64(state.deliveryFailures)),
            .bool(state.consent["email"] ?? false),
            .bool(state.consent["sms"] ?? false),
            .bool(state.consent["push"] ?? false),
            .timestamp(state.lastEventAt),
        ]
    }
}

extension CustomerRow {
    /// Mean total of the orders in the primary currency that were not cancelled, rounded toward zero.
    ///
    /// Counted from the orders themselves: `CustomerState.averageOrderValue` divides the
    /// primary-currency value by the orders in every currency.
    static func averageOrderValue(_ state: CustomerState) -> Int64? {
        guard let code = state.primaryCurrency?.code else { return nil }
        var sum: Int64 = 0, count: Int64 = 0
        for order in state.orders.values where order.placedAt != nil && order.cancelledAt == nil && order.currency == code {
            sum += order.total ?? 0
            count += 1
        }
        guard count > 0 else { return state.averageOrderValue?.minorUnits }
        return sum / count
    }
}

/// One row of `orders.csv`: an order as the customer's events describe it.
public struct OrderRow: ExportRow, Equatable {
    public static let exportName = "orders"
    public static let columns = [
        "order_id", "customer_id", "status", "placed_at", "placed_date", "currency", "total", "line_count",
        "item_count", "lines", "cancelled_at", "dispatched_at", "delivered_at", "delivery_failed_at",
        "days_to_delivery", "carrier", "tracking", "estimated_delivery", "return_requested_at", "refunded_at",
    ]

    public let values: [ExportValue]

    /// The order's status: the furthest step it reached, the first of these that applies.
    public static func status(of order: OrderState) -> String {
        if order.placedAt == nil { return "not_placed" }
        if order.cancelledAt != nil { return "cancelled" }
        if order.refundedAt != nil { return "refunded" }
        if order.returnRequestedAt != nil { return "return_requested" }
        if order.deliveredAt != nil { return "delivered" }
        if order.failedAt != nil { return "delivery_failed" }
        if order.dispatchedAt != nil { return "dispatched" }
        return "placed"
    }

    /// The row of one order of `customer`.
    public init(customer: String, order: OrderState) {
        let digits = order.currency.flatMap { Currency(code: $0)?.minorUnitDigits } ?? 2
        let lines = JSONValue.array(order.lines.map { line in
            var object = JSONObject([
                "sku": .string(line.sku),
                "quantity": .integer(line.quantity),
                "price": .string(Money.decimalString(minorUnits: line.price, digits: digits)),
            ])
            if let category = line.category { object["category"] = .string(category) }
            if let name = line.name { object["name"] = .string(name) }
            return .object(object)
        })
        var deliveryDays: Double?
        if let placed = order.placedAt, let delivered = order.deliveredAt {
            deliveryDays = Double(delivered.millis - placed.millis) / Double(Timestamp.millisPerDay)
        }
        values = [
            .text(order.id),
            .text(customer),
            .text(OrderRow.status(of: order)),
            .timestamp(order.placedAt),
            .date(of: order.placedAt),
            .text(order.currency),
            .money(minorUnits: order.total, digits: digits),
            .integer(Int64(order.lines.count)),
            .integer(Int64(order.lines.reduce(0) { $0 + $1.quantity })),
            .json(lines),
            .timestamp(order.cancelledAt),
            .timestamp(order.dispatchedAt),
            .timestamp(order.deliveredAt),
            .timestamp(order.failedAt),
            .fixed(deliveryDays, digits: 2),
            .text(order.carrier),
            .text(order.tracking),
            .text(order.estimatedDelivery),
            .timestamp(order.returnRequestedAt),
            .timestamp(order.refundedAt),
        ]
    }
}

/// One row of `reviews.csv`: a posted review and the shop's reply, if any.
public struct ReviewRow: ExportRow, Equatable {
    public static let exportName = "reviews"
    public static let columns = [
        "review_id", "customer_id", "sku", "order_id", "rating", "posted_at", "replied_at", "reply_hours",
        "reply_by", "text", "reply_text",
    ]

    public var review: String
    public var customer: String
    public var sku: String
    public var order: String?
    /// 1-5 stars.
    public var rating: Int
    public var postedAt: Timestamp
    public var repliedAt: Timestamp?
    public var replyBy: String?
    /// The customer's text, exported as written.
    public var text: String?
    public var replyText: String?

    public init(review: String, customer: String, sku: String, order: String? = nil, rating: Int, postedAt: Timestamp,
                repliedAt: Timestamp? = nil, replyBy: String? = nil, text: String? = nil, replyText: String? = nil) {
        self.review = review
        self.customer = customer
        self.sku = sku
        self.order = order
        self.rating = rating
        self.postedAt = postedAt
        self.repliedAt = repliedAt
        self.replyBy = replyBy
        self.text = text
        self.replyText = replyText
    }

    /// Hours from posting to the reply; nil without a reply.
    public var replyHours: Double? {
        repliedAt.map { Double($0.millis - postedAt.millis) / 3_600_000 }
    }

    public var values: [ExportValue] {
        [.text(review), .text(customer), .text(sku), .text(order), .integer(Int64(rating)), .timestamp(postedAt),
         .timestamp(repliedAt), .fixed(replyHours, digits: 1), .text(replyBy), .text(text), .text(replyText)]
    }
}

/// One row of `returns.csv`: a return request and its refund, if any.
public struct ReturnRow: ExportRow, Equatable {
    public static let exportName = "returns"
    public static let columns = [
        "return_id", "order_id", "customer_id", "requested_at", "reason", "lines", "refunded_at", "refund_amount",
        "currency", "days_to_refund",
    ]

    /// A returned line: which SKU and how many.
    public struct Line: Sendable, Equatable {
        public var sku: String
        public var quantity: Int
        public init(sku: String, quantity: Int) {
            self.sku = sku
            self.quantity = quantity
        }
    }

    public var returnID: String
    public var order: String
    public var customer: String
    public var requestedAt: Timestamp?
    public var reason: String?
    /// nil when the return is not itemised.
    public var lines: [Line]?
    public var refundedAt: Timestamp?
    public var refund: Money?

    public init(returnID: String, order: String, customer: String, requestedAt: Timestamp?, reason: String? = nil,
                lines: [Line]? = nil, refundedAt: Timestamp? = nil, refund: Money? = nil) {
        self.returnID = returnID
        self.order = order
        self.customer = customer
        self.requestedAt = requestedAt
        self.reason = reason
        self.lines = lines
        self.refundedAt = refundedAt
        self.refund = refund
    }

    public var values: [ExportValue] {
        var days: Double?
        if let requestedAt, let refundedAt { days = Double(refundedAt.millis - requestedAt.millis) / Double(Timestamp.millisPerDay) }
        let linesJSON = lines.map { lines in
            JSONValue.array(lines.map { .object(JSONObject(["sku": .string($0.sku), "quantity": .integer($0.quantity)])) })
        }
        return [
            .text(returnID), .text(order), .text(customer), .timestamp(requestedAt), .text(reason),
            linesJSON.map { .json($0) } ?? .missing, .timestamp(refundedAt),
            refund.map { .money($0.decimalString) } ?? .missing, .text(refund?.currency.code), .fixed(days, digits: 2),
        ]
    }
}

/// One row of `actions.csv`: a next-best action the engine planned, dispatched or suppressed.
public struct ActionRow: ExportRow, Equatable {
    public static let exportName = "actions"
    public static let columns = [
        "action_id", "customer_id", "kind", "channel", "status", "status_reason", "cancelled_by", "reason", "trigger", "due",
        "dispatched_at", "payload", "delivered_to", "delivery_attempts", "delivery_history",
    ]

    public var action: String
    public var customer: String
    /// What the command does: `review_request`, `win_back`, ...
    public var kind: String
    /// `email`, `sms` or `push`.
    public var channel: String
    /// `pending`, `cancelled`, `suppressed` or `dispatched`.
    public var status: String
    /// Why it was cancelled or suppressed.
    public var statusReason: String?
    /// The event that made it moot.
    public var cancelledBy: String?
    /// Why it was decided, in words with the figures used.
    public var reason: String?
    /// The triggering event id, or `clock`.
    public var trigger: String?
    public var due: Timestamp?
    public var dispatchedAt: Timestamp?
    /// The command's parameters; exported as compact JSON (keys in their order).
    public var payload: JSONObject?
    /// Where its webhook delivery went, and every try (from its hand-off event), when it was
    /// delivered as a webhook.
    public var deliveredTo: String?
    public var deliveryHistory: [JSONValue]?

    public init(action: String, customer: String, kind: String, channel: String, status: String, statusReason: String? = nil,
                cancelledBy: String? = nil, reason: String? = nil, trigger: String? = nil, due: Timestamp? = nil,
                dispatchedAt: Timestamp? = nil, payload: JSONObject? = nil) {
        self.action = action
        self.customer = customer
        self.kind = kind
        self.channel = channel
        self.status = status
        self.statusReason = statusReason
        self.cancelledBy = cancelledBy
        self.reason = reason
        self.trigger = trigger
        self.due = due
        self.dispatchedAt = dispatchedAt
        self.payload = payload
    }

    public var values: [ExportValue] {
        [.text(action), .text(customer), .text(kind), .text(channel), .text(status), .text(statusReason), .text(cancelledBy),
         .text(reason), .text(trigger), .timestamp(due), .timestamp(dispatchedAt), payload.map { .json(.object($0)) } ?? .missing,
         .text(deliveredTo), deliveryHistory.map { .integer(Int64($0.count)) } ?? .missing, deliveryHistory.map { .json(.array($0)) } ?? .missing]
    }
}
