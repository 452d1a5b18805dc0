public import AftersaleCore
import Foundation
internal import Synchronization

/// What a fitted customer-value model predicts for one customer (the reactor's view of it).
public struct CustomerForecast: Sendable, Equatable {
    /// Probability the customer is still active.
    public var pAlive: Double
    /// Predicted value of the next 12 months; nil without a spend model. A model's forecast
    /// computes it when first asked; the plays ask `predictedCLV(ifAtLeast:)` first.
    public var predictedCLV: Money? {
        get { clv?.value }
        set { clv = newValue.map(PredictedCLV.init(known:)) }
    }
    /// When the model expects the next order, if it says.
    public var expectedNextOrderAt: Timestamp?
    /// Probability of at least one more purchase, if the model says.
    public var repeatProbability: Double?

    private var clv: PredictedCLV?

    public init(pAlive: Double, predictedCLV: Money?, expectedNextOrderAt: Timestamp? = nil, repeatProbability: Double? = nil) {
        self.pAlive = pAlive
        self.expectedNextOrderAt = expectedNextOrderAt
        self.repeatProbability = repeatProbability
        self.predictedCLV = predictedCLV
    }

    /// A forecast whose CLV in `currency` is computed when first asked; `atMost` (minor units)
    /// bounds it, and with `boundHoldsLater` bounds every later forecast of the same customer
    /// before their next event too (and means none has a CLV when `currency` is nil).
    public init(pAlive: Double, expectedNextOrderAt: Timestamp?, repeatProbability: Double?, clvCurrency currency: Currency?,
                clvAtMost atMost: Int64?, boundHoldsLater: Bool, clv compute: @escaping @Sendable () -> Money?) {
        self.pAlive = pAlive
        self.expectedNextOrderAt = expectedNextOrderAt
        self.repeatProbability = repeatProbability
        clv = PredictedCLV(currency: currency, atMost: atMost, holdsLater: boundHoldsLater, compute: compute)
    }

    /// The currency of the predicted CLV, known without computing it; nil when there is none.
    public var clvCurrency: Currency? { clv?.currency }

    /// The predicted CLV, unless its bound shows it is below `minorUnits`: then nil, without
    /// computing it (the plays' thresholds are far above most customers' values).
    public func predictedCLV(ifAtLeast minorUnits: Int64) -> Money? {
        guard let clv else { return nil }
        if let atMost = clv.atMost, atMost < minorUnits { return nil }
        return clv.value
    }

    /// Whether no forecast of this customer's, from this one on and before their next event,
    /// predicts a CLV of `minorUnits` or more; false when the forecaster cannot tell.
    public func clvStaysBelow(_ minorUnits: Int64) -> Bool {
        guard let clv else { return false }
        guard clv.holdsLater else { return false }
        guard clv.currency != nil else { return true }
        guard let atMost = clv.atMost else { return false }
        return atMost < minorUnits
    }

    public static func == (lhs: CustomerForecast, rhs: CustomerForecast) -> Bool {
        lhs.pAlive == rhs.pAlive && lhs.predictedCLV == rhs.predictedCLV && lhs.expectedNextOrderAt == rhs.expectedNextOrderAt
            && lhs.repeatProbability == rhs.repeatProbability
    }
}

/// A forecast's CLV, computed once, when first asked. A reference, so that the copies of a
/// forecast in the engine's cache share it, and locked, since copies of an engine run on several
/// threads.
final class PredictedCLV: Sendable {
    let currency: Currency?
    let atMost: Int64?
    let holdsLater: Bool
    private let compute: @Sendable () -> Money?
    private let computed: Mutex<Money??>

    init(currency: Currency?, atMost: Int64?, holdsLater: Bool, compute: @escaping @Sendable () -> Money?) {
        self.currency = currency
        self.atMost = atMost
        self.holdsLater = holdsLater
        self.compute = compute
        computed = Mutex(nil)
    }

    convenience init(known value: Money) {
        self.init(currency: value.currency, atMost: value.minorUnits, holdsLater: false, compute: { value })
    }

    var value: Money? {
        computed.withLock { known in
            if let known { return known }
            let value = compute()
            known = .some(value)
            return value
        }
    }
}

/// A SKU bought after another, and by how many customers (learned from the log).
public struct CoPurchase: Sendable, Equatable {
    public var sku: String
    public var count: Int

    public init(sku: String, count: Int) {
        self.sku = sku
        self.count = count
    }
}

/// What the shop's catalogue says about a SKU, when known.
public struct ProductInfo: Sendable, Equatable {
    public var name: String?
    public var link: String?

