public import AftersaleCore
public import AftersaleReactor
public import AftersaleStore

/// The reactor re-run over the log in memory, up to a point: what it decided then, and why.
///
/// Side effects are off by construction, not by a flag: the log is opened read-only and nothing
/// here knows the outbox, so a replay can neither write nor dispatch.
public enum ReactorReplay {
    /// Where a replay stops.
    public enum Limit: Sendable, Equatable {
        /// Events up to and including this log position; the clock up to the last of them.
        case position(Int64)
        /// Events that happened by this time; the clock up to it.
        case time(Timestamp)
    }

    /// One change the engine made to a command, in the order it made them.
    public struct Decision: Sendable {
        /// The event (or clock tick) that caused it.
        public var cause: String
        /// What changed ("scheduled", "cancelled: ...", "dispatched", ...).
        public var change: String
        /// The command as it stands at the end of the replay.
        public var command: Command
        /// For a change caused by a webhook delivery's outcome: the destination and every try, as
        /// its hand-off event records them (`destination`, `attempts`, and `status_code`,
        /// `failed`, `last_response` when there).
        public var delivery: JSONObject?
    }

    /// What a replay saw.
    public struct Result: Sendable {
        public var decisions: [Decision]
        /// Where the engine's clock stopped.
        public var clock: Timestamp
    }

    /// Replays the log in the file at `path` through a copy of `engine`, up to `limit` (default:
    /// every event, the clock at the last one); with `customer`, that customer's decisions only,
    /// which need no other customer's policies or clock: only what the others bought, for cross-sell.
    public static func run(logAt path: String, engine prototype: ReactorEngine, until limit: Limit? = nil,
                           customer: String? = nil) throws -> Result {
        let log = try EventLog(path: path, readOnly: true)
        var engine = prototype
        engine.recording = true
        var position: Int64?
        var time: Timestamp?
        switch limit {
        case .position(let p): position = p
        case .time(let t): time = t
        case nil: break
        }
        var clock = Timestamp(millis: 0)
        var deliveries: [String: JSONObject] = [:]
        func apply(_ recorded: RecordedEvent) {
            if let time, recorded.event.at > time { return }
            engine.apply(recorded.event)
            noteDelivery(recorded.event, in: &deliveries)
            if recorded.event.at > clock { clock = recorded.event.at }
        }
        if let customer {
            try replay(customer, log: log, through: position, until: time, engine: &engine, clock: &clock, deliveries: &deliveries)
        } else {
            try log.read(limit: position.map { Int($0) } ?? .max, includeMeta: false, apply)
        }
        engine.advance(to: time ?? clock)
        var decisions: [Decision] = []
        for record in engine.records {
            guard let command = engine.command(record.commandID), customer == nil || command.customer == customer else { continue }
            decisions.append(Decision(cause: record.cause, change: record.change, command: command, delivery: deliveries[record.cause]))
        }
        return Result(decisions: decisions, clock: time ?? clock)
    }

    /// One customer's replay: their events and the model's whole, every other customer's only as
    /// what they teach cross-sell. Customers share nothing else, so the customer gets exactly the
    /// decisions a replay of everyone gives them.
    static func replay(_ customer: String, log: EventLog, through position: Int64?, until time: Timestamp?,
                       engine: inout ReactorEngine, clock: inout Timestamp, deliveries: inout [String: JSONObject]) throws {
        let complete = try log.onOneSnapshot { () throws -> Bool in
            guard try log.factsAreStored() else { return false }
            let through = min(position ?? .max, try log.head())
            var events = try (log.stream(of: customer) + log.stream(of: EventType.systemCustomer)).filter { $0.position <= through }
            events.sort { $0.position < $1.position }
            // Cross-sell looks up what sells after the SKUs of the customer's own orders: only
            // pairs that start from one of those can change a decision.
            var own = CustomerState(customer: customer)
            for recorded in events { own.apply(recorded.event) }
            let asked = Set(own.orders.values.flatMap { $0.lines.map(\.sku) })
            // What each other customer's orders teach, gathered customer by customer from their
            // stored facts, then counted in log order between the customer's own events.
            var learned: [(position: Int64, previous: String, sku: String)] = []
            var state = CustomerState(customer: "")
            var latest = clock
            try log.readStreams(1..<(try log.lastStreamID() + 1), through: through) { _, other, cursor in
                guard other != customer, other != EventType.systemCustomer else { return }
                state.reset(customer: other)
                while let facts = try cursor.next() {
                    let header = try EventFacts.header(facts)
                    guard let type = header.type else { continue }
                    if let time, header.at > time { continue }
                    if header.at > latest { latest = header.at }
                    // As `ReactorEngine.apply`: hand-offs and models are not folded into a state.
                    if type == .actionDispatched || type == .actionSuppressed || type == .modelFitted || type == .privacyRequested { continue }
                    let owned = type == .orderPlaced ? state.ownedSKUs : []
                    try state.apply(facts: facts)
                    for pair in ReactorEngine.coPurchases(owned: owned, after: state, order: header.order, from: asked) {
                        learned.append((cursor.position, pair.previous, pair.sku))
                    }
                }
            }
            learned.sort { $0.position < $1.position }
            var next = 0
            for recorded in events {
                while next < learned.count, learned[next].position < recorded.position {
                    engine.learnCoPurchase(of: learned[next].sku, after: learned[next].previous)
                    next += 1
                }
                if let time, recorded.event.at > time { continue }
                engine.apply(recorded.event)
                noteDelivery(recorded.event, in: &deliveries)
                if recorded.event.at > latest { latest = recorded.event.at }
            }
            clock = latest
            return true
        }
        if complete { return }
        // A bulk load still holds facts: the others' events from the log, whole where facts are missing.
        engine.focus = customer
        try log.read(through: position ?? .max, whole: { $0 == customer || $0 == EventType.systemCustomer }, event: { recorded in
            if let time, recorded.event.at > time { return }
            engine.apply(recorded.event)
            noteDelivery(recorded.event, in: &deliveries)
            if recorded.event.at > clock { clock = recorded.event.at }
        }) { other, facts in
            let header = try EventFacts.header(facts)
            if let time, header.at > time { return }
            try engine.applyOther(customer: other, facts: facts)
            if header.type != nil, header.at > clock { clock = header.at }
        }
    }

    /// Keeps what a webhook delivery's hand-off event says of its tries, by the event's id.
    static func noteDelivery(_ event: Event, in deliveries: inout [String: JSONObject]) {
        guard event.type == .actionDispatched || event.type == .actionSuppressed, let destination = event.data["destination"] else { return }
        var delivery = JSONObject(["destination": destination])
        for member in ["attempts", "status_code", "failed", "last_response"] {
            if let value = event.data[member] { delivery[member] = value }
        }
        deliveries[event.id] = delivery
    }
}
