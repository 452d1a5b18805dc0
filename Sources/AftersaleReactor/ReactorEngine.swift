public import AftersaleCore
internal import Synchronization

/// The reactor as a deterministic machine: events in log order and clock ticks in, an outbox out.
///
/// Live runs and `replay` drive this same engine, so a replay of the log decides exactly what the
/// live runs decided. What makes that hold:
/// - The clock ticks at 00:00 UTC of each day, per customer, interleaved with that customer's
///   events by their time: time-based plays (birthdays, win-back, ...) are judged on the same
///   days whenever the runs happened.
/// - What the engine learns from the log (co-purchase counts, the fitted model) is as of each
///   event, never from the future.
/// - `action.dispatched` events mark their commands dispatched, so contact caps replay too.
public struct ReactorEngine: Sendable {
    /// A customer as the reactor knows them: their folded state and the last tick judged.
    public struct Customer: Sendable, Equatable {
        public var state: CustomerState
        /// The last day boundary (00:00 UTC) whose time-based plays were judged; nil before any.
        public var clock: Timestamp?
        public init(state: CustomerState, clock: Timestamp?) {
            self.state = state
            self.clock = clock
        }
    }

    /// Why a command exists or changed: for `replay` and the `actions` reasons.
    public struct Record: Sendable, Equatable {
        public var commandID: String
        /// The event id, or `clock <day>`.
        public var cause: String
        public var change: String
    }

    public var configuration: ReactorConfiguration {
        didSet { contextBase = makeContextBase() }
    }
    public var customers: [String: Customer] = [:]
    /// Each customer's commands, in the order they were scheduled.
    public private(set) var commandsByCustomer: [String: [Command]] = [:]
    /// Where each command is: customer and index in `commandsByCustomer`.
    private var location: [String: (customer: String, index: Int)] = [:]
    /// SKU -> SKU bought later by the same customer -> how many customers did so.
    public var coPurchases: [String: [String: Int]] {
        get { coPurchaseTable.asDictionary }
        set { coPurchaseTable = CoPurchaseTable(newValue) }
    }
    /// `coPurchases` by SKU number, each SKU's followers kept ranked as counts grow, so that a
    /// context reads the top of the list instead of sorting every count.
    private var coPurchaseTable = CoPurchaseTable()
    /// The co-purchase counts as a table, with what changed since they were stored: what a store
    /// loads, keeps between runs, and saves the changes of (`takeCoPurchaseChanges`).
    public var coPurchaseCounts: CoPurchaseTable {
        get { coPurchaseTable }
        set { coPurchaseTable = newValue }
    }

    /// The co-purchase pairs whose counts changed since the counts were set or this was last
    /// called, with their counts now.
    public mutating func takeCoPurchaseChanges() -> [CoPurchasePair] {
        coPurchaseTable.takeChangedPairs()
    }
    /// Turns the fitted model in force into a forecast for a customer at a moment.
    public var forecaster: (@Sendable (CustomerState, Timestamp) -> CustomerForecast?)? {
        didSet { forecasts = ForecastCache() }
    }
    /// Forecasts already computed under the model in force.
    var forecasts = ForecastCache()
    /// Builds a forecaster from a `model.fitted` event.
    public var makeForecaster: @Sendable (Event) -> (@Sendable (CustomerState, Timestamp) -> CustomerForecast?)?
    public var timeZoneOffset: @Sendable (String, Timestamp) -> Int? {
        didSet { contextBase = makeContextBase() }
    }

