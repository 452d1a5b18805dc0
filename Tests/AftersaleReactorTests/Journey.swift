import AftersaleCore
import AftersaleReactor

/// A customer's story told event by event: each event is folded into the state, the reactor
/// reacts, and its decision is applied to an in-memory outbox (insert by id, cancel, suppress),
/// as the storage side does.
struct Journey {
    var state: CustomerState
    var outbox: [Command] = []
    var context: ReactorContext
    var decisions: [ReactorDecision] = []
    private var serial = 0

    init(customer: String = "c-1", configuration: ReactorConfiguration = ReactorConfiguration(),
         predictions: [String: CustomerForecast] = [:]) {
        state = CustomerState(customer: customer)
        context = ReactorContext(now: at("2025-01-01T00:00:00Z"), configuration: configuration, predictions: predictions,
                                 timeZoneOffset: testOffset)
    }

    var customer: String { state.customer }

    /// Folds and reacts to one event; returns the decision.
    @discardableResult
    mutating func happen(_ type: EventType, _ time: String, id: String? = nil, _ data: KeyValuePairs<String, JSONValue> = [:]) -> ReactorDecision {
        serial += 1
        let event = Event(id: id ?? "e-\(serial)", type: type, customer: customer, at: at(time), data: JSONObject(data))
        return happen(event)
    }

    @discardableResult
    mutating func happen(_ event: Event) -> ReactorDecision {
        let before = state
        state.apply(event)
        context.now = event.at
        let decision = Reactor.react(to: event, before: before, after: state, outbox: outbox, context: context)
        record(decision)
        return decision
    }

    /// Runs the clock from `from` to `to`.
    @discardableResult
    mutating func tick(from: String, to: String) -> ReactorDecision {
        context.now = at(to)
        let decision = Reactor.advance(state: state, from: at(from), to: at(to), outbox: outbox, context: context)
        record(decision)
        return decision
    }

    mutating func record(_ decision: ReactorDecision) {
        decisions.append(decision)
        for command in decision.schedule where !outbox.contains(where: { $0.id == command.id }) { outbox.append(command) }
        for c in decision.cancel {
            if let i = outbox.firstIndex(where: { $0.id == c.commandID }) { outbox[i].status = .cancelled(byEventID: c.byEventID, reason: c.reason) }
        }
        for s in decision.suppress {
            if let i = outbox.firstIndex(where: { $0.id == s.commandID }) { outbox[i].status = .suppressed(reason: s.reason) }
        }
    }

    /// Marks a command as handed out (as the dispatcher does).
    mutating func dispatch(_ id: String) {
        if let i = outbox.firstIndex(where: { $0.id == id }) { outbox[i].status = .dispatched }
    }

    func commands(_ kind: CommandKind) -> [Command] { outbox.filter { $0.kind == kind } }

    func command(_ id: String) -> Command? { outbox.first { $0.id == id } }

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