    public init(name: String? = nil, link: String? = nil) {
        self.name = name
        self.link = link
    }
}

/// Everything besides the event and the customer's state that the policies read.
///
/// The reactor never reads a clock: `now` is used only where a policy asks "as of when" (the
/// clock's `advance` uses its own `to`), and the time-zone offset comes from an injected closure.
public struct ReactorContext: Sendable {
    /// The fields, in one buffer copied on write: the engine builds a context per event and tick,
    /// and the plays and the contact policy pass it on many times; a copy is then one reference,
    /// not one per dictionary, text and closure. What stays the same from context to context (the
    /// configuration, the catalogue, the clock's zones) is a buffer of its own, which a new
    /// context made from another shares (`init(now:crossSell:lazyForecast:sharing:)`).
    private final class Fields: @unchecked Sendable {
        // Mutated only through a uniquely referenced `Fields` (`ReactorContext.unique`), never shared while mutated.
        var now: Timestamp
        var crossSell: [String: [CoPurchase]]
        var lazyForecast: LazyForecast?
        var shared: Shared

        init(now: Timestamp, crossSell: [String: [CoPurchase]], lazyForecast: LazyForecast?, shared: Shared) {
            self.now = now
            self.crossSell = crossSell
            self.lazyForecast = lazyForecast
            self.shared = shared
        }

        func copy() -> Fields { Fields(now: now, crossSell: crossSell, lazyForecast: lazyForecast, shared: shared) }
    }

    private final class Shared: @unchecked Sendable {
        // Mutated only through a uniquely referenced `Shared` (`ReactorContext.uniqueShared`).
        var configuration: ReactorConfiguration
        var predictions: [String: CustomerForecast]
        var replenishmentDaysBySKU: [String: Double]
        var replenishmentDaysByCategory: [String: Double]
        var products: [String: ProductInfo]
        var timeZoneOffset: @Sendable (String, Timestamp) -> Int?
        var personalData: (any PersonalDataOpening)?

        init(configuration: ReactorConfiguration, predictions: [String: CustomerForecast], replenishmentDaysBySKU: [String: Double],
             replenishmentDaysByCategory: [String: Double], products: [String: ProductInfo],
             timeZoneOffset: @escaping @Sendable (String, Timestamp) -> Int?, personalData: (any PersonalDataOpening)?) {
            self.configuration = configuration
            self.predictions = predictions
            self.replenishmentDaysBySKU = replenishmentDaysBySKU
            self.replenishmentDaysByCategory = replenishmentDaysByCategory
            self.products = products
            self.timeZoneOffset = timeZoneOffset
            self.personalData = personalData
        }

        func copy() -> Shared {
            Shared(configuration: configuration, predictions: predictions, replenishmentDaysBySKU: replenishmentDaysBySKU,
                   replenishmentDaysByCategory: replenishmentDaysByCategory, products: products, timeZoneOffset: timeZoneOffset,
                   personalData: personalData)
        }
    }

    private var fields: Fields

    private mutating func unique() {
        if !isKnownUniquelyReferenced(&fields) { fields = fields.copy() }
    }

    private mutating func uniqueShared() {
        unique()
        if !isKnownUniquelyReferenced(&fields.shared) { fields.shared = fields.shared.copy() }
    }

    public var now: Timestamp {
        get { fields.now }
        set { unique(); fields.now = newValue }
    }
    public var configuration: ReactorConfiguration {
        get { fields.shared.configuration }
        set { uniqueShared(); fields.shared.configuration = newValue }
    }
    /// Customer id -> the latest fitted model's prediction; absent when no model is fitted.
    public var predictions: [String: CustomerForecast] {
        get { fields.shared.predictions }
        set { uniqueShared(); fields.shared.predictions = newValue }
    }
    /// SKU -> SKUs most often bought after it, with counts.
    public var crossSell: [String: [CoPurchase]] {
        get { fields.crossSell }
        set { unique(); fields.crossSell = newValue }
    }
    /// SKU -> median days between repurchases, learned from the log.
    public var replenishmentDaysBySKU: [String: Double] {
        get { fields.shared.replenishmentDaysBySKU }
        set { uniqueShared(); fields.shared.replenishmentDaysBySKU = newValue }
    }
    /// Category -> median days between repurchases, learned from the log.
    public var replenishmentDaysByCategory: [String: Double] {
        get { fields.shared.replenishmentDaysByCategory }
        set { uniqueShared(); fields.shared.replenishmentDaysByCategory = newValue }
    }
    /// SKU -> name and link.
    public var products: [String: ProductInfo] {
        get { fields.shared.products }
        set { uniqueShared(); fields.shared.products = newValue }
    }
    /// The UTC offset in minutes of an IANA zone at an instant; nil for an unknown zone.
    public var timeZoneOffset: @Sendable (String, Timestamp) -> Int? {
        get { fields.shared.timeZoneOffset }
        set { uniqueShared(); fields.shared.timeZoneOffset = newValue }
    }