    /// What changed since the last `takeChanges()`: for persistence.
    public var changedCommands: Set<String> {
        var ids = Set<String>()
        for (customer, indices) in changedIndices {
            let outbox = commandsByCustomer[customer]!
            for index in indices { ids.insert(outbox[index].id) }
        }
        return ids
    }
    /// The commands changed since the last `takeChanges()`, by customer: their indices in
    /// `commandsByCustomer`, in the order of the changes (a command changed twice is there twice).
    /// Kept by customer rather than as a set of ids: a first run changes hundreds of thousands of
    /// commands, and each id hashed into a set and looked up again cost more than its customer's.
    private var changedIndices: [String: [Int]] = [:]
    public private(set) var changedCustomers: Set<String> = []
    public private(set) var coPurchasesChanged = false
    /// Changes in order, when `recording` is on.
    public private(set) var records: [Record] = []
    public var recording = false
    /// Judge every tick, instead of skipping those before the policies' next wake: the same
    /// decisions, slower (for checking that they are the same).
    public var judgesEveryTick = false
    /// Decide for this customer only: the others' events are folded for what they teach cross-sell
    /// (who bought what after what), and no clock, policy or command of theirs is run. What the
    /// focused customer gets is what a full run gives them, since customers share nothing else.
    public var focus: String? {
        didSet { others = [:] }
    }
    /// The states of customers other than `focus`, for co-purchase learning.
    private var others: [String: CustomerState] = [:]
    /// Whether `apply` counts an order's co-purchases itself. A shard of `ReactorShards` does not:
    /// it is handed every customer's pairs, its own included, in log order.
    var learnsFromOrders = true

    /// Opens sealed personal data for the policies (`ReactorContext.personalData`).
    public var personalData: (any PersonalDataOpening)? {
        didSet { contextBase = makeContextBase() }
    }

    /// What every context of this engine shares (configuration, zones, personal data): a context per
    /// event and per judged tick then costs one reference to it, not a copy of the configuration.
    private var contextBase: ReactorContext

    private func makeContextBase() -> ReactorContext {
        var base = ReactorContext(now: Timestamp(millis: 0), configuration: configuration, timeZoneOffset: timeZoneOffset)
        base.personalData = personalData
        return base
    }

    public init(configuration: ReactorConfiguration,
                makeForecaster: @escaping @Sendable (Event) -> (@Sendable (CustomerState, Timestamp) -> CustomerForecast?)? = { _ in nil },
                timeZoneOffset: @escaping @Sendable (String, Timestamp) -> Int? = ReactorContext.foundationOffset) {
        self.configuration = configuration
        self.makeForecaster = makeForecaster
        self.timeZoneOffset = timeZoneOffset
        contextBase = ReactorContext(now: Timestamp(millis: 0), configuration: configuration, timeZoneOffset: timeZoneOffset)
    }

    static let day = Timestamp.millisPerDay

    /// Makes the forecast cache this engine's alone before a step fills it (see `ForecastCache`).
    mutating func ownForecasts() {
        if !isKnownUniquelyReferenced(&forecasts) { forecasts = forecasts.copy() }
    }

