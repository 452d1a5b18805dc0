/// What a projection folds from an event, in a compact binary form stored beside the event.
///
/// The log keeps each event's JSON exactly as sent; at ingest it also stores these facts: the
/// type, the time and the few data fields the customer fold reads, already upcast to the current
/// schema and with money already in minor units. A rebuild reads the facts and never parses JSON.
/// The facts are derived data: when `formatVersion` changes, the log derives them again from the
/// JSON it keeps (see `EventLog`).
public enum EventFacts {
    /// Bump when the encoding or what it holds changes; stored facts are then derived again.
    /// 1: birthdays as text. 2: birthdays parsed.
    public static let formatVersion = 2

    /// Stable one-byte codes; 0 marks an event the fold ignores (its schema cannot be upcast).
    static func code(_ type: EventType) -> UInt8 {
        switch type {
        case .customerRegistered: 1
        case .customerUpdated: 2
        case .orderPlaced: 3
        case .orderCancelled: 4
        case .shipmentDispatched: 5
        case .shipmentDelivered: 6
        case .shipmentFailed: 7
        case .unboxingRecorded: 8
        case .returnRequested: 9
        case .returnRefunded: 10
        case .reviewPosted: 11
        case .reviewReplied: 12
        case .modelFitted: 13
        case .actionDispatched: 14
        case .actionSuppressed: 15
        case .privacyRequested: 16
        case .customerForgotten: 17
        }
    }

    static let types: [EventType?] = {
        var table = [EventType?](repeating: nil, count: 18)
        for type in EventType.allCases { table[Int(code(type))] = type }
        return table
    }()

    static func type(code: UInt8) -> EventType? { Int(code) < types.count ? types[Int(code)] : nil }

    /// What a reader of facts may need before folding them: the type (nil for an event the fold
    /// ignores), the time and, for an order's placement or cancellation, the order id.
    public struct Header: Sendable, Equatable {
        public var type: EventType?
        public var at: Timestamp
        public var order: String?
    }

    /// The header of one event's facts.
    public static func header(_ facts: UnsafeRawBufferPointer) throws(BinaryDecodingError) -> Header {
        var r = ByteReader(facts)
        return try header(&r)
    }

    /// The header, read from the start of `r`, which is left where the event's own fields begin.
    static func header(_ r: inout ByteReader) throws(BinaryDecodingError) -> Header {
        let code = try r.byte()
        guard code != 0 else { return Header(type: nil, at: Timestamp(millis: 0), order: nil) }
        guard let type = type(code: code) else { throw BinaryDecodingError("unknown event code \(code)") }
        let at = Timestamp(millis: try r.signed(), offsetMinutes: try r.int())
        let order = type == .orderPlaced || type == .orderCancelled ? try r.optionalString() : nil
        return Header(type: type, at: at, order: order)
    }

    /// The facts of one event.
    public static func encode(_ recorded: Event) -> [UInt8] {
        // Only an old schema is upcast: upcasting copies the event.
        let upcast = recorded.schema < recorded.type.currentSchemaVersion ? try? Upcaster.upcast(recorded) : recorded
        guard let event = upcast else { return [0] }
        return facts(type: event.type, at: event.at, data: JSONValue.object(event.data))
    }

    /// The facts of an event in its type's current schema version, from its `data` on a tape.
    public static func encode(type: EventType, at: Timestamp, data: JSONTape.Value) -> [UInt8] {
        facts(type: type, at: at, data: data)
    }

    /// The same facts, appended to `w` (ingest writes them into one buffer it keeps, line to line).
    public static func encode(type: EventType, at: Timestamp, data: JSONTape.Value, into w: inout ByteWriter) {
        facts(type: type, at: at, data: data, into: &w)
    }

    static func facts<V: JSONReading>(type: EventType, at: Timestamp, data: V) -> [UInt8] {
        var w = ByteWriter(capacity: 48)
        facts(type: type, at: at, data: data, into: &w)
        return w.bytes
    }