    public init(now: Timestamp, configuration: ReactorConfiguration = ReactorConfiguration(),
                predictions: [String: CustomerForecast] = [:], crossSell: [String: [CoPurchase]] = [:],
                replenishmentDaysBySKU: [String: Double] = [:], replenishmentDaysByCategory: [String: Double] = [:],
                products: [String: ProductInfo] = [:],
                timeZoneOffset: @escaping @Sendable (String, Timestamp) -> Int? = ReactorContext.foundationOffset) {
        let shared = Shared(configuration: configuration, predictions: predictions, replenishmentDaysBySKU: replenishmentDaysBySKU,
                            replenishmentDaysByCategory: replenishmentDaysByCategory, products: products,
                            timeZoneOffset: timeZoneOffset, personalData: nil)
        fields = Fields(now: now, crossSell: crossSell, lazyForecast: nil, shared: shared)
    }

    /// A context at `now` with everything but its moment, cross-sell and forecast as `base` has it,
    /// shared with it rather than copied.
    init(now: Timestamp, crossSell: [String: [CoPurchase]] = [:], lazyForecast: LazyForecast? = nil, sharing base: ReactorContext) {
        fields = Fields(now: now, crossSell: crossSell, lazyForecast: lazyForecast, shared: base.fields.shared)
    }

    /// The offset Foundation's time-zone database gives (looked up once per zone and span between
    /// two of its transitions, see `TimeZones`).
    public static let foundationOffset: @Sendable (String, Timestamp) -> Int? = { zone, at in
        TimeZones.shared.offsetMinutes(zone, at: at)
    }

    /// Computes a customer's forecast on first use (the engine's path: most plays never ask).
    public var lazyForecast: LazyForecast? {
        get { fields.lazyForecast }
        set { unique(); fields.lazyForecast = newValue }
    }

    /// Opens personal data the log keeps sealed (the storage layer's key vault); nil where none is
    /// sealed. The birthday play is the only one that reads personal data.
    public var personalData: (any PersonalDataOpening)? {
        get { fields.shared.personalData }
        set { uniqueShared(); fields.shared.personalData = newValue }
    }

    /// The customer's birthday: as folded, or opened from its sealed form. A forgotten customer's
    /// (or one whose keys this process cannot read) is unknown.
    public func birthday(of state: CustomerState) -> Birthday? {
        if let birthday = state.birthday { return birthday }
        guard let sealed = state.sealedBirthday, let personalData else { return nil }
        return personalData.birthday(sealed, customer: state.customer)
    }

    func prediction(for customer: String) -> CustomerForecast? {
        if let known = predictions[customer] { return known }
        guard let lazyForecast, lazyForecast.customer == customer else { return nil }
        return lazyForecast.value
    }
}

/// Opens each sealed value once per run: the birthday play asks for a customer's birthday at every
/// tick and every wake-up, and opening costs a key look-up and a decryption each time. A
/// forgotten customer's state no longer holds the sealed value, so nothing remembered here is
/// asked for again.
public final class RememberingOpener: PersonalDataOpening, @unchecked Sendable {
    private let base: any PersonalDataOpening
    /// A sealed value and its member, hashed as they are: joined into one text, each look-up made
    /// and hashed a copy of the sealed text.
    private struct Key: Hashable {
        var member: String
        var sealed: String
    }

    private struct Opened {
        var values: [Key: Revealed] = [:]
        /// The last value asked for: a customer's plays ask for the same one several times in a
        /// row, and comparing the sealed text (the same string each time) costs less than hashing it.
        var last: (sealed: String, member: String, revealed: Revealed)?
        /// Birthdays read, by customer, with the sealed text they were read from: the birthday play
        /// asks at every wake-up of every customer, and a customer's id hashes in a fraction of the
        /// time of a sealed text, which then is compared (usually the very same string) instead.
        var birthdays: [String: (sealed: String, birthday: Birthday?)] = [:]
    }

    private let opened = Mutex(Opened())
    /// Values remembered before it starts over.
    static let limit = 200_000

    public init(_ base: any PersonalDataOpening) { self.base = base }

