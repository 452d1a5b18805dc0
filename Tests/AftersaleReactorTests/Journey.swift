import AftersaleCore
import AftersaleReactor

/// A customer's story told event by event, through the reactor engine the live runs use: each
/// event goes to `ReactorEngine.apply`, the clock moves by `ReactorEngine.advance`, and the outbox
/// is the engine's own. A step's decision is read back from what the engine recorded for it.
struct Journey {
    /// The engine, recording its changes; tests set what it learned from the log (`coPurchases`) or
    /// give it a stored command (`insert`) through it.
    var engine: ReactorEngine
    let customer: String
    private var serial = 0

    init(customer: String = "c-1", configuration: ReactorConfiguration = ReactorConfiguration(),
         predictions: [String: CustomerForecast] = [:]) {
        self.customer = customer
        engine = ReactorEngine(configuration: configuration, timeZoneOffset: testOffset)
        engine.recording = true
        if !predictions.isEmpty { engine.forecaster = { state, _ in predictions[state.customer] } }
    }

    /// The customer's state as the engine folded it.
    var state: CustomerState {
        get { engine.customers[customer]?.state ?? CustomerState(customer: customer) }
        set { engine.customers[customer]?.state = newValue }
    }

    var configuration: ReactorConfiguration {
        get { engine.configuration }
        set { engine.configuration = newValue }
    }

    /// The customer's commands in the engine, oldest first.
    var outbox: [Command] { engine.outbox(of: customer) }

    /// Folds and reacts to one event; returns what the engine decided for it.
    @discardableResult
    mutating func happen(_ type: EventType, _ time: String, id: String? = nil, _ data: KeyValuePairs<String, JSONValue> = [:]) -> ReactorDecision {
        happen(event(type, time, id: id, data))
    }

    @discardableResult
    mutating func happen(_ event: Event) -> ReactorDecision {
        let start = engine.records.count
        engine.apply(event)
        return decision(since: start) { $0 == event.id }
    }

    /// An event of the customer's, numbered on from the last one.
    mutating func event(_ type: EventType, _ time: String, id: String? = nil, _ data: KeyValuePairs<String, JSONValue> = [:]) -> Event {
        serial += 1
        return Event(id: id ?? "e-\(serial)", type: type, customer: customer, at: at(time), data: JSONObject(data))
    }

    /// Runs the clock to `time`, as a cron run of the live reactor does; returns what its ticks decided.
    @discardableResult
    mutating func advance(to time: String) -> ReactorDecision {
        let start = engine.records.count
        engine.advance(to: at(time))
        return decision(since: start) { $0.hasPrefix("clock ") }
    }

    /// Sets the customer's clock back to an earlier tick (00:00 UTC), so the next `advance` judges
    /// the ticks after it again, as a replay of the same period does.
    mutating func setClock(back tick: String) {
        precondition(at(tick) == at(tick).startOfUTCDay && at(tick) <= engine.customers[customer]!.clock!)
        engine.customers[customer]?.clock = at(tick)
    }

    /// What the dispatcher would hand out by `time`: the engine's release, this customer's part.
    func release(dueBy time: Timestamp) -> [Command] {
        engine.release(dueBy: time).filter { $0.customer == customer }
    }

    func commands(_ kind: CommandKind) -> [Command] { outbox.filter { $0.kind == kind } }

    func command(_ id: String) -> Command? { engine.command(id) }

    /// The engine's records since `start` whose cause matches, as a decision: commands as scheduled,
    /// cancellations and suppressions with their reasons.
    private func decision(since start: Int, cause matches: (String) -> Bool) -> ReactorDecision {
        var decision = ReactorDecision()
        for record in engine.records[start...] where matches(record.cause) {
            guard var command = engine.command(record.commandID) else { continue }
            if record.change == "scheduled" {
                // Scheduled pending: a later tick of the same step may have changed it since.
                command.status = .pending
                decision.schedule.append(command)
            } else if record.change.hasPrefix("scheduled as ") {
                decision.schedule.append(command)
            } else if record.change.hasPrefix("cancelled: "), case .cancelled(let by, let reason) = command.status {
                decision.cancel.append(Cancellation(commandID: command.id, byEventID: by, reason: reason))
            } else if record.change.hasPrefix("suppressed: ") {
                decision.suppress.append(Suppression(commandID: command.id, reason: String(record.change.dropFirst("suppressed: ".count))))
            }
        }
        return decision
    }