    static func facts<V: JSONReading>(type: EventType, at: Timestamp, data: V, into w: inout ByteWriter) {
        func text(_ key: MemberName) -> JSONString<V>? { data[member: key]?.storedText }
        w.byte(code(type))
        w.signed(at.millis)
        w.int(at.offsetMinutes)
        switch type {
        case .customerRegistered, .customerUpdated:
            w.optionalString(text("email"))
            w.optionalString(text("name"))
            writeBirthday(text: data[member: "birthday"]?.stringValue, &w)
            w.optionalString(text("timezone"))
            let consent = data[member: "consent"]
            var flags = 0
            consent?.forEachMember { _, consented in if consented.boolValue != nil { flags += 1 } }
            w.unsigned(UInt64(flags))
            consent?.forEachMember { channel, consented in
                guard let consented = consented.boolValue else { return }
                w.string(channel.storedText!)
                w.bool(consented)
            }
        case .orderPlaced:
            let currency = data[member: "currency"]
            let digits = currency.flatMap(Currency.init(named:))?.minorUnitDigits ?? 2
            w.optionalString(text("order"))
            if let code = currency?.storedText { w.string(code) } else { w.string("") }
            w.optionalSigned(data[member: "total"]?.minorUnits(digits: digits))
            // Lines without a SKU are left out (counted first: no filtered copy of the lines).
            let lines = data[member: "lines"]
            var count = 0
            lines?.forEachElement { _, line in if line[member: "sku"]?.kind == .string { count += 1 } }
            w.unsigned(UInt64(count))
            lines?.forEachElement { _, line in
                guard let sku = line[member: "sku"]?.storedText else { return }
                OrderLine.write(sku: sku, quantity: line[member: "quantity"]?.intValue ?? 1,
                                price: line[member: "price"]?.minorUnits(digits: digits) ?? 0,
                                category: line[member: "category"]?.storedText, name: line[member: "name"]?.storedText, &w)
            }
        case .orderCancelled, .shipmentDelivered, .shipmentFailed:
            w.optionalString(text("order"))
        case .shipmentDispatched:
            w.optionalString(text("order"))
            w.optionalString(text("carrier"))
            w.optionalString(text("tracking"))
            w.optionalString(text("estimated_delivery"))
        case .unboxingRecorded:
            w.bool(!(data[member: "shared_on"]?.storedText.map { $0.withStoredUTF8 { $0.isEmpty } } ?? true))
        case .returnRequested:
            w.optionalString(text("return"))
            w.optionalString(text("order"))
        case .returnRefunded:
            let currency = data[member: "currency"]
            w.optionalString(text("return"))
            if let code = currency?.storedText { w.string(code) } else { w.string("") }
            w.optionalSigned(data[member: "amount"]?.minorUnits(digits: currency.flatMap(Currency.init(named:))?.minorUnitDigits ?? 2))
            w.optionalString(text("order"))
        case .reviewPosted:
            w.optionalString(text("review"))
            w.optionalSigned(data[member: "rating"]?.intValue.map(Int64.init))
            w.optionalString(text("sku"))
        case .reviewReplied:
            w.optionalString(text("review"))
        case .modelFitted, .actionDispatched, .actionSuppressed, .privacyRequested, .customerForgotten:
            break
        }
    }

    /// A birthday as the fold reads it, parsed once here: 0 absent, 1 given but not a date (the
    /// fold clears what it knew), 2 followed by year (0 when unknown), month and day.
    /// 3 followed by the text: a birthday sealed at ingest (`PersonalData.isSealed`), kept as it is.
    public static func writeBirthday(text: String?, _ w: inout ByteWriter) {
        guard let text else { return w.byte(0) }
        if PersonalData.isSealed(text) {
            w.byte(3)
            return w.string(text)
        }
        writeBirthday(Birthday(text), &w)
    }

    /// A state's birthday: sealed, else parsed (absent is written as "not a date", as before).
    public static func writeBirthday(_ birthday: Birthday?, sealed: String?, _ w: inout ByteWriter) {
        if let sealed {
            w.byte(3)
            return w.string(sealed)
        }
        writeBirthday(birthday, &w)
    }

    /// What `writeBirthday` wrote.
    public enum StoredBirthday: Sendable, Equatable {
        case absent, notADate, date(Birthday), sealed(String)
    }

    public static func storedBirthday(_ r: inout ByteReader) throws(BinaryDecodingError) -> StoredBirthday {
        switch try r.byte() {
        case 0: return .absent
        case 1: return .notADate
        case 2:
            let year = try r.int()
            return .date(Birthday(year: year == 0 ? nil : year, month: try r.int(), day: try r.int()))
        case 3: return .sealed(try r.string())
        case let tag: throw BinaryDecodingError("unknown birthday tag \(tag)")
        }
    }

    /// A parsed birthday in the same form (nil is written as "not a date").
    public static func writeBirthday(_ birthday: Birthday?, _ w: inout ByteWriter) {
        guard let b = birthday else { return w.byte(1) }
        w.byte(2)
        w.int(b.year ?? 0)
        w.int(b.month)
        w.int(b.day)
    }

    /// Reads what `writeBirthday` wrote: nil when absent, `.some(nil)` when given but not a date.
    public static func birthday(_ r: inout ByteReader) throws(BinaryDecodingError) -> Birthday?? {
        switch try storedBirthday(&r) {
        case .absent: return nil
        case .notADate, .sealed: return .some(nil)
        case .date(let b): return .some(b)
        }
    }
}

/// What an order event tells the fold about the customer's orders and the SKUs they own, read from
/// the event's facts exactly as `CustomerState` reads them (upcast, lines without a SKU left out).
/// For a fold that keeps only that much of a customer, such as the first pass of a reactor run in
/// several passes, which learns the co-purchase counts from every customer of the shop.
public enum OrderFact: Equatable, Sendable {
    /// `order.placed`: its order id and its lines' SKUs, in the order of the lines.
    case placed(order: String, skus: [String])
    /// `order.cancelled`.
    case cancelled(order: String)

    /// Nil for an event of another type, one without an order id, or one the fold ignores.
    public init?(_ event: Event) {
        guard event.type == .orderPlaced || event.type == .orderCancelled else { return nil }
        let facts = EventFacts.encode(event)
        let fact: OrderFact?? = facts.withUnsafeBytes { bytes in
            var r = ByteReader(bytes)
            do {
                let header = try EventFacts.header(&r)
                guard let type = header.type, let order = header.order else { return nil }
                guard type == .orderPlaced else { return .cancelled(order: order) }
                _ = try r.string()
                _ = try r.optionalSigned()
                var skus: [String] = []
                OrderState.forEachItem(in: try OrderState.readEncodedLines(&r)) { sku, _ in skus.append(sku) }
                return .placed(order: order, skus: skus)
            } catch {
                preconditionFailure("facts just encoded do not decode: \(error)")
            }
        }
        guard let fact = fact ?? nil else { return nil }
        self = fact
    }
}
