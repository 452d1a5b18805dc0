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
        // What `LifecycleStage.classify` reads of the state the customer had at each month's end
        // (their order count, last order and average gap), worked out from the orders without making
        // that state: a state for every customer and month was most of a report's work.
        var orders: [(placed: Timestamp, cancelled: Timestamp?)] = []
        orders.reserveCapacity(state.orders.count)
        for order in state.orders.values {
            if let placed = order.placedAt { orders.append((placed, order.cancelledAt)) }
        }
        let since = [state.registeredAt, state.firstOrderAt, orders.map(\.placed).min()].compactMap { $0 }.min()
        guard let since else { return }
        var days: [Int64] = []
        for (i, month) in months.enumerated() {
            let end = Timestamp(millis: month.adding(months: 1).firstDay.daysSinceEpoch * Timestamp.millisPerDay - 1)
            guard since <= end else { continue }
            var count = 0
            var last: Timestamp?
            var average: Double?
            if orders.isEmpty {
                // No order details kept: fall back to the distinct purchase days, in their order.
                var first: Int64?
                var latest: Int64?
                for day in state.purchaseDays where day.day * Timestamp.millisPerDay <= end.millis {
                    count += 1
                    if first == nil { first = day.day }
                    latest = day.day
                }
                last = latest.map { Timestamp(millis: $0 * Timestamp.millisPerDay) }
                if count >= 2, let first, let latest { average = Double(latest - first) / Double(count - 1) }
            } else {
                days.removeAll(keepingCapacity: true)
                for order in orders where order.placed <= end && (order.cancelled.map { $0 > end } ?? true) {
                    count += 1
                    if last.map({ order.placed > $0 }) ?? true { last = order.placed }
                    days.append(order.placed.utcDay)
                }
                // The average gap between distinct purchase days.
                days.sort()
                var distinct = 0
                for (k, day) in days.enumerated() where k == 0 || day != days[k - 1] { distinct += 1 }
                if distinct >= 2 { average = Double(days.last! - days.first!) / Double(distinct - 1) }
            }
            let stage = LifecycleStage.classify(orderCount: count, lastOrderAt: last, averageDaysBetweenOrders: average, at: end,
                                                thresholds: thresholds)
            counts[i][stage, default: 0] += 1
        }
    }

    /// One count per month, in month order.
    public var result: [StageCount] {
        zip(months, counts).map { StageCount(month: $0, counts: $1) }
    }
}
