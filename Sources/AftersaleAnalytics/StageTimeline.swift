public import AftersaleCore

/// How many customers were in each lifecycle stage at the end of one month.
public struct StageCount: Sendable, Equatable {
    public var month: Month
    /// Every stage is present (zero when no customer was in it).
    public var counts: [LifecycleStage: Int]

    public init(month: Month, counts: [LifecycleStage: Int]) {
        self.month = month
        var all: [LifecycleStage: Int] = [:]
        for stage in LifecycleStage.allCases { all[stage] = counts[stage] ?? 0 }
        self.counts = all
    }

    /// Customers known at the month's end.
    public var total: Int { counts.values.reduce(0, +) }
}

/// Lifecycle stage counts at month ends, reconstructed from each customer's order history.
///
/// At the last instant of each month the customer is classified with `LifecycleStage.classify`
/// as if only the orders placed by then (and not cancelled by then) existed. A customer is
/// counted from their registration or first order, whichever comes first.
public struct StageTimeline: Sendable {
    /// The months counted, in order.
    public let months: [Month]
    public let thresholds: LifecycleStage.Thresholds
    private var counts: [[LifecycleStage: Int]]

    /// Months `from` through `through`, inclusive.
    public init(from: Month, through: Month, thresholds: LifecycleStage.Thresholds = LifecycleStage.Thresholds()) {
        self.months = from <= through ? (from.index...through.index).map { Month(index: $0) } : []
        self.thresholds = thresholds
        self.counts = Array(repeating: [:], count: months.count)
    }

    /// Adds one customer to every month end.
    public mutating func add(_ state: CustomerState) {
        let orders = state.orders.values.compactMap { o -> (placed: Timestamp, cancelled: Timestamp?)? in
            o.placedAt.map { ($0, o.cancelledAt) }
        }
        let since = [state.registeredAt, state.firstOrderAt, orders.map(\.placed).min()].compactMap { $0 }.min()
        guard let since else { return }
        for (i, month) in months.enumerated() {
            let end = Timestamp(millis: month.adding(months: 1).firstDay.daysSinceEpoch * Timestamp.millisPerDay - 1)
            guard since <= end else { continue }
            var past = CustomerState(customer: state.customer)
            if orders.isEmpty {
                // No order details kept: fall back to the distinct purchase days.
                let days = state.purchaseDays.filter { $0.day * Timestamp.millisPerDay <= end.millis }
                past.purchaseDays = days
                past.orderCount = days.count
                past.lastOrderAt = days.last.map { Timestamp(millis: $0.day * Timestamp.millisPerDay) }
            } else {
                let live = orders.filter { $0.placed <= end && ($0.cancelled.map { $0 > end } ?? true) }
                past.orderCount = live.count
                past.lastOrderAt = live.map(\.placed).max()
                past.purchaseDays = Set(live.map(\.placed.utcDay)).sorted().map { CustomerState.PurchaseDay(day: $0, value: 0) }
            }
            let stage = LifecycleStage.classify(past, at: end, thresholds: thresholds)
            counts[i][stage, default: 0] += 1
        }
    }

    /// One count per month, in month order.
    public var result: [StageCount] {
        zip(months, counts).map { StageCount(month: $0, counts: $1) }
    }
}
