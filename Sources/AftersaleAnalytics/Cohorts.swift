public import AftersaleCore

/// A calendar month (UTC), `YYYY-MM`.
public struct Month: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    /// 1-12.
    public var month: Int

    public init(year: Int, month: Int) {
        precondition((1...12).contains(month), "month \(month) out of range")
        self.year = year
        self.month = month
    }

    /// The month containing a date.
    public init(_ date: CivilDate) { self.init(year: date.year, month: date.month) }

    /// The month containing a day counted from 1970-01-01.
    public init(daysSinceEpoch day: Int64) { self.init(CivilDate(daysSinceEpoch: day)) }

    /// The UTC month of an instant.
    public init(_ t: Timestamp) { self.init(daysSinceEpoch: t.utcDay) }

    public static func < (l: Month, r: Month) -> Bool { (l.year, l.month) < (r.year, r.month) }

    /// Months since January 1970 (negative before).
    public var index: Int { year * 12 + month - 1 - 1970 * 12 }

    /// The month `index` months after January 1970.
    public init(index: Int) {
        let total = index + 1970 * 12
        let year = total >= 0 ? total / 12 : (total - 11) / 12
        self.init(year: year, month: total - year * 12 + 1)
    }

    /// The month `months` months later (earlier when negative).
    public func adding(months: Int) -> Month { Month(index: index + months) }

    /// The first day of the month.
    public var firstDay: CivilDate { CivilDate(year: year, month: month, day: 1) }

    /// `YYYY-MM`.
    public var description: String {
        let y = String(year)
        return String(repeating: "0", count: max(0, 4 - y.count)) + y + (month < 10 ? "-0" : "-") + String(month)
    }
}

/// One row of `cohorts.csv`: how many of a first-order-month cohort ordered `month_offset` months later.
public struct CohortRow: ExportRow, Equatable {
    public static let exportName = "cohorts"
    public static let columns = ["cohort", "month_offset", "month", "cohort_size", "active_customers", "retention"]

    /// The month of the customers' first order.
    public var cohort: Month
    /// Months after the cohort month: 0 is the cohort month itself.
    public var monthOffset: Int
    /// Customers whose first order was in `cohort`.
    public var cohortSize: Int
    /// Of those, customers with at least one order in month `cohort + monthOffset`.
    public var activeCustomers: Int

    public init(cohort: Month, monthOffset: Int, cohortSize: Int, activeCustomers: Int) {
        self.cohort = cohort
        self.monthOffset = monthOffset
        self.cohortSize = cohortSize
        self.activeCustomers = activeCustomers
    }

    /// `activeCustomers / cohortSize`; 0 for an empty cohort.
    public var retention: Double { cohortSize == 0 ? 0 : Double(activeCustomers) / Double(cohortSize) }

    /// The calendar month the row counts.
    public var month: Month { cohort.adding(months: monthOffset) }

    public var values: [ExportValue] {
        [.text(cohort.description), .integer(Int64(monthOffset)), .text(month.description), .integer(Int64(cohortSize)),
         .integer(Int64(activeCustomers)), .fixed(retention, digits: probabilityDigits)]
    }
}

/// Cohort retention by first-order month, tallied one customer at a time (memory: cohorts x months).
public struct CohortRetention: Sendable {
    private var sizes: [Month: Int] = [:]
    private var active: [Month: [Int: Int]] = [:]
    private var lastMonth: Month?

    public init() {}

    /// Adds one customer from the UTC days (since 1970-01-01) of their orders; nothing without orders.
    public mutating func add(orderDays: some Sequence<Int64>) {
        let months = Set(orderDays.map { Month(daysSinceEpoch: $0) })
        guard let first = months.min() else { return }
        sizes[first, default: 0] += 1
        for month in months {
            active[first, default: [:]][month.index - first.index, default: 0] += 1
        }
        if let last = months.max(), lastMonth.map({ last > $0 }) ?? true { lastMonth = last }
    }

    /// Adds one customer from their state: the orders placed and not cancelled, in any currency.
    public mutating func add(_ state: CustomerState) {
        var days = Set(state.purchaseDays.map(\.day))
        for order in state.orders.values where order.cancelledAt == nil {
            if let placed = order.placedAt { days.insert(placed.utcDay) }
        }
        add(orderDays: days)
    }

    /// The table: for each cohort, offsets 0 through the month `through` (default: the last month with an order).
    ///
    /// Sorted by cohort, then offset. Months without orders count zero active customers.
    public func rows(through: Month? = nil) -> [CohortRow] {
        guard let end = through ?? lastMonth else { return [] }
        var rows: [CohortRow] = []
        for cohort in sizes.keys.sorted() where cohort <= end {
            let size = sizes[cohort]!
            let counts = active[cohort] ?? [:]
            for offset in 0...(end.index - cohort.index) {
                rows.append(CohortRow(cohort: cohort, monthOffset: offset, cohortSize: size, activeCustomers: counts[offset] ?? 0))
            }
        }
        return rows
    }
}