    public func open(_ sealed: String, customer: String, member: String) -> Revealed {
        let known = opened.withLock { opened -> Revealed? in
            if let last = opened.last, last.sealed == sealed, last.member == member { return last.revealed }
            guard let revealed = opened.values[Key(member: member, sealed: sealed)] else { return nil }
            opened.last = (sealed, member, revealed)
            return revealed
        }
        if let known { return known }
        let revealed = base.open(sealed, customer: customer, member: member)
        opened.withLock { opened in
            if opened.values.count >= RememberingOpener.limit { opened.values.removeAll(keepingCapacity: true) }
            opened.values[Key(member: member, sealed: sealed)] = revealed
            opened.last = (sealed, member, revealed)
        }
        return revealed
    }

    public func prepare(customers: [String]) { base.prepare(customers: customers) }

    public func birthday(_ sealed: String, customer: String) -> Birthday? {
        let known = opened.withLock { opened -> Birthday?? in
            guard let entry = opened.birthdays[customer], entry.sealed == sealed else { return nil }
            return .some(entry.birthday)
        }
        if let known { return known }
        let birthday: Birthday? = if case .value(let v) = base.open(sealed, customer: customer, member: "birthday") {
            v.stringValue.flatMap(Birthday.init)
        } else {
            nil
        }
        opened.withLock { opened in
            if opened.birthdays.count >= RememberingOpener.limit { opened.birthdays.removeAll(keepingCapacity: true) }
            opened.birthdays[customer] = (sealed, birthday)
        }
        return birthday
    }
}

/// A forecast computed at most once, when a play first asks for it.
public final class LazyForecast: @unchecked Sendable {
    public let customer: String
    private let compute: () -> CustomerForecast?
    private var computed = false
    private var cached: CustomerForecast?

    /// Used from one thread at a time: the engine builds one per decision and drops it after.
    public init(customer: String, _ compute: @escaping () -> CustomerForecast?) {
        self.customer = customer
        self.compute = compute
    }

    public var value: CustomerForecast? {
        if !computed {
            cached = compute()
            computed = true
        }
        return cached
    }
}

/// UTC offsets of time zones by name, from Foundation's database: each zone is looked up once,
/// and each offset once per span between two of the zone's transitions (a zone changes its offset
/// a few times a year at most, and the reactor asks for one at every decision it times).
final class TimeZones: Sendable {
    static let shared = TimeZones()

    /// An offset that holds from `start` (a transition, or further back than any) until `end` (the next one).
    struct Span {
        var start: Int64
        var end: Int64
        var minutes: Int
    }

    private struct Zone {
        var zone: TimeZone?
        var spans: [Span] = []
    }

    private struct State {
        var zones: [String: Zone] = [:]
        /// The zone and span of the last answer: questions come in runs about one customer's zone
        /// near one moment, and comparing a name costs less than hashing it.
        var lastName = ""
        var lastSpan = Span(start: 0, end: 0, minutes: 0)
    }

    private let state = Mutex(State())

    /// The zone's offset from UTC in minutes at `t`; nil for a name not in the database.
    func offsetMinutes(_ name: String, at t: Timestamp) -> Int? {
        state.withLock { state in
            if state.lastSpan.start <= t.millis, t.millis < state.lastSpan.end, state.lastName == name { return state.lastSpan.minutes }
            if let known = state.zones[name] {
                guard known.zone != nil else { return nil }
                if let span = known.spans.last(where: { $0.start <= t.millis && t.millis < $0.end }) {
                    state.lastName = name
                    state.lastSpan = span
                    return span.minutes
                }
            }
            var entry = state.zones[name] ?? Zone(zone: TimeZone(identifier: name))
            guard let zone = entry.zone else {
                state.zones[name] = entry
                return nil
            }
            let span = TimeZones.span(of: zone, at: t)
            // A few spans a year of the times asked about; a run over decades starts over now and then.
            if entry.spans.count >= 64 { entry.spans.removeAll(keepingCapacity: true) }
            entry.spans.append(span)
            state.zones[name] = entry
            state.lastName = name
            state.lastSpan = span
            return span.minutes
        }
    }

    /// The span of constant offset around `t`: from the zone's last transition at or before it (or
    /// 400 days back, when none is nearer) to its next one.
    static func span(of zone: TimeZone, at t: Timestamp) -> Span {
        let date = Date(timeIntervalSince1970: Double(t.millis) / 1000)
        let lookBack = 400 * Double(Timestamp.millisPerDay) / 1000
        var start = date.addingTimeInterval(-lookBack)
        while let next = zone.nextDaylightSavingTimeTransition(after: start), next <= date { start = next }
        let end = zone.nextDaylightSavingTimeTransition(after: date)
        func millis(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        return Span(start: millis(start), end: end.map(millis) ?? Int64.max, minutes: zone.secondsFromGMT(for: date) / 60)
    }
}