    /// Folds one event, judging the customer's clock up to the event's day first.
    public mutating func apply(_ event: Event) {
        ownForecasts()
        switch event.type {
        case .modelFitted:
            forecaster = makeForecaster(event)
            return
        case .privacyRequested:
            // A request for erasure or a copy of the data: no play reacts to it.
            return
        case .actionDispatched, .actionSuppressed:
            if let focus, event.customer != focus { return }
            // The hand-off happened after the dispatch brought this customer's clock up to it:
            // tick first, so commands the clock created by then exist here too.
            if var customer = customers[event.customer] {
                tick(&customer, through: event.at)
                customers[event.customer] = customer
                changedCustomers.insert(event.customer)
            }
            if let handOff = HandOff(event), var command = self.command(handOff.action),
               command.status == .pending || (handOff.dispatched && handOff.redelivered && command.status.name == "suppressed") {
                // The hand-off may have moved the command (quiet hours): the event says where it went.
                if let due = handOff.due { command.due = due }
                if handOff.dispatched {
                    command.status = .dispatched
                    if let channel = handOff.channel { command.channel = channel }
                    store(command, cause: event.id, change: "dispatched")
                } else {
                    let reason = handOff.reason ?? "suppressed at hand-off"
                    command.status = .suppressed(reason: reason)
                    store(command, cause: event.id, change: "suppressed at hand-off: \(reason)")
                }
            }
            return
        default:
            break
        }
        guard event.customer != EventType.systemCustomer else { return }
        if let focus, event.customer != focus {
            var state = others.removeValue(forKey: event.customer) ?? CustomerState(customer: event.customer)
            if event.type == .orderPlaced {
                let before = state
                state.apply(event)
                learnCoPurchases(before: before, after: state, order: event.data["order"]?.stringValue)
            } else {
                state.apply(event)
            }
            others[event.customer] = state
            return
        }
        var customer = customers[event.customer] ?? Customer(state: CustomerState(customer: event.customer), clock: nil)
        if customer.clock == nil {
            // A new customer's clock starts on the day of their first event.
            customer.clock = event.at.startOfUTCDay
        } else {
            tick(&customer, through: event.at)
        }
        let before = customer.state
        customer.state.apply(event)
        // Cross-sell looks at what sells after the SKUs of the order this event is about, on its
        // delivery (the only event it reacts to): no other event needs the rankings.
        let orderSKUs = event.type == .shipmentDelivered
            ? (event.data["order"]?.stringValue).flatMap { customer.state.orders[$0]?.lines.map(\.sku) } ?? [] : []
        let context = self.context(for: customer.state, at: event.at, skus: orderSKUs)
        let decision = Reactor.react(to: event, before: before, after: customer.state, outbox: outbox(of: event.customer),
                                     context: context)
        record(decision, cause: event.id)
        if event.type == .orderPlaced && learnsFromOrders { learnCoPurchases(before: before, after: customer.state, order: event.data["order"]?.stringValue) }
        customers[event.customer] = customer
        changedCustomers.insert(event.customer)
    }

    /// Folds an event of a customer other than `focus`, given as its stored facts (`EventFacts`):
    /// what `apply` does with it, without parsing its JSON.
    public mutating func applyOther(customer: String, facts: UnsafeRawBufferPointer) throws(BinaryDecodingError) {
        precondition(focus != nil && customer != focus, "only another customer's event in a focused engine")
        let header = try EventFacts.header(facts)
        // As in `apply`: hand-offs are not folded into the state.
        if header.type == .actionDispatched || header.type == .actionSuppressed || header.type == .modelFitted
            || header.type == .privacyRequested { return }
        var state = others.removeValue(forKey: customer) ?? CustomerState(customer: customer)
        if header.type == .orderPlaced {
            let before = state
            try state.apply(facts: facts)
            learnCoPurchases(before: before, after: state, order: header.order)
        } else {
            try state.apply(facts: facts)
        }
        others[customer] = state
    }

    /// Judges every customer's time-based plays up to `now`.
    public mutating func advance(to now: Timestamp) {
        ownForecasts()
        for id in customers.keys.sorted() {
            var customer = customers[id]!
            let before = customer.clock
            tick(&customer, through: now)
            if customer.clock != before {
                customers[id] = customer
                changedCustomers.insert(id)
            }
        }
    }

