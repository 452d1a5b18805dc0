/// The known truth about one simulated customer.
///
/// Times are Unix seconds. `purchases`, `lastPurchase` and `totalSpend` cover orders placed
/// before the end of the period, including orders that the fulfilment process later cancels.
public struct CustomerTruth: Sendable, Equatable {
    /// Customer number, from 1, in order of acquisition.
    public let number: Int
    /// Customer id as emitted, e.g. `c-000042`.
    public let id: String
    /// Instant of `customer.registered`.
    public let registered: Int64
    /// Instant of the first order.
    public let firstPurchase: Int64
    /// Purchase rate λ per day while alive.
    public let lambda: Double
    /// Probability of dropping out after each repeat purchase.
    public let p: Double
    /// Gamma-Gamma spend rate ν (mean order total is `spend.p / nu × spend.scale`).
    public let nu: Double
    /// Instant of the repeat purchase after which the customer dropped out; nil if alive at the end.
    public let dropout: Int64?
    /// Orders placed in the period (first purchase included).
    public let purchases: Int
    /// Instant of the last order in the period.
    public let lastPurchase: Int64
    /// Sum of the order totals in minor units.
    public let totalSpend: Int64

    /// Repeat purchases in the period (x in BG/NBD notation).
    public var repeatPurchases: Int { purchases - 1 }
    /// True when the customer has not dropped out by the end of the period.
    public var isAliveAtEnd: Bool { dropout == nil }
}

/// Stream tags for `SimulationRandom(seed:stream:_:_:)`.
enum StreamTag: UInt64 {
    case purchases = 1
    case profile = 2
    case basket = 3
    case aftermath = 4
    case detail = 5
}

/// One customer's BG/NBD purchase process with Gamma-Gamma spend, drawn from its own random stream.
///
/// The simulation and `ShopSimulation.truth(forCustomer:)` run this same code, so the truth is
/// exactly what the event stream shows, and it does not depend on the side processes.
struct PurchaseProcess: Sendable {
    private var random: SimulationRandom
    let number: Int
    let registered: Int64
    let firstPurchase: Int64
    let lambda: Double
    let p: Double
    let nu: Double
    private let spendShape: Double
    private let spendScale: Double
    private let end: Int64
    private var elapsedDays: Double = 0
    private(set) var purchases = 0
    private(set) var lastPurchase: Int64 = 0
    private(set) var dropout: Int64? = nil

    init(number: Int, configuration c: SimulationConfiguration) {
        random = SimulationRandom(seed: c.seed, stream: StreamTag.purchases.rawValue, UInt64(number))
        self.number = number
        let lead = c.profiles.registrationLeadSeconds
        let window = Swift.max(
            1, Int64(c.acquisitionFraction * Double(c.days) * Double(CivilTime.secondsPerDay)) - Int64(lead.upperBound) - 1)
        let position = (Double(number - 1) + random.uniform()) / Double(c.customers)
        registered = c.start + Swift.min(window - 1, Int64(position * Double(window)))
        firstPurchase = registered + Int64(lead.lowerBound + random.integer(below: lead.count))
        lambda = random.gamma(shape: c.purchases.r, rate: c.purchases.alpha)
        p = random.beta(c.purchases.a, c.purchases.b)
        nu = random.gamma(shape: c.spend.q, rate: c.spend.gamma)
        spendShape = c.spend.p
        spendScale = c.spend.scale
        end = c.end
    }

    /// The next order (instant and total in cents), or nil when the customer has dropped out
    /// or the next purchase falls after the period.
    mutating func nextPurchase() -> (at: Int64, spend: Int64)? {
        if purchases == 0 {
            purchases = 1
            lastPurchase = firstPurchase
            return (firstPurchase, drawSpend())
        }
        if dropout != nil { return nil }
        elapsedDays += random.exponential(rate: lambda)
        let remainingDays = Double(end - firstPurchase) / Double(CivilTime.secondsPerDay)
        guard elapsedDays < remainingDays else {
            elapsedDays = .infinity
            return nil
        }
        let at = firstPurchase + Int64(elapsedDays * Double(CivilTime.secondsPerDay))
        guard at < end else { return nil }
        purchases += 1
        lastPurchase = at
        let spend = drawSpend()
        if random.uniform() < p { dropout = at }
        return (at, spend)
    }

    private mutating func drawSpend() -> Int64 {
        let z = random.gamma(shape: spendShape, rate: 1) / nu * spendScale
        let cents = (z * 100).rounded()
        // At least one cent; capped at 10^12 cents so sums over millions of orders cannot overflow.
        guard cents >= 1 else { return 1 }
        return cents < 1e12 ? Int64(cents) : 1_000_000_000_000
    }

    /// Runs the process to the end of the period and reports the truth.
    static func truth(number: Int, configuration: SimulationConfiguration) -> CustomerTruth {
        var process = PurchaseProcess(number: number, configuration: configuration)
        var total: Int64 = 0
        while let purchase = process.nextPurchase() { total += purchase.spend }
        return CustomerTruth(
            number: number,
            id: CustomerIDs.string(number),
            registered: process.registered,
            firstPurchase: process.firstPurchase,
            lambda: process.lambda,
            p: process.p,
            nu: process.nu,
            dropout: process.dropout,
            purchases: process.purchases,
            lastPurchase: process.lastPurchase,
            totalSpend: total
        )
    }
}

/// Customer id text: `c-` and the number zero-padded to six digits.
enum CustomerIDs {
    static func string(_ number: Int) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "c"), UInt8(ascii: "-")]
        bytes.writeDecimal(UInt64(number), width: 6)
        return String(decoding: bytes, as: UTF8.self)
    }
}
