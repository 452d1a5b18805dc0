/// Customers collapsed into rows of identical (frequency, recency, age) with a count.
///
/// The BG/NBD and Pareto/NBD likelihoods depend on a customer only through this triple, so
/// fitting on rows costs the number of distinct triples, not the number of customers.
public struct SufficientStatistics: Sendable, Hashable {
    /// Customers sharing one (frequency, recency, age).
    public struct Row: Sendable, Hashable {
        /// Repeat purchase occasions (x).
        public var frequency: Int
        /// Time from the first to the last occasion (tₓ).
        public var recency: Double
        /// Time from the first occasion to the end of calibration (T).
        public var age: Double
        /// Customers with this triple.
        public var count: Int

        /// Creates a row.
        public init(frequency: Int, recency: Double, age: Double, count: Int) {
            self.frequency = frequency
            self.recency = recency
            self.age = age
            self.count = count
        }
    }

    /// Distinct rows, sorted by frequency, then age, then recency.
    public let rows: [Row]
    /// Customers over all rows.
    public let customerCount: Int
    /// Customers with at least one repeat purchase.
    public let repeatBuyerCount: Int

    /// Collapses customer summaries into rows (monetary values are ignored).
    public init(_ customers: some Sequence<RFMSummary>) {
        self.init(merging: customers.lazy.map {
            Row(frequency: $0.frequency, recency: $0.recency, age: $0.age, count: 1)
        })
    }

    /// Builds statistics from rows, merging rows with identical triples.
    public init(rows: some Sequence<Row>) {
        self.init(merging: rows)
    }

    private struct Key: Hashable {
        var frequency: Int
        var recency: UInt64
        var age: UInt64
    }

    private init(merging input: some Sequence<Row>) {
        var index: [Key: Int] = [:]
        var merged: [Row] = []
        index.reserveCapacity(1024)
        for row in input where row.count > 0 {
            // +0.0 and -0.0 must be one key.
            let key = Key(frequency: row.frequency, recency: (row.recency + 0).bitPattern, age: (row.age + 0).bitPattern)
            if let at = index[key] {
                merged[at].count += row.count
            } else {
                index[key] = merged.count
                merged.append(row)
            }
        }
        merged.sort {
            ($0.frequency, $0.age, $0.recency) < ($1.frequency, $1.age, $1.recency)
        }
        rows = merged
        customerCount = merged.reduce(0) { $0 + $1.count }
        repeatBuyerCount = merged.reduce(0) { $0 + ($1.frequency > 0 ? $1.count : 0) }
    }
}

extension SufficientStatistics {
    /// Throws unless a purchase model with `parameters` parameters can be fitted: at least as many
    /// customers as parameters, and someone who bought again.
    func requireFittable(model: String, parameters: Int) throws(FitError) {
        guard customerCount >= parameters else {
            throw .insufficientData(model: model, reason: "\(customerCount) customers for \(parameters) parameters")
        }
        guard repeatBuyerCount > 0 else {
            throw .insufficientData(model: model, reason: "no repeat buyers")
        }
    }
}