    /// Judges the customer's time-based plays at each tick from their clock up to `t`.
    ///
    /// Ticks fall at 00:00 UTC: every day while an order is in flight (placed in the last 30 days,
    /// neither delivered nor cancelled), so a late delivery is noticed the next day; otherwise every
    /// Monday. Only those boundaries are ticks, so live runs and replays tick alike whenever the runs
    /// happen. Birthdays and anniversaries are scheduled more than a week ahead, due at their moment;
    /// win-back and VIP are judged weekly.
    mutating func tick(_ customer: inout Customer, through t: Timestamp) {
        guard var clock = customer.clock else { return }
        let last = t.startOfUTCDay.millis
        // Most events fall before the customer's next tick: then there is nothing to walk, and
        // the policies' next wake need not be asked.
        // The state stays as it is through the walk: when its orders stop being in flight is found once.
        let inFlightUntil = ReactorEngine.inFlightUntil(customer.state)
        guard ReactorEngine.nextTick(after: clock, inFlightUntil: inFlightUntil).millis <= last else { return }
        var box = outbox(of: customer.state.customer)
        // Ticks before the policies' next wake cannot propose anything new: only their boundaries
        // are walked, so the clock ends where it would have, and the windows stay the same.
        //
        // Each play keeps its own wake. A tick judges only the plays woken by then: another play's
        // `advance` could propose nothing the outbox lacks. A tick that decides nothing changes
        // neither the state nor the outbox, so only the plays it judged are asked again; a wake
        // found from an earlier clock still comes no later than anything those plays could
        // propose. A tick that decides something asks every play again.
        let policies = Reactor.policies
        var wakes = [Timestamp?](repeating: judgesEveryTick ? clock : nil, count: policies.count)
        if !judgesEveryTick {
            ReactorEngine.wakeUp(&wakes, state: customer.state, after: clock, outbox: box, judgedBy: nil, base: contextBase,
                                 forecaster: forecaster, cache: forecasts)
        }
        var wake = wakes.earliest
        while true {
            // Only the schedule's boundaries are ticks, never the day a run happens to stop at:
            // otherwise decisions would depend on when the runs happened.
            let next = ReactorEngine.nextTick(after: clock, inFlightUntil: inFlightUntil)
            guard next.millis <= last else { break }
            if let due = wake, next >= due {
                let context = self.context(for: customer.state, at: next, skus: [])
                let woken = judgesEveryTick ? policies : wakes.indices.compactMap { i in wakes[i].flatMap { $0 <= next ? policies[i] : nil } }
                let decision = Reactor.advance(state: customer.state, from: clock, to: next, outbox: box, context: context, policies: woken)
                if !decision.isEmpty {
                    // Let go of the customer's commands before they change: held, each change would copy them all.
                    box = []
                    record(decision, cause: "clock \(next.dateString)")
                    box = outbox(of: customer.state.customer)
                }
                if !judgesEveryTick {
                    ReactorEngine.wakeUp(&wakes, state: customer.state, after: next, outbox: box, judgedBy: decision.isEmpty ? next : nil,
                                         base: contextBase, forecaster: forecaster, cache: forecasts)
                    wake = wakes.earliest
                }
            }
            clock = next
        }
        customer.clock = clock
    }

    /// The first tick after the customer's clock that the clock must judge, as things stand: until
    /// then, running the clock cannot schedule anything for them (nil: nothing before their next
    /// event). Storage keeps it, so a later run loads only customers with an event or a tick due;
    /// a new model or configuration can move it, so then every customer is judged again.
    public func nextJudgedTick(of customer: Customer) -> Timestamp? {
        guard let clock = customer.clock else { return nil }
        if judgesEveryTick { return ReactorEngine.nextTick(after: clock, state: customer.state) }
        guard let wake = nextWake(customer.state, after: clock, outbox: outbox(of: customer.state.customer)) else { return nil }
        let inFlightUntil = ReactorEngine.inFlightUntil(customer.state)
        var tick = ReactorEngine.nextTick(after: clock, inFlightUntil: inFlightUntil)
        while tick < wake { tick = ReactorEngine.nextTick(after: tick, inFlightUntil: inFlightUntil) }
        return tick
    }

    /// Asks the plays for their next wake after `clock` (`Policy.nextWake`): every play, or with
    /// `judgedBy`, only those woken by then (whose wake is at or before it).
    func wakeUp(_ wakes: inout [Timestamp?], state: CustomerState, after clock: Timestamp, outbox: [Command], judgedBy: Timestamp?) {
        ReactorEngine.wakeUp(&wakes, state: state, after: clock, outbox: outbox, judgedBy: judgedBy, base: contextBase,
                             forecaster: forecaster, cache: forecasts)
    }

