/// Turns a JSON line into an `Event`, or says exactly which field is wrong and why.
///
/// Checks run in a fixed order (JSON syntax, unknown envelope fields, id, type, customer, at, schema,
/// meta, then each data field in catalogue order) and stop at the first error.
public struct EventValidator: Sendable {
    /// The latest `at` accepted: a day past the ingest clock. Anything later is implausible.
    public var latestPlausible: Timestamp
    /// The earliest `at` accepted (1970-01-01).
    public var earliestPlausible: Timestamp = Timestamp(millis: 0)
    /// Whether a name is a known IANA time zone. Injected so the core reads no system files.
    public var isKnownTimeZone: @Sendable (String) -> Bool

    /// - Parameter now: the ingest clock's reading, from which plausibility is judged.
    public init(now: Timestamp, isKnownTimeZone: @escaping @Sendable (String) -> Bool = EventValidator.plausibleZoneName) {
        self.latestPlausible = now.adding(millis: Timestamp.millisPerDay)
        self.isKnownTimeZone = isKnownTimeZone
    }

    /// A shape check used when no time-zone database is injected: `UTC`, or `Area/Location`.
    public static let plausibleZoneName: @Sendable (String) -> Bool = { name in
        if name == "UTC" || name == "GMT" { return true }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count >= 2 && parts.allSatisfy { part in
            !part.isEmpty && part.utf8.allSatisfy { c in
                (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D || c == 0x2B
            }
        } && parts[0].first!.isUppercase
    }

    /// Parses and validates one NDJSON line.
    public func decode(line: String) throws(EventError) -> Event {
        let json: JSONValue
        do {
            json = try JSONParser.parse(line)
        } catch {
            throw EventError(field: "json", reason: error.description)
        }
        return try validate(json)
    }

    /// Validates a parsed envelope.
    public func validate(_ json: JSONValue) throws(EventError) -> Event {
        guard case .object(let envelope) = json else {
            throw EventError(field: "json", reason: "expected an object, got \(json.kindName)")
        }
        for member in envelope.members {
            switch member.key {
            case "id", "type", "customer", "at", "data", "meta", "schema": continue
            default:
                throw EventError(field: member.key,
                                 reason: "unknown envelope field (allowed: id, type, customer, at, data, meta, schema)")
            }
        }
        let id = try identifier(envelope["id"], field: "id")
        guard let typeValue = envelope["type"] else { throw EventError(field: "type", reason: "missing required field") }
        guard case .string(let typeName) = typeValue else {
            throw EventError(field: "type", reason: "expected a string, got \(typeValue.kindName)")
        }
        guard let type = EventType(rawValue: typeName) else {
            throw EventError(field: "type", reason: "unknown event type '\(typeName)'")
        }
        let customer = try identifier(envelope["customer"], field: "customer")
        let at = try timestamp(envelope["at"], field: "at")
        if let at, at < earliestPlausible || at > latestPlausible {
            throw EventError(field: "at", reason: "implausible timestamp \(at) (accepted: 1970 to a day after the ingest clock)")
        } else if at == nil {
            throw EventError(field: "at", reason: "missing required field")
        }
        var schema = type.currentSchemaVersion
        if let schemaValue = envelope["schema"] {
            guard let n = schemaValue.intValue else {
                throw EventError(field: "schema", reason: "expected an integer, got \(schemaValue.kindName)")
            }
            guard n >= 1, n <= type.currentSchemaVersion else {
                throw EventError(field: "schema",
                                 reason: "unsupported schema version \(n) for \(type.rawValue) (1 to \(type.currentSchemaVersion))")
            }
            schema = n
        }
        var meta: JSONObject?
        if let metaValue = envelope["meta"] {
            guard case .object(let m) = metaValue else {
                throw EventError(field: "meta", reason: "expected an object, got \(metaValue.kindName)")
            }
            meta = m
        }
        guard let dataValue = envelope["data"] else { throw EventError(field: "data", reason: "missing required field") }
        guard case .object(let data) = dataValue else {
            throw EventError(field: "data", reason: "expected an object, got \(dataValue.kindName)")
        }
        let event = Event(id: id, type: type, customer: customer, at: at!, schema: schema, data: data, meta: meta)
        try validateData(of: event)
        return event
    }

    /// Checks `data` against the type's rules, after upcasting it to the current schema version.
    public func validateData(of event: Event) throws(EventError) {
        // Only an old schema is upcast (upcasting copies the event). Field paths are autoclosures,
        // written out only for an error: on the way through they cost a String each.
        let data = event.schema < event.type.currentSchemaVersion ? try Upcaster.upcast(event).data : event.data
        for rule in event.type.dataRules {
            guard let value = data[rule.name] else {
                if rule.required { throw EventError(field: "data.\(rule.name)", reason: "missing required field") }
                continue
            }
            try check(value, as: rule.kind, members: rule.members, field: "data.\(rule.name)", in: data)
        }
    }

    // MARK: - Field checks

    func identifier(_ value: JSONValue?, field: @autoclosure () -> String) throws(EventError) -> String {
        guard let value else { throw EventError(field: field(), reason: "missing required field") }
        guard case .string(let s) = value else {
            throw EventError(field: field(), reason: "expected a string, got \(value.kindName)")
        }
        guard !s.isEmpty else { throw EventError(field: field(), reason: "must not be empty") }
        return s
    }

    func timestamp(_ value: JSONValue?, field: @autoclosure () -> String) throws(EventError) -> Timestamp? {
        guard let value else { return nil }
        guard case .string(let s) = value else {
            throw EventError(field: field(), reason: "expected a string, got \(value.kindName)")
        }
        do {
            return try Timestamp.parse(s)
        } catch {
            throw EventError(field: field(), reason: "not an RFC 3339 timestamp ('\(s)': \(error.message))")
        }
    }

    func check(_ value: JSONValue, as kind: FieldKind, members required: [String] = [], field: @autoclosure () -> String, in data: JSONObject) throws(EventError) {
        func string() throws(EventError) -> String {
            guard case .string(let s) = value else {
                throw EventError(field: field(), reason: "expected a string, got \(value.kindName)")
            }
            return s
        }
        switch kind {
        case .identifier:
            _ = try identifier(value, field: field())
        case .text:
            _ = try string()
        case .amount:
            _ = try amount(value, field: field(), currency: data["currency"]?.stringValue.flatMap(Currency.init(code:)))
        case .currency:
            let code = try string()
            guard Currency(code: code) != nil else {
                throw EventError(field: field(), reason: "unknown currency code '\(code)' (ISO 4217, e.g. EUR)")
            }
        case .rating:
            guard case .number(let text) = value, let n = Int(text) else {
                throw EventError(field: field(), reason: "expected an integer, got \(value.kindName == "a number" ? "a fraction" : value.kindName)")
            }
            guard (1...5).contains(n) else { throw EventError(field: field(), reason: "rating \(n) is outside 1-5") }
        case .timestamp:
            _ = try timestamp(value, field: field())
        case .timestampOrDate:
            let s = try string()
            if CivilDate.parse(s) == nil, (try? Timestamp.parse(s)) == nil {
                throw EventError(field: field(), reason: "not an RFC 3339 timestamp or YYYY-MM-DD date ('\(s)')")
            }
        case .date:
            let s = try string()
            guard s.utf8.count == 10, CivilDate.parse(s) != nil else {
                throw EventError(field: field(), reason: "not a YYYY-MM-DD date ('\(s)')")
            }
        case .birthday:
            let s = try string()
            guard Birthday(s) != nil else { throw EventError(field: field(), reason: "'\(s)' is not YYYY-MM-DD or --MM-DD") }
        case .timeZone:
            let s = try string()
            guard isKnownTimeZone(s) else { throw EventError(field: field(), reason: "unknown time zone '\(s)' (IANA, e.g. Europe/Berlin)") }
        case .consent:
            guard case .object(let channels) = value else {
                throw EventError(field: field(), reason: "expected an object, got \(value.kindName)")
            }
            for member in channels.members where member.value.boolValue == nil {
                throw EventError(field: "\(field()).\(member.key)", reason: "expected true or false, got \(member.value.kindName)")
            }
        case .orderLines, .returnLines:
            guard case .array(let lines) = value else {
                throw EventError(field: field(), reason: "expected an array, got \(value.kindName)")
            }
            let currency = data["currency"]?.stringValue.flatMap(Currency.init(code:))
            for (i, line) in lines.enumerated() {
                func path() -> String { "\(field())[\(i)]" }
                guard case .object(let item) = line else {
                    throw EventError(field: path(), reason: "expected an object, got \(line.kindName)")
                }
                guard let sku = item["sku"] else { throw EventError(field: "\(path()).sku", reason: "missing required field") }
                _ = try identifier(sku, field: "\(path()).sku")
                if let quantity = item["quantity"] {
                    guard let q = quantity.intValue else {
                        throw EventError(field: "\(path()).quantity", reason: "expected an integer, got \(quantity.kindName)")
                    }
                    guard q >= 1 else { throw EventError(field: "\(path()).quantity", reason: "must be at least 1, got \(q)") }
                } else if kind == .orderLines {
                    throw EventError(field: "\(path()).quantity", reason: "missing required field")
                }
                if kind == .orderLines {
                    guard let price = item["price"] else { throw EventError(field: "\(path()).price", reason: "missing required field") }
                    _ = try amount(price, field: "\(path()).price", currency: currency)
                    if let v = item["category"], v.stringValue == nil {
                        throw EventError(field: "\(path()).category", reason: "expected a string, got \(v.kindName)")
                    }
                    if let v = item["name"], v.stringValue == nil {
                        throw EventError(field: "\(path()).name", reason: "expected a string, got \(v.kindName)")
                    }
                }
            }
        case .object:
            guard case .object = value else { throw EventError(field: field(), reason: "expected an object, got \(value.kindName)") }
        case .numbers:
            guard case .object(let members) = value else {
                throw EventError(field: field(), reason: "expected an object, got \(value.kindName)")
            }
            for name in required where members[name] == nil {
                throw EventError(field: "\(field()).\(name)", reason: "missing required field")
            }
            for member in members.members where member.value.doubleValue == nil {
                throw EventError(field: "\(field()).\(member.key)", reason: "expected a number, got \(member.value.kindName)")
            }
        case .number:
            guard case .number = value else { throw EventError(field: field(), reason: "expected a number, got \(value.kindName)") }
        case .integer:
            guard value.intValue != nil else { throw EventError(field: field(), reason: "expected an integer, got \(value.kindName)") }
        case .boolean:
            guard value.boolValue != nil else { throw EventError(field: field(), reason: "expected true or false, got \(value.kindName)") }
        }
    }

    /// Checks a money amount. Decimal places are judged only when the currency is valid: with an
    /// unknown currency the currency field gets the error, not the amount.
    func amount(_ value: JSONValue, field: @autoclosure () -> String, currency: Currency?) throws(EventError) -> Int64? {
        let text: String
        switch value {
        case .number(let t), .string(let t): text = t
        default: throw EventError(field: field(), reason: "expected a number, got \(value.kindName)")
        }
        do {
            return try Money.parseMinorUnits(text, digits: currency?.minorUnitDigits ?? 0)
        } catch .negative {
            throw EventError(field: field(), reason: "must not be negative, got \(text)")
        } catch .notDecimal {
            throw EventError(field: field(), reason: "'\(text)' is not a decimal amount (e.g. 59.80)")
        } catch .tooManyDecimalPlaces(let allowed) {
            guard let currency else { return nil }
            throw EventError(field: field(), reason: "too many decimal places in \(text): \(currency.code) has \(allowed)")
        } catch {
            throw EventError(field: field(), reason: "amount \(text) is too large")
        }
    }
}

/// A birthday: a full date, or a month and day with the year unknown (`--MM-DD`).
public struct Birthday: Sendable, Hashable, CustomStringConvertible {
    public var year: Int?
    public var month: Int
    public var day: Int

    /// A birthday already checked (stored forms).
    public init(year: Int?, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    public init?(_ text: String) {
        if text.hasPrefix("--") {
            let rest = Array(text.utf8.dropFirst(2))
            guard rest.count == 5, rest[2] == UInt8(ascii: "-"),
                  let m = Int(String(decoding: rest[0..<2], as: UTF8.self)),
                  let d = Int(String(decoding: rest[3..<5], as: UTF8.self)),
                  (1...12).contains(m), d >= 1, d <= CivilDate.daysIn(month: m, year: 2000) else { return nil }
            year = nil; month = m; day = d
        } else {
            guard text.utf8.count == 10, let date = CivilDate.parse(text) else { return nil }
            year = date.year; month = date.month; day = date.day
        }
    }

    /// `YYYY-MM-DD`, or `--MM-DD` when the year is unknown.
    public var description: String {
        let monthDay = "-" + pad2(Int64(month)) + "-" + pad2(Int64(day))
        return year.map { CivilDate(year: $0, month: month, day: day).description } ?? "-" + monthDay
    }
}
