public import AftersaleCore

/// Everything the HTML report shows; each part may be empty and is then shown as "no data yet".
public struct ReportData: Sendable {
    /// The shop's name, shown in the title (customer-facing text: escaped).
    public var shopName: String
    /// When the report was made (the caller's clock; the renderer reads none).
    public var generatedAt: Timestamp
    public var summary: ReportSummary
    /// The cohort retention table (`CohortRetention.rows(through:)`).
    public var cohorts: [CohortRow]
    /// nil when there is no customer value to show.
    public var customerValue: CustomerValueDistribution?
    /// Stage counts at month ends, in month order (`StageTimeline.result`).
    public var stages: [StageCount]
    /// nil when no model has been fitted yet.
    public var calibration: CalibrationSection?
    public var actions: [ActionTally]
    public var reviews: ReviewSummary

    public init(shopName: String, generatedAt: Timestamp, summary: ReportSummary, cohorts: [CohortRow] = [],
                customerValue: CustomerValueDistribution? = nil, stages: [StageCount] = [],
                calibration: CalibrationSection? = nil, actions: [ActionTally] = [], reviews: ReviewSummary = ReviewSummary()) {
        self.shopName = shopName
        self.generatedAt = generatedAt
        self.summary = summary
        self.cohorts = cohorts
        self.customerValue = customerValue
        self.stages = stages
        self.calibration = calibration
        self.actions = actions
        self.reviews = reviews
    }
}

/// The headline numbers of the report.
public struct ReportSummary: Sendable, Equatable {
    /// Customers known (with or without an order).
    public var customers: Int
    /// Customers with at least one order that was not cancelled.
    public var customersWithOrders: Int
    /// Customers with two or more such orders.
    public var repeatCustomers: Int
    /// Orders placed and not cancelled.
    public var orders: Int
    /// Net revenue (orders minus cancellations minus refunds), one amount per currency, by currency code.
    public var revenue: [Money]
    /// The median net value per customer with orders, in the currency most customers buy in.
    public var medianCustomerValue: Money?

    public init(customers: Int, customersWithOrders: Int, repeatCustomers: Int, orders: Int, revenue: [Money],
                medianCustomerValue: Money?) {
        self.customers = customers
        self.customersWithOrders = customersWithOrders
        self.repeatCustomers = repeatCustomers
        self.orders = orders
        self.revenue = revenue.sorted { $0.currency.code < $1.currency.code }
        self.medianCustomerValue = medianCustomerValue
    }

    /// The numbers of a customer base.
    ///
    /// The median is over customers whose primary currency is the most common one (ties: the
    /// first code in alphabetical order); with an even count it is the mean of the two middle
    /// values, rounded down to a minor unit.
    public init(states: some Sequence<CustomerState>) {
        var tally = Tally()
        for state in states { tally.add(state) }
        self = tally.summary
    }

    /// The summary's counts gathered one customer at a time.
    public struct Tally: Sendable {
        var customers = 0, withOrders = 0, repeaters = 0, orders = 0
        var revenue: [Currency: Int64] = [:]
        var valuesByCurrency: [Currency: [Int64]] = [:]

        public init() {}

        public mutating func add(_ state: CustomerState) {
            customers += 1
            orders += state.orderCount
            for net in state.netValue.amounts { revenue[net.currency, default: 0] += net.minorUnits }
            guard state.orderCount > 0 else { return }
            withOrders += 1
            if state.orderCount >= 2 { repeaters += 1 }
            if let value = state.historicalValue { valuesByCurrency[value.currency, default: []].append(value.minorUnits) }
        }

        public var summary: ReportSummary {
            let money = revenue.map { currency, units in Money(minorUnits: units, currency: currency) }
            var median: Money?
            if let (currency, values) = valuesByCurrency.max(by: { ($0.value.count, $1.key.code) < ($1.value.count, $0.key.code) }) {
                let sorted = values.sorted()
                let n = sorted.count
                let mid = n % 2 == 1 ? sorted[n / 2] : ReportSummary.floorMean(sorted[n / 2 - 1], sorted[n / 2])
                median = Money(minorUnits: mid, currency: currency)
            }
            return ReportSummary(customers: customers, customersWithOrders: withOrders, repeatCustomers: repeaters, orders: orders,
                                 revenue: money, medianCustomerValue: median)
        }
    }

    /// Repeat customers / customers with orders; nil without orders.
    public var repeatRate: Double? { customersWithOrders == 0 ? nil : Double(repeatCustomers) / Double(customersWithOrders) }

    static func floorMean(_ a: Int64, _ b: Int64) -> Int64 {
        let sum = a.addingReportingOverflow(b)
        if !sum.overflow { return sum.partialValue >= 0 ? sum.partialValue / 2 : (sum.partialValue - 1) / 2 }
        return a / 2 + b / 2
    }
}