    /// `wakeUp` from the few fields it reads: `tick`, a mutating method, calls it at every judged
    /// tick, and a non-mutating method called from there is handed a copy of the whole engine.
    static func wakeUp(_ wakes: inout [Timestamp?], state: CustomerState, after clock: Timestamp, outbox: [Command], judgedBy: Timestamp?,
                       base: ReactorContext, forecaster: (@Sendable (CustomerState, Timestamp) -> CustomerForecast?)?, cache: ForecastCache) {
        let context = ReactorContext(now: clock, sharing: base)
        let forecasts = forecaster.map { forecaster in
            ForecastLookup { moment in ReactorEngine.forecast(for: state, at: moment, by: forecaster, cache: cache) }
        }
        for (i, policy) in Reactor.policies.enumerated() {
            if let judged = judgedBy { guard let w = wakes[i], w <= judged else { continue } }
            wakes[i] = policy.nextWake(state: state, after: clock, outbox: outbox, context: context, forecasts: forecasts).map { max($0, clock) }
        }
    }

    /// The earliest moment after `clock` at which a policy could schedule something new for the
    /// customer, as things stand; nil: nothing before their next event.
    func nextWake(_ state: CustomerState, after clock: Timestamp, outbox: [Command]) -> Timestamp? {
        var wakes = [Timestamp?](repeating: nil, count: Reactor.policies.count)
        wakeUp(&wakes, state: state, after: clock, outbox: outbox, judgedBy: nil)
        return wakes.earliest
    }

    /// The next tick after `clock`: the next day while an order is in flight, else the next Monday.
    public static func nextTick(after clock: Timestamp, state: CustomerState) -> Timestamp {
        nextTick(after: clock, inFlightUntil: inFlightUntil(state))
    }

    /// Until when (exclusive, milliseconds) an order of the state is in flight: placed in the 30
    /// days before, neither delivered nor cancelled. nil: none is.
    static func inFlightUntil(_ state: CustomerState) -> Int64? {
        var until: Int64?
        for order in state.orders.values {
            guard let placed = order.placedAt, order.cancelledAt == nil, order.deliveredAt == nil else { continue }
            until = max(until ?? Int64.min, placed.millis + 30 * day)
        }
        return until
    }

    /// `nextTick(after:state:)` from the state's `inFlightUntil`: a walk over many ticks of one
    /// state looks at its orders once, not at every tick.
    static func nextTick(after clock: Timestamp, inFlightUntil: Int64?) -> Timestamp {
        let nextDay = clock.millis + day
        // In flight at `clock`: some order has clock - placed < 30 days, i.e. clock < placed + 30 days.
        if let until = inFlightUntil, clock.millis < until { return Timestamp(millis: nextDay) }
        // 1970-01-05 was a Monday: day numbers d with (d - 4) % 7 == 0 are Mondays.
        var d = nextDay / day
        while (d - 4) % 7 != 0 { d += 1 }
        return Timestamp(millis: d * day)
    }

    /// How long a forecast holds: forecasts are judged at the start of each such period since 1970.
    public static let forecastPeriod = 28 * day

    /// The forecast in force for the customer at a moment (nil without a model): judged at the start
    /// of the forecast period (a pure function of the state and the boundary, so live runs and
    /// replays agree), and computed once per state and boundary.
    func forecast(for state: CustomerState, at moment: Timestamp) -> CustomerForecast? {
        forecaster.flatMap { ReactorEngine.forecast(for: state, at: moment, by: $0, cache: forecasts) }
    }

    /// `forecast(for:at:)` without the engine: what a lazy forecast captures.
    static func forecast(for state: CustomerState, at moment: Timestamp, by forecaster: (CustomerState, Timestamp) -> CustomerForecast?,
                         cache: ForecastCache) -> CustomerForecast? {
        let boundary = Timestamp(millis: Timestamp.floorDiv(moment.millis, ReactorEngine.forecastPeriod) * ReactorEngine.forecastPeriod)
        let key = ForecastKey(customer: state.customer, events: state.eventCount, boundary: boundary.millis)
        if let known = cache.value(key) { return known }
        let forecast = forecaster(state, boundary)
        cache.store(key, forecast)
        return forecast
    }

