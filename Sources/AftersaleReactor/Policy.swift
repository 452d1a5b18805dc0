public import AftersaleCore

/// One play of the post-purchase playbook: a pure function of (event or clock, customer state, context).
///
/// Policies propose commands on the preferred channel with status `pending`; the reactor then runs
/// the contact policy (consent, quiet hours, caps, arbitration) over them.
public protocol Policy: Sendable {
    /// Commands the event calls for.
    func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command]
    /// Pending commands of this policy that the event makes moot.
    func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation]
    /// Commands whose moment falls in `(from, to]`.
    func advance(state: CustomerState, from: Timestamp, to: Timestamp, outbox: [Command], context: ReactorContext) -> [Command]
    /// The earliest moment after `clock` at which `advance` could propose a command the outbox does
    /// not hold, while `state` stays as it is; nil: never, until the customer's next event.
    ///
    /// The engine judges no tick before it, so it must never be later than the truth: when unsure,
    /// answer earlier (`clock` itself means "judge every tick"). `forecasts` gives the forecast a
    /// tick at a moment would see; nil when no model is in force.
    func nextWake(state: CustomerState, after clock: Timestamp, outbox: [Command], context: ReactorContext,
                  forecasts: ForecastLookup?) -> Timestamp?
}

/// The forecast a tick at a moment would see (the engine's forecasts are fixed within each
/// `ReactorEngine.forecastPeriod`), for `Policy.nextWake`.
public struct ForecastLookup {
    let forecast: (Timestamp) -> CustomerForecast?

    public init(_ forecast: @escaping (Timestamp) -> CustomerForecast?) {
        self.forecast = forecast
    }

    /// The forecast of a tick at `moment`.
    public func at(_ moment: Timestamp) -> CustomerForecast? { forecast(moment) }

    /// Where the forecast period after the one holding `moment` starts.
    public static func nextPeriod(after moment: Timestamp) -> Timestamp {
        let period = ReactorEngine.forecastPeriod
        return Timestamp(millis: (Timestamp.floorDiv(moment.millis, period) + 1) * period)
    }
}

extension Policy {
    public func react(to event: Event, before: CustomerState, after: CustomerState, outbox: [Command], context: ReactorContext) -> [Command] { [] }
    public func cancellations(for event: Event, after: CustomerState, pending: [Command], context: ReactorContext) -> [Cancellation] { [] }
    public func advance(state: CustomerState, from: Timestamp, to: Timestamp, outbox: [Command], context: ReactorContext) -> [Command] { [] }
    /// Judge every tick: right for any `advance`, if slow. A play with no `advance` says `nil`.
    public func nextWake(state: CustomerState, after clock: Timestamp, outbox: [Command], context: ReactorContext,
                         forecasts: ForecastLookup?) -> Timestamp? { clock }
}

/// A play the clock never wakes: it has no `advance`.
public protocol EventOnlyPolicy: Policy {}

extension EventOnlyPolicy {
    public func nextWake(state: CustomerState, after clock: Timestamp, outbox: [Command], context: ReactorContext,
                         forecasts: ForecastLookup?) -> Timestamp? { nil }
}

// MARK: - Shared pieces of the policies

extension Command {
    /// `kind:trigger[:subkey]`.
    static func id(_ kind: CommandKind, _ trigger: String, _ subkey: String? = nil) -> String {
        "\(kind.rawValue):\(trigger)" + (subkey.map { ":\($0)" } ?? "")
    }

    /// Whether `outbox` holds the command `id(kind, trigger, subkey)`. The id is made only when the
    /// outbox holds a command of that kind at all: the plays ask at every tick, and most outboxes
    /// hold none.
    static func isHeld(in outbox: [Command], _ kind: CommandKind, _ trigger: String, _ subkey: @autoclosure () -> String) -> Bool {
        guard holds(outbox, kind) else { return false }
        return holds(outbox, kind, id(kind, trigger, subkey()))
    }

    /// A pending command on the configuration's first channel.
    static func proposal(_ kind: CommandKind, trigger: String, subkey: String? = nil, customer: String, due: Timestamp,
                         payload: JSONObject, reason: String, priority: CommandPriority = .normal, context: ReactorContext) -> Command {
        Command(id: id(kind, trigger, subkey), customer: customer, kind: kind, channel: context.configuration.contact.channels.first ?? .email,
                due: due, payload: payload, reason: reason, priority: priority, trigger: trigger)
    }
}

