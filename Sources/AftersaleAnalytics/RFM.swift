public import AftersaleCore

/// What RFM scoring needs to know about one customer who has ordered.
public struct RFMInput: Sendable, Equatable {
    public var customer: String
    /// Whole days from the last order to the scoring date.
    public var recencyDays: Int64
    /// Orders placed and not cancelled.
    public var orderCount: Int
    /// Net value in minor units of `currency`.
    public var monetary: Int64
    /// The currency `monetary` is in; monetary scores are ranked within one currency.
    public var currency: String

    public init(customer: String, recencyDays: Int64, orderCount: Int, monetary: Int64, currency: String) {
        self.customer = customer
        self.recencyDays = recencyDays
        self.orderCount = orderCount
        self.monetary = monetary
        self.currency = currency
    }

    /// The customer's input as of `asOf`; nil for a customer without an order (prospects are not scored).
    ///
    /// Monetary is the net value (orders minus cancellations and refunds) in the primary currency.
    public init?(state: CustomerState, asOf: Timestamp) {
        guard state.orderCount > 0, let last = state.lastOrderAt, let currency = state.primaryCurrency else { return nil }
        self.init(customer: state.customer, recencyDays: max(0, asOf.utcDay - last.utcDay), orderCount: state.orderCount,
                  monetary: state.netValue[currency].minorUnits, currency: currency.code)
    }
}

/// A named group of customers by their RFM scores.
public enum RFMSegment: String, Sendable, CaseIterable {
    case champions
    case loyal
    case new
    case promising
    case needsAttention = "needs_attention"
    case atRisk = "at_risk"
    case hibernating

    /// The segment of a score triple; the first matching rule wins (documented in EXPORTS.md):
    /// 1. one order and R >= 4: `new`;
    /// 2. R >= 4, F >= 4 and M >= 4: `champions`;
    /// 3. R >= 3 and F >= 3: `loyal`;
    /// 4. R >= 4: `promising`;
    /// 5. R <= 2 and F >= 3: `at_risk`;
    /// 6. R = 3: `needs_attention`;
    /// 7. otherwise: `hibernating`.
    public static func classify(recency r: Int, frequency f: Int, monetary m: Int, orderCount: Int) -> RFMSegment {
        if orderCount == 1 && r >= 4 { return .new }
        if r >= 4 && f >= 4 && m >= 4 { return .champions }
        if r >= 3 && f >= 3 { return .loyal }
        if r >= 4 { return .promising }
        if r <= 2 && f >= 3 { return .atRisk }
        if r == 3 { return .needsAttention }
        return .hibernating
    }
}

/// One customer's recency, frequency and monetary quintile scores (1-5, 5 best) and segment.
public struct RFMScore: Sendable, Equatable {
    public var recency: Int
    public var frequency: Int
    public var monetary: Int
    public var segment: RFMSegment

    public init(recency: Int, frequency: Int, monetary: Int, segment: RFMSegment) {
        self.recency = recency
        self.frequency = frequency
        self.monetary = monetary
        self.segment = segment
    }
}

/// RFM quintile scoring over a customer base.
public enum RFM {
    /// Scores every input against the whole base.
    ///
    /// A score is `1 + ⌊5 × w / n⌋`, where `n` is the number of customers ranked and `w` the number
    /// of them with a strictly worse value: fewer orders, less money, or a longer time since the
    /// last order. Tied customers get the same score whatever their order (the lowest rank of
    /// the tie), so the result does not depend on the input order. Recency and frequency are
    /// ranked across the whole base, monetary within the customers of the same currency.
    /// A customer listed twice keeps the last entry.
    public static func score(_ inputs: [RFMInput]) -> [String: RFMScore] {
        guard !inputs.isEmpty else { return [:] }
        var unique: [String: RFMInput] = [:]
        for input in inputs { unique[input.customer] = input }
        var base = Base()
        for input in unique.values { base.add(input) }
        let scorer = base.scorer()
        var result: [String: RFMScore] = [:]
        result.reserveCapacity(unique.count)
        for input in unique.values { result[input.customer] = scorer.score(input) }
        return result
    }

    /// The base being scored, as counts of each value: enough to score anyone in it, in memory that
    /// grows with the distinct values, not with the customers (an export streams a million).
    public struct Base: Sendable {
        /// Minus the recency days (higher is better), order counts, and net values per currency.
        var recency: [Int64: Int] = [:]
        var frequency: [Int64: Int] = [:]
        var monetary: [String: [Int64: Int]] = [:]

        public init() {}

        /// Adds a customer (each once).
        public mutating func add(_ input: RFMInput) {
            recency[-input.recencyDays, default: 0] += 1
            frequency[Int64(input.orderCount), default: 0] += 1
            monetary[input.currency, default: [:]][input.monetary, default: 0] += 1
        }

        /// Scores for the customers of this base.
        public func scorer() -> Scorer {
            Scorer(recency: RFM.quintiles(counts: recency), frequency: RFM.quintiles(counts: frequency),
                   monetary: monetary.mapValues { RFM.quintiles(counts: $0) })
        }
    }

    /// Value -> score for each key, from a `Base`.
    public struct Scorer: Sendable {
        let recency: [Int64: Int]
        let frequency: [Int64: Int]
        let monetary: [String: [Int64: Int]]

        /// The score of a customer of the base (nil for one it does not hold).
        public func score(_ input: RFMInput) -> RFMScore? {
            guard let r = recency[-input.recencyDays], let f = frequency[Int64(input.orderCount)],
                  let m = monetary[input.currency]?[input.monetary] else { return nil }
            return RFMScore(recency: r, frequency: f, monetary: m,
                            segment: RFMSegment.classify(recency: r, frequency: f, monetary: m, orderCount: input.orderCount))
        }
    }

    /// `quintiles` of the values counted: value -> how many customers have it.
    static func quintiles(counts: [Int64: Int]) -> [Int64: Int] {
        let n = counts.values.reduce(0, +)
        var scores: [Int64: Int] = [:]
        scores.reserveCapacity(counts.count)
        var below = 0
        for value in counts.keys.sorted() {
            // `below` customers have a strictly smaller value.
            scores[value] = 1 + (5 * below) / n
            below += counts[value]!
        }
        return scores
    }

    /// Value -> quintile score, higher values scoring higher.
    static func quintiles(_ values: [Int64]) -> [Int64: Int] {
        let sorted = values.sorted()
        let n = sorted.count
        var scores: [Int64: Int] = [:]
        var index = 0
        while index < n {
            let value = sorted[index]
            // `index` customers have a strictly smaller value.
            scores[value] = 1 + (5 * index) / n
            while index < n, sorted[index] == value { index += 1 }
        }
        return scores
    }
}