    /// The context for one customer at a moment: their forecast and what sells after their SKUs.
    func context(for state: CustomerState, at moment: Timestamp, skus: [String]) -> ReactorContext {
        let cache = forecasts
        let lazy = forecaster.map { forecaster in
            LazyForecast(customer: state.customer) { ReactorEngine.forecast(for: state, at: moment, by: forecaster, cache: cache) }
        }
        var crossSell: [String: [CoPurchase]] = [:]
        let limit = max(configuration.crossSell.maxItems * 4, 8)
        for sku in Set(skus).sorted() {
            // The most bought-after SKUs, enough to fill the play after excluding what the customer owns.
            guard let ranking = coPurchaseTable.ranking(after: sku, limit: limit) else { continue }
            crossSell[sku] = ranking
        }
        return ReactorContext(now: moment, crossSell: crossSell, lazyForecast: lazy, sharing: contextBase)
    }

    /// The customer's commands, oldest first.
    public func outbox(of customer: String) -> [Command] { commandsByCustomer[customer] ?? [] }

    /// A command by id.
    public func command(_ id: String) -> Command? {
        location[id].map { commandsByCustomer[$0.customer]![$0.index] }
    }

    /// How many commands the engine holds.
    public var commandCount: Int { location.count }

    /// Adds a command loaded from storage, or scheduled now; false when it holds the id already.
    @discardableResult
    public mutating func insert(_ command: Command) -> Bool { insertedIndex(command) != nil }

    /// `insert`, giving where the command went in its customer's outbox (nil: the id was held).
    private mutating func insertedIndex(_ command: Command) -> Int? {
        let index = commandsByCustomer[command.customer]?.count ?? 0
        var fresh = false
        // One lookup of the id: its slot is filled only when it was empty.
        func fill(_ slot: inout (customer: String, index: Int)) {
            guard slot.index < 0 else { return }
            slot = (command.customer, index)
            fresh = true
        }
        fill(&location[command.id, default: (customer: "", index: -1)])
        guard fresh else { return nil }
        commandsByCustomer[command.customer, default: []].append(command)
        return index
    }

    private mutating func noteChanged(_ customer: String, _ index: Int) {
        changedIndices[customer, default: []].append(index)
    }

    /// The engine's customers and commands dealt into `count` engines by `shard`, each with
    /// everything else (settings, model, co-purchase counts) as this one has it.
    func split(into count: Int, by shard: (String) -> Int) -> [ReactorEngine] {
        var empty = self
        empty.customers = [:]
        empty.commandsByCustomer = [:]
        empty.location = [:]
        empty.changedIndices = [:]
        empty.changedCustomers = []
        empty.learnsFromOrders = false
        var shards = Array(repeating: empty, count: count)
        for (id, customer) in customers { shards[shard(id)].customers[id] = customer }
        for (id, commands) in commandsByCustomer {
            let s = shard(id)
            shards[s].commandsByCustomer[id] = commands
            for (index, command) in commands.enumerated() { shards[s].location[command.id] = (id, index) }
        }
        for id in changedCustomers { shards[shard(id)].changedCustomers.insert(id) }
        for (customer, indices) in changedIndices { shards[shard(customer)].changedIndices[customer] = indices }
        return shards
    }

    /// Shards of one engine put back together: their customers and commands are disjoint, and
    /// what they share (co-purchase counts, the model) each holds alike.
    static func merge(_ shards: [ReactorEngine]) -> ReactorEngine {
        var merged = shards[0]
        merged.learnsFromOrders = true
        for shard in shards.dropFirst() {
            merged.customers.merge(shard.customers) { a, _ in a }
            merged.commandsByCustomer.merge(shard.commandsByCustomer) { a, _ in a }
            merged.location.merge(shard.location) { a, _ in a }
            merged.changedIndices.merge(shard.changedIndices) { a, _ in a }
            merged.changedCustomers.formUnion(shard.changedCustomers)
            merged.coPurchasesChanged = merged.coPurchasesChanged || shard.coPurchasesChanged
        }
        return merged
    }

    /// Counts, once per customer, each SKU bought after another SKU they already owned.
    mutating func learnCoPurchases(before: CustomerState, after: CustomerState, order: String?) {
        for (previous, sku) in ReactorEngine.coPurchases(owned: before.ownedSKUs, after: after, order: order) {
            learnCoPurchase(of: sku, after: previous)
        }
    }

