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
        // Over the UTF-8 bytes: parts of ASCII letters, digits, `_`, `-` and `+` between slashes,
        // at least two, none empty, the first starting with a capital. (Splitting the text and
        // asking a Character whether it is upper case cost a customer's registration thousands of
        // instructions.)
        var parts = 1
        var partLength = 0
        var first: UInt8?
        for c in name.utf8 {
            if c == 0x2F {
                guard partLength > 0 else { return false }
                parts += 1
                partLength = 0
                continue
            }
            guard (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D || c == 0x2B
            else { return false }
            if first == nil { first = c }
            partLength += 1
        }
        return parts >= 2 && partLength > 0 && first.map { $0 >= 0x41 && $0 <= 0x5A } == true
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
        let envelope = try envelope(json)
        // Checked to be objects.
        let event = Event(id: envelope.id, type: envelope.type, customer: envelope.customer, at: envelope.at,
                          schema: envelope.schema, data: envelope.data.objectValue!, meta: envelope.meta?.objectValue)
        try validateData(of: event)
        return event
    }

    /// Checks an envelope on a tape: each field but `data`'s contents, which `validateData` checks.
    ///
    /// Not generic in public, so that it is compiled for tapes here, not called through witness tables.
    public func validateEnvelope(_ json: JSONTape.Value) throws(EventError) -> Envelope<JSONTape.Value> {
        try envelope(json)
    }

    /// Checks `data` on a tape, in the type's current schema version, against the type's rules.
    public func validateData(_ data: JSONTape.Value, of type: EventType) throws(EventError) {
        try checkData(data, of: type)
    }

    func envelope<V: JSONReading>(_ json: V) throws(EventError) -> Envelope<V> {
        guard json.kind == .object else {
            throw EventError(field: "json", reason: "expected an object, got \(json.kindName)")
        }
        // One pass puts each field in its place (the first of a name counts) and refuses unknown names.
        var idValue, typeValue, customerValue, atValue, dataValue, metaValue, schemaValue: V?
        try json.forEachMember { (name, value) throws(EventError) in
            func keepFirst(_ field: inout V?) { if field == nil { field = value } }
            switch name.withText(EnvelopeField.init(name:)) ?? nil {
            case .id: keepFirst(&idValue)
            case .type: keepFirst(&typeValue)
            case .customer: keepFirst(&customerValue)
            case .at: keepFirst(&atValue)
            case .data: keepFirst(&dataValue)
            case .meta: keepFirst(&metaValue)
            case .schema: keepFirst(&schemaValue)
            case nil:
                throw EventError(field: name.stringValue ?? "", reason: "unknown envelope field (allowed: id, type, customer, at, data, meta, schema)")
            }
        }
        let id = try identifier(idValue, field: "id")
        guard let typeValue else { throw EventError(field: "type", reason: "missing required field") }
        guard typeValue.kind == .string else {
            throw EventError(field: "type", reason: "expected a string, got \(typeValue.kindName)")
        }
        guard let type = typeValue.withText(EventType.init(utf8:)) ?? nil else {
            throw EventError(field: "type", reason: "unknown event type '\(typeValue.stringValue!)'")
        }
        let customer = try identifier(customerValue, field: "customer")
        let at = try timestamp(atValue, field: "at")
        if let at, at < earliestPlausible || at > latestPlausible {
            throw EventError(field: "at", reason: "implausible timestamp \(at) (accepted: 1970 to a day after the ingest clock)")
        } else if at == nil {
            throw EventError(field: "at", reason: "missing required field")
        }
        var schema = type.currentSchemaVersion
        if let schemaValue {
            guard let n = schemaValue.intValue else {
                throw EventError(field: "schema", reason: "expected an integer, got \(schemaValue.kindName)")
            }
            guard n >= 1, n <= type.currentSchemaVersion else {
                throw EventError(field: "schema",
                                 reason: "unsupported schema version \(n) for \(type.rawValue) (1 to \(type.currentSchemaVersion))")
            }
            schema = n
        }
        if let meta = metaValue, meta.kind != .object {
            throw EventError(field: "meta", reason: "expected an object, got \(meta.kindName)")
        }
        guard let data = dataValue else { throw EventError(field: "data", reason: "missing required field") }
        guard data.kind == .object else {
            throw EventError(field: "data", reason: "expected an object, got \(data.kindName)")
        }
        return Envelope(id: id, type: type, customer: customer, at: at!, schema: schema, data: data, meta: metaValue)
    }

    /// Checks `data` against the type's rules, after upcasting it to the current schema version.
    public func validateData(of event: Event) throws(EventError) {
        // Only an old schema is upcast (upcasting copies the event).
        let data = event.schema < event.type.currentSchemaVersion ? try Upcaster.upcast(event).data : event.data
        try checkData(JSONValue.object(data), of: event.type)
    }

    /// Field paths are autoclosures, written out only for an error: on the way through they cost a String each.
    func checkData<V: JSONReading>(_ data: V, of type: EventType) throws(EventError) {
        for rule in type.dataRules {
            guard let value = data[member: rule.name] else {
                if rule.required { throw EventError(field: "data.\(rule.name)", reason: "missing required field") }
                continue
            }
            try check(value, as: rule.kind, members: rule.members, field: "data.\(rule.name)", in: data)
        }
    }

    // MARK: - Field checks

    func identifier<V: JSONReading>(_ value: V?, field: @autoclosure () -> String) throws(EventError) -> String {
        guard let value else { throw EventError(field: field(), reason: "missing required field") }
        try checkIdentifier(value, field: field())
        return value.stringValue!
    }

    /// `identifier` when the value itself is not needed: no String is made on the way through.
    func checkIdentifier<V: JSONReading>(_ value: V, field: @autoclosure () -> String) throws(EventError) {
        guard value.kind == .string, let (empty, excess) = value.withText({ ($0.isEmpty, FieldLimit.identifier.excess($0)) }) else {
            throw EventError(field: field(), reason: "expected a string, got \(value.kindName)")
        }
        guard !empty else { throw EventError(field: field(), reason: "must not be empty") }
        if let excess { throw EventError(field: field(), reason: FieldLimit.identifier.reason(excess)) }
    }

    /// Refuses a string longer than `limit` allows; the caller has checked that it is a string.
    func checkLength<V: JSONReading>(_ value: V, _ limit: FieldLimit, field: @autoclosure () -> String) throws(EventError) {
        if let excess = value.withText(limit.excess) ?? nil { throw EventError(field: field(), reason: limit.reason(excess)) }
    }

    func timestamp<V: JSONReading>(_ value: V?, field: @autoclosure () -> String) throws(EventError) -> Timestamp? {
        guard let value else { return nil }
        guard value.kind == .string else {
            throw EventError(field: field(), reason: "expected a string, got \(value.kindName)")
        }
        do throws(TimestampSyntaxError) {
            return try value.withText { (utf8) throws(TimestampSyntaxError) in try Timestamp.parse(utf8: utf8) }
        } catch {
            throw EventError(field: field(), reason: "not an RFC 3339 timestamp ('\(value.stringValue!)': \(error.message))")
        }
    }

    func check<V: JSONReading>(_ value: V, as kind: FieldKind, members required: [MemberName] = [], field: @autoclosure () -> String, in data: V) throws(EventError) {
        func string() throws(EventError) -> String {
            guard let s = value.stringValue else {
                throw EventError(field: field(), reason: "expected a string, got \(value.kindName)")
            }
            return s
        }
        func mustBeString() throws(EventError) {
            guard value.kind == .string else {
                throw EventError(field: field(), reason: "expected a string, got \(value.kindName)")
            }
        }
        switch kind {
        case .identifier:
            try checkIdentifier(value, field: field())
        case .text:
            try mustBeString()
            try checkLength(value, .text, field: field())
        case .amount:
            _ = try amount(value, field: field(), currency: currency(in: data))
        case .currency:
            try mustBeString()
            guard Currency(named: value) != nil else {
                throw EventError(field: field(), reason: "unknown currency code '\(try string())' (ISO 4217, e.g. EUR)")
            }
        case .rating:
            guard value.kind == .number, let n = value.intValue else {
                throw EventError(field: field(), reason: "expected an integer, got \(value.kind == .number ? "a fraction" : value.kindName)")
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
            try mustBeString()
            try checkLength(value, .identifier, field: field())
            let s = try string()
            guard isKnownTimeZone(s) else { throw EventError(field: field(), reason: "unknown time zone '\(s)' (IANA, e.g. Europe/Berlin)") }
        case .consent:
            guard value.kind == .object else {
                throw EventError(field: field(), reason: "expected an object, got \(value.kindName)")
            }
            try value.forEachMember { (channel, consented) throws(EventError) in
                if let excess = channel.withText(FieldLimit.identifier.excess) ?? nil {
                    throw EventError(field: field(), reason: "a channel name is \(FieldLimit.identifier.reason(excess))")
                }
                guard consented.kind == .bool else {
                    throw EventError(field: "\(field()).\(channel.stringValue!)", reason: "expected true or false, got \(consented.kindName)")
                }
            }
        case .orderLines, .returnLines:
            guard value.kind == .array else {
                throw EventError(field: field(), reason: "expected an array, got \(value.kindName)")
            }
            let currency = currency(in: data)
            try value.forEachElement { (i, line) throws(EventError) in
                func path() -> String { "\(field())[\(i)]" }
                guard line.kind == .object else {
                    throw EventError(field: path(), reason: "expected an object, got \(line.kindName)")
                }
                guard let sku = line[member: "sku"] else { throw EventError(field: "\(path()).sku", reason: "missing required field") }
                try checkIdentifier(sku, field: "\(path()).sku")
                if let quantity = line[member: "quantity"] {
                    guard let q = quantity.intValue else {
                        throw EventError(field: "\(path()).quantity", reason: "expected an integer, got \(quantity.kindName)")
                    }
                    guard q >= 1 else { throw EventError(field: "\(path()).quantity", reason: "must be at least 1, got \(q)") }
                } else if kind == .orderLines {
                    throw EventError(field: "\(path()).quantity", reason: "missing required field")
                }
                if kind == .orderLines {
                    guard let price = line[member: "price"] else { throw EventError(field: "\(path()).price", reason: "missing required field") }
                    _ = try amount(price, field: "\(path()).price", currency: currency)
                    if let v = line[member: "category"] {
                        guard v.kind == .string else { throw EventError(field: "\(path()).category", reason: "expected a string, got \(v.kindName)") }
                        try checkLength(v, .text, field: "\(path()).category")
                    }
                    if let v = line[member: "name"] {
                        guard v.kind == .string else { throw EventError(field: "\(path()).name", reason: "expected a string, got \(v.kindName)") }
                        try checkLength(v, .text, field: "\(path()).name")
                    }
                }
            }
        case .object:
            guard value.kind == .object else { throw EventError(field: field(), reason: "expected an object, got \(value.kindName)") }
        case .numbers:
            guard value.kind == .object else {
                throw EventError(field: field(), reason: "expected an object, got \(value.kindName)")
            }
            for name in required where value[member: name] == nil {
                throw EventError(field: "\(field()).\(name)", reason: "missing required field")
            }
            try value.forEachMember { (name, member) throws(EventError) in
                guard member.doubleValue != nil else {
                    throw EventError(field: "\(field()).\(name.stringValue!)", reason: "expected a number, got \(member.kindName)")
                }
            }
        case .number:
            guard value.kind == .number else { throw EventError(field: field(), reason: "expected a number, got \(value.kindName)") }
        case .integer:
            guard value.intValue != nil else { throw EventError(field: field(), reason: "expected an integer, got \(value.kindName)") }
        case .boolean:
            guard value.boolValue != nil else { throw EventError(field: field(), reason: "expected true or false, got \(value.kindName)") }
        }
    }

    /// The currency named by `data`'s `currency` field, when it is a valid code.
    func currency<V: JSONReading>(in data: V) -> Currency? {
        data[member: "currency"].flatMap(Currency.init(named:))
    }

    /// Checks a money amount. Decimal places are judged only when the currency is valid: with an
    /// unknown currency the currency field gets the error, not the amount.
    func amount<V: JSONReading>(_ value: V, field: @autoclosure () -> String, currency: Currency?) throws(EventError) -> Int64? {
        guard value.kind == .number || value.kind == .string else {
            throw EventError(field: field(), reason: "expected a number, got \(value.kindName)")
        }
        /// The amount as written, for an error.
        func written() -> String { value.withText { String(decoding: $0, as: UTF8.self) } ?? "" }
        do throws(AmountError) {
            return try value.withText { (utf8) throws(AmountError) in
                try Money.parseMinorUnits(utf8: utf8, digits: currency?.minorUnitDigits ?? 0)
            }
        } catch .negative {
            throw EventError(field: field(), reason: "must not be negative, got \(written())")
        } catch .notDecimal {
            throw EventError(field: field(), reason: "'\(written())' is not a decimal amount (e.g. 59.80)")
        } catch .tooManyDecimalPlaces(let allowed) {
            guard let currency else { return nil }
            throw EventError(field: field(), reason: "too many decimal places in \(written()): \(currency.code) has \(allowed)")
        } catch {
            throw EventError(field: field(), reason: "amount \(written()) is too large")
        }
    }
}

/// A validated envelope, its `data` and `meta` still as parsed.
public struct Envelope<Value: JSONReading> {
    public var id: String
    public var type: EventType
    public var customer: String
    public var at: Timestamp
    public var schema: Int
    public var data: Value
    public var meta: Value?
}

/// The envelope's fields.
private enum EnvelopeField {
    case id, type, customer, at, data, meta, schema

    /// The field named `name`, nil when it is none of them.
    init?(name: UnsafeBufferPointer<UInt8>) {
        let field: EnvelopeField? = switch name.count {
        case 2: MemberName("id").matches(name) ? .id : MemberName("at").matches(name) ? .at : nil
        case 4: MemberName("type").matches(name) ? .type : MemberName("data").matches(name) ? .data : MemberName("meta").matches(name) ? .meta : nil
        case 6: MemberName("schema").matches(name) ? .schema : nil
        case 8: MemberName("customer").matches(name) ? .customer : nil
        default: nil
        }
        guard let field else { return nil }
        self = field
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