/// Customer values for the value histogram, all in one currency.
public struct CustomerValueDistribution: Sendable, Equatable {
    /// Which value the histogram shows.
    public enum Kind: String, Sendable {
        /// Predicted value of the next 12 months.
        case predicted12Months
        /// Net value of the orders so far.
        case historical
    }

    public var kind: Kind
    public var currency: Currency
    /// One value per customer, in minor units of `currency`.
    public var values: [Int64]

    public init(kind: Kind, currency: Currency, values: [Int64]) {
        self.kind = kind
        self.currency = currency
        self.values = values
    }

    /// The historical net values of the customers with orders whose primary currency is `currency`.
    public init(historicalOf states: some Sequence<CustomerState>, currency: Currency) {
        var values: [Int64] = []
        for state in states where state.orderCount > 0 && state.primaryCurrency == currency {
            values.append(state.netValue[currency].minorUnits)
        }
        self.init(kind: .historical, currency: currency, values: values)
    }
}

/// The calibration check of the fitted model.
public struct CalibrationSection: Sendable, Equatable {
    /// The model's name as shown: "BG/NBD", "Pareto/NBD".
    public var model: String
    /// The last day of the calibration period.
    public var calibrationEnd: CivilDate?
    /// Length of the holdout period in days.
    public var holdoutDays: Int?
    /// `Calibration.buckets(_:tailFrom:)`.
    public var rows: [CalibrationRow]

    public init(model: String, calibrationEnd: CivilDate? = nil, holdoutDays: Int? = nil, rows: [CalibrationRow]) {
        self.model = model
        self.calibrationEnd = calibrationEnd
        self.holdoutDays = holdoutDays
        self.rows = rows
    }
}

/// How many actions of one kind are in one status.
public struct ActionTally: Sendable, Equatable {
    public var kind: String
    public var status: String
    public var count: Int

    public init(kind: String, status: String, count: Int) {
        self.kind = kind
        self.status = status
        self.count = count
    }

    /// Counts per kind and status of a list of action rows, sorted by kind, then status.
    public static func tally(_ actions: some Sequence<ActionRow>) -> [ActionTally] {
        var counts: [String: [String: Int]] = [:]
        for action in actions { counts[action.kind, default: [:]][action.status, default: 0] += 1 }
        return counts.keys.sorted().flatMap { kind in
            counts[kind]!.keys.sorted().map { ActionTally(kind: kind, status: $0, count: counts[kind]![$0]!) }
        }
    }
}

/// Review ratings and how fast the shop replies.
public struct ReviewSummary: Sendable, Equatable {
    /// Reviews per star rating; index 0 is 1 star, index 4 is 5 stars.
    public var ratingCounts: [Int]
    /// Hours from posting to reply, one per replied review.
    public var replyHours: [Double]
    /// Reviews without a reply.
    public var unanswered: Int
    /// Reviews rated 1 or 2 without a reply.
    public var unansweredNegative: Int

    public init(ratingCounts: [Int] = [0, 0, 0, 0, 0], replyHours: [Double] = [], unanswered: Int = 0, unansweredNegative: Int = 0) {
        var counts = Array(ratingCounts.prefix(5))
        while counts.count < 5 { counts.append(0) }
        self.ratingCounts = counts
        self.replyHours = replyHours
        self.unanswered = unanswered
        self.unansweredNegative = unansweredNegative
    }

    /// The summary of a list of reviews; ratings outside 1-5 are not counted.
    public init(reviews: some Sequence<ReviewRow>) {
        var counts = [0, 0, 0, 0, 0]
        var hours: [Double] = []
        var unanswered = 0, negative = 0
        for review in reviews {
            if (1...5).contains(review.rating) { counts[review.rating - 1] += 1 }
            if let h = review.replyHours {
                hours.append(h)
            } else {
                unanswered += 1
                if review.rating <= 2 { negative += 1 }
            }
        }
        self.init(ratingCounts: counts, replyHours: hours, unanswered: unanswered, unansweredNegative: negative)
    }

    public var total: Int { ratingCounts.reduce(0, +) }

    /// Mean stars; nil without reviews.
    public var meanRating: Double? {
        total == 0 ? nil : Double(ratingCounts.enumerated().reduce(0) { $0 + ($1.offset + 1) * $1.element }) / Double(total)
    }

    /// The `p`-th percentile (0-1) of reply hours, linearly interpolated between order statistics; nil without replies.
    public func replyHoursPercentile(_ p: Double) -> Double? {
        Statistics.percentile(replyHours, p)
    }
}

enum Statistics {
    /// Linear interpolation between closest ranks (numpy's default, R type 7).
    static func percentile(_ values: [Double], _ p: Double) -> Double? {
        let sorted = values.filter(\.isFinite).sorted()
        guard !sorted.isEmpty else { return nil }
        let position = min(max(p, 0), 1) * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }
}