    /// What an order placement teaches cross-sell: each SKU of the order the customer did not own
    /// yet, paired with each SKU they owned (`owned`: before the order). Customers contribute
    /// independently, so these pairs can be gathered customer by customer and counted in log order.
    /// With `from`, only pairs whose earlier SKU is in it.
    public static func coPurchases(owned: Set<String>, after: CustomerState, order: String?,
                                   from: Set<String>? = nil) -> [(previous: String, sku: String)] {
        guard let order, let placed = after.orders[order], placed.cancelledAt == nil, !owned.isEmpty else { return [] }
        let previous = (from.map { owned.intersection($0) } ?? owned).sorted()
        guard !previous.isEmpty else { return [] }
        var pairs: [(previous: String, sku: String)] = []
        for sku in Set(placed.lines.map(\.sku)).sorted() where !owned.contains(sku) {
            for earlier in previous { pairs.append((earlier, sku)) }
        }
        return pairs
    }

    /// One more customer bought `sku` after owning `previous`.
    public mutating func learnCoPurchase(of sku: String, after previous: String) {
        let p = coPurchaseTable.number(previous)
        coPurchaseTable.learn(coPurchaseTable.number(sku), after: p)
        coPurchasesChanged = true
    }

    /// The number this engine counts `sku` under (`learnCoPurchase(ofNumber:afterNumber:)`): stable
    /// until `coPurchases` is set.
    mutating func coPurchaseNumber(of sku: String) -> Int32 { coPurchaseTable.number(sku) }

    /// `learnCoPurchase(of:after:)` by the SKUs' numbers; returns the pair's slot
    /// (`learnCoPurchase(slot:)`), stable until `coPurchases` is set.
    @discardableResult
    mutating func learnCoPurchase(ofNumber sku: Int32, afterNumber previous: Int32) -> Int32 {
        coPurchasesChanged = true
        return coPurchaseTable.learn(sku, after: previous)
    }

    /// One more customer bought the pair at `slot` (from `learnCoPurchase(ofNumber:afterNumber:)`).
    mutating func learnCoPurchase(slot: Int32) {
        coPurchaseTable.learn(slot: slot)
        coPurchasesChanged = true
    }

    /// Applies a decision. The words of a change are made only when `recording`: a first run records
    /// hundreds of thousands of changes and keeps none of the words.
    mutating func record(_ decision: ReactorDecision, cause: @autoclosure () -> String) {
        for command in decision.schedule {
            guard let index = insertedIndex(command) else { continue }
            noteChanged(command.customer, index)
            if recording {
                records.append(Record(commandID: command.id, cause: cause(),
                                      change: command.status == .pending ? "scheduled" : "scheduled as \(command.status.name)"))
            }
        }
        for cancellation in decision.cancel {
            change(cancellation.commandID, cause: cause(), change: "cancelled: \(cancellation.reason)") { command in
                command.status = .cancelled(byEventID: cancellation.byEventID, reason: cancellation.reason)
            }
        }
        for suppression in decision.suppress {
            change(suppression.commandID, cause: cause(), change: "suppressed: \(suppression.reason)") { command in
                command.status = .suppressed(reason: suppression.reason)
            }
        }
    }

    /// Changes a pending command where it is held, without copying it out and back.
    mutating func change(_ id: String, cause: @autoclosure () -> String, change: @autoclosure () -> String, _ body: (inout Command) -> Void) {
        guard let at = location[id], commandsByCustomer[at.customer]![at.index].status == .pending else { return }
        body(&commandsByCustomer[at.customer]![at.index])
        noteChanged(at.customer, at.index)
        if recording { records.append(Record(commandID: id, cause: cause(), change: change())) }
    }

    mutating func store(_ command: Command, cause: String, change: String) {
        guard let at = location[command.id] else { return }
        commandsByCustomer[at.customer]![at.index] = command
        noteChanged(at.customer, at.index)
        if recording { records.append(Record(commandID: command.id, cause: cause, change: change)) }
    }