extension Timestamp {
    func adding(wholeDays days: Int) -> Timestamp { adding(millis: Int64(days) * Timestamp.millisPerDay) }
    func adding(hours: Int) -> Timestamp { adding(millis: Int64(hours) * 3_600_000) }
    /// Whole days from `self` to `later` (may be fractional).
    func days(until later: Timestamp) -> Double { Double(later.millis - millis) / Double(Timestamp.millisPerDay) }
}

/// Exact money as JSON: `{"amount": "5.00", "currency": "EUR"}`.
func moneyJSON(_ m: Money) -> JSONValue {
    .object(JSONObject(["amount": .string(m.decimalString), "currency": .string(m.currency.code)]))
}

func strings(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }

/// A product as the message shows it: SKU, name and link when known.
func productJSON(sku: String, name: String? = nil, category: String? = nil, quantity: Int? = nil, context: ReactorContext) -> JSONValue {
    var o = JSONObject(["sku": .string(sku)])
    if let quantity { o["quantity"] = .integer(quantity) }
    if let n = name ?? context.products[sku]?.name { o["name"] = .string(n) }
    if let category { o["category"] = .string(category) }
    if let link = context.products[sku]?.link { o["link"] = .string(link) }
    return .object(o)
}

extension CustomerState {
    /// Orders placed and not cancelled, oldest first, ties by id.
    var placedOrders: [OrderState] {
        orders.values.filter { $0.placedAt != nil && $0.cancelledAt == nil }
            .sorted { ($0.placedAt!, $0.id) < ($1.placedAt!, $1.id) }
    }

    /// Why marketing is paused now, if it is: an open return or an unanswered complaint.
    var marketingPause: String? {
        if let r = openReturns.sorted().first { return "return \(r) is open" }
        if let r = unansweredNegativeReviews.sorted().first { return "complaint (review \(r), rating \(unansweredReviews[r] ?? 0)) is unanswered" }
        return nil
    }
}

/// The customer's value for decisions: the larger of net historical value and predicted CLV (same currency).
func customerValue(_ state: CustomerState, _ prediction: CustomerForecast?) -> (Money, String)? {
    customerValueAmount(state, prediction).map { value, predicted in
        (value, predicted ? "predicted CLV \(value)" : "historical net value \(value)")
    }
}

/// `customerValue` without its words, and whether it is the prediction: for the questions asked at
/// every tick, which need only the figure.
func customerValueAmount(_ state: CustomerState, _ prediction: CustomerForecast?) -> (value: Money, predicted: Bool)? {
    let historical = state.historicalValue
    if let currency = prediction?.clvCurrency, currency == historical?.currency ?? currency,
       let clv = prediction?.predictedCLV(ifAtLeast: historical?.minorUnits ?? Int64.min),
       clv.minorUnits >= (historical?.minorUnits ?? Int64.min) {
        return (clv, true)
    }
    return historical.map { ($0, false) }
}

/// A probability written with two decimals: `0.31`.
func fixed2(_ x: Double) -> String {
    let hundredths = Int((x * 100).rounded())
    return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
}

/// Local wall time of one customer, through the injected offset closure.
struct LocalClock {
    var zone: String
    var offset: @Sendable (String, Timestamp) -> Int?

    init(_ state: CustomerState, _ context: ReactorContext) {
        zone = state.timeZone ?? context.configuration.contact.defaultTimeZone
        offset = context.timeZoneOffset
    }

    func offsetMinutes(at t: Timestamp) -> Int { offset(zone, t) ?? 0 }

    /// Local milliseconds since 1970 (wall clock as if it were UTC).
    func wall(_ t: Timestamp) -> Int64 { t.millis + Int64(offsetMinutes(at: t)) * 60_000 }

    func localDate(_ t: Timestamp) -> CivilDate { CivilDate(daysSinceEpoch: Timestamp.floorDiv(wall(t), Timestamp.millisPerDay)) }

    func minuteOfDay(_ t: Timestamp) -> Int {
        let w = wall(t)
        return Int((w - Timestamp.floorDiv(w, Timestamp.millisPerDay) * Timestamp.millisPerDay) / 60_000)
    }

    /// The instant the local wall clock shows `minute` on `date`.
    func instant(_ date: CivilDate, minute: Int) -> Timestamp {
        let wall = date.daysSinceEpoch * Timestamp.millisPerDay + Int64(minute) * 60_000
        var guess = Timestamp(millis: wall - Int64(offsetMinutes(at: Timestamp(millis: wall))) * 60_000)
        guess = Timestamp(millis: wall - Int64(offsetMinutes(at: guess)) * 60_000)
        return Timestamp(millis: guess.millis, offsetMinutes: offsetMinutes(at: guess))
    }
}