    // MARK: the cast's usual events

    mutating func register(_ time: String = "2025-01-10T09:00:00Z", consent: KeyValuePairs<String, JSONValue> = ["email": .bool(true)],
                           timezone: String = "Europe/Berlin", birthday: String? = nil) {
        var data = JSONObject(["timezone": .string(timezone), "consent": .object(JSONObject(consent))])
        if let birthday { data["birthday"] = .string(birthday) }
        serial += 1
        happen(Event(id: "e-\(serial)", type: .customerRegistered, customer: customer, at: at(time), data: data))
    }

    @discardableResult
    mutating func order(_ order: String, _ time: String, total: String = "59.80", currency: String = "EUR",
                        lines: [(sku: String, quantity: Int, price: String, category: String?)] = [("TEA-1", 2, "14.90", "tea"), ("MUG-1", 1, "30.00", "kitchen")],
                        id: String? = nil) -> ReactorDecision {
        let lineValues: [JSONValue] = lines.map { line in
            var o = JSONObject(["sku": .string(line.sku), "quantity": .integer(line.quantity), "price": .string(line.price)])
            if let c = line.category { o["category"] = .string(c) }
            return .object(o)
        }
        return happen(.orderPlaced, time, id: id, ["order": .string(order), "total": .string(total), "currency": .string(currency),
                                                   "lines": .array(lineValues)])
    }
}

func at(_ text: String) -> Timestamp { try! Timestamp.parse(text) }

/// Deterministic offsets: Europe/Berlin with the EU summer-time rule, fixed zones otherwise.
let testOffset: @Sendable (String, Timestamp) -> Int? = { zone, t in
    switch zone {
    case "UTC": return 0
    case "Asia/Tokyo": return 540
    case "America/New_York": return isEUSummer(t) ? -240 : -300  // close enough for these tests
    case "Europe/Berlin", "Europe/Vienna":
        return isEUSummer(t) ? 120 : 60
    default: return nil
    }
}

/// Between 01:00 UTC on the last Sunday of March and of October.
func isEUSummer(_ t: Timestamp) -> Bool {
    let year = CivilDate(daysSinceEpoch: t.utcDay).year
    func lastSunday(_ month: Int) -> Int64 {
        let last = CivilDate(year: year, month: month, day: 31).daysSinceEpoch
        let weekday = ((last + 4) % 7 + 7) % 7  // 0 = Sunday; 1970-01-01 was a Thursday
        return last - weekday
    }
    let start = lastSunday(3) * Timestamp.millisPerDay + 3_600_000
    let end = lastSunday(10) * Timestamp.millisPerDay + 3_600_000
    return t.millis >= start && t.millis < end
}

extension Money {
    static func eur(_ text: String) -> Money {
        Money(minorUnits: try! Money.parseMinorUnits(text, digits: 2), currency: Currency(code: "EUR")!)
    }
}

extension JSONValue {
    /// `{"amount": "5.00", "currency": "EUR"}` as `"5.00 EUR"`.
    var moneyText: String? {
        guard let a = self["amount"]?.stringValue, let c = self["currency"]?.stringValue else { return nil }
        return "\(a) \(c)"
    }
}

extension CommandStatus {
    var suppressionReason: String? {
        if case .suppressed(let r) = self { return r }
        return nil
    }

    var cancellation: (byEventID: String, reason: String)? {
        if case .cancelled(let id, let r) = self { return (id, r) }
        return nil
    }
}