    /// Hands out what changed since the last call, and forgets it.
    public mutating func takeChanges() -> (commands: [Command], customers: [Customer], coPurchasesChanged: Bool) {
        // Customer by customer, each one's in the order they were scheduled: sorting every id of a
        // first run's hundreds of thousands of commands cost more than writing some of them.
        var commands: [Command] = []
        commands.reserveCapacity(changedIndices.values.reduce(0) { $0 + $1.count })
        for customer in changedIndices.keys.sorted() {
            let outbox = commandsByCustomer[customer]!
            var last = -1
            for index in changedIndices[customer]!.sorted() where index != last {
                commands.append(outbox[index])
                last = index
            }
        }
        let changed = (commands, changedCustomers.sorted().compactMap { customers[$0] }, coPurchasesChanged)
        changedIndices = [:]
        changedCustomers = []
        coPurchasesChanged = false
        return changed
    }

    /// Commands due by `now` and still pending, released through the contact policy
    /// (consent, quiet hours, caps, the pause while a return or complaint is open).
    ///
    /// `inFlight`: commands already handed to delivery and not yet answered. They are not released
    /// again, and the contact rules count them as sent (a cap is not exceeded while one retries).
    public func release(dueBy now: Timestamp, inFlight: Set<String> = []) -> [Command] {
        var released: [Command] = []
        for customer in commandsByCustomer.keys.sorted() {
            var outbox = outbox(of: customer)
            let due = outbox.filter { $0.isPending && $0.due <= now && !inFlight.contains($0.id) }
            guard !due.isEmpty, let state = customers[customer]?.state else { continue }
            if !inFlight.isEmpty {
                for i in outbox.indices where inFlight.contains(outbox[i].id) && outbox[i].isPending { outbox[i].status = .dispatched }
            }
            let context = self.context(for: state, at: now, skus: [])
            released += Reactor.release(due, state: state, outbox: outbox, context: context)
        }
        return released
    }

    /// Marks a command handed to the outside world, or suppressed at hand-off.
    public mutating func settle(_ command: Command) {
        store(command, cause: "dispatch", change: command.status.name)
    }
}

struct ForecastKey: Hashable {
    var customer: String
    /// The state's event count: the forecast is for this state.
    var events: Int
    var boundary: Int64
}

/// Forecasts computed under one model: a reference, so that the lazy forecasts of a context can
/// fill it, and locked, since copies of a `Sendable` engine may hold it on several threads.
///
/// Each engine owns its cache as a value would: a mutating step makes it unique first
/// (`ReactorEngine.ownForecasts`), so two copies that go on with different events never read
/// each other's forecasts (a key names the customer and their event count, not the events).
final class ForecastCache: Sendable {
    /// One forecast per customer, with the state and boundary it is for.
    private struct Entry {
        var events: Int
        var boundary: Int64
        var forecast: CustomerForecast?
    }

    private typealias Entries = [String: Entry]

    private let entries: Mutex<Entries>

    init() { entries = Mutex(Entries()) }

    private init(_ copied: Entries) { entries = Mutex(copied) }

    func value(_ key: ForecastKey) -> CustomerForecast?? {
        entries.withLock { entries in
            guard let entry = entries[key.customer], entry.events == key.events, entry.boundary == key.boundary else { return nil }
            return .some(entry.forecast)
        }
    }

    /// Keeps one forecast per customer: the newest state and boundary replace the last.
    func store(_ key: ForecastKey, _ forecast: CustomerForecast?) {
        entries.withLock { $0[key.customer] = Entry(events: key.events, boundary: key.boundary, forecast: forecast) }
    }

    /// A cache of its own with the same forecasts.
    func copy() -> ForecastCache { ForecastCache(entries.withLock { $0 }) }
}

extension [Timestamp?] {
    /// The earliest of the plays' wakes; nil when none will wake.
    var earliest: Timestamp? {
        var first: Timestamp?
        for case let w? in self where first.map({ w < $0 }) ?? true { first = w }
        return first
    }
}
