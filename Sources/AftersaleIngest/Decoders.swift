public import AftersaleCore
public import AftersaleStore

/// What one input line became.
enum DecodedLine: Sendable {
    case event(EncodedEvent)
    case rejected(EventError)
    /// A blank line, a `#` comment, or a CSV header.
    case skipped
}

/// A line format: NDJSON events or an analyst's transactions CSV.
protocol LineDecoder {
    mutating func decode(_ line: UnsafeBufferPointer<UInt8>, number: Int) -> DecodedLine
}

/// True for blank lines and `#` comments, which both formats skip.
func isBlankOrComment(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
    for byte in line {
        switch byte {
        case 0x20, 0x09: continue
        case UInt8(ascii: "#"): return true
        default: return false
        }
    }
    return true
}

/// One event per line, in the catalogue's envelope: what `aftersale ingest` does to each line.
public struct NDJSONDecoder: LineDecoder {
    let validator: EventValidator
    /// Each line is parsed onto this tape, kept from line to line.
    var tape = JSONTape()
    /// Each line's facts are written here, then copied into its event with its data and meta. A
    /// copy of the decoder shares it, which is safe on one thread: each line empties it first.
    let facts = FactsBuffer()

    final class FactsBuffer {
        var writer = ByteWriter(capacity: 1024)
    }

    public init(validator: EventValidator) { self.validator = validator }

    mutating func decode(_ line: UnsafeBufferPointer<UInt8>, number: Int) -> DecodedLine {
        do {
            guard let event = try encode(line) else { return .skipped }
            return .event(event)
        } catch {
            return .rejected(error)
        }
    }

    /// The line as an event ready to append; nil for a blank line or a `#` comment.
    ///
    /// `data` and `meta` are kept as sent: writing them again was a quarter of the decoding time.
    public mutating func encode(_ line: UnsafeBufferPointer<UInt8>) throws(EventError) -> EncodedEvent? {
        if isBlankOrComment(line) { return nil }
        let (validator, facts) = (self.validator, self.facts)
        do throws(JSONTapeError<EventError>) {
            return try tape.parse(line) { (root) throws(EventError) -> EncodedEvent in
                let envelope = try validator.validateEnvelope(root)
                let data = envelope.data
                guard envelope.schema == envelope.type.currentSchemaVersion else {
                    // An old schema is upcast, which works on a tree: only data's is needed. The
                    // tape has read it as an object already, with the same grammar.
                    let tree: JSONObject
                    do throws(JSONSyntaxError) {
                        tree = try JSONParser.parse(UnsafeBufferPointer(rebasing: line[data.range])).objectValue ?? JSONObject()
                    } catch {
                        throw EventError(field: "json", reason: error.description)
                    }
                    let event = Event(id: envelope.id, type: envelope.type, customer: envelope.customer, at: envelope.at,
                                      schema: envelope.schema, data: tree)
                    try validator.validateData(of: event)
                    return EncodedEvent(event, dataText: data.text, metaText: envelope.meta?.text)
                }
                try validator.validateData(data, of: envelope.type)
                facts.writer.removeAll()
                EventFacts.encode(type: envelope.type, at: envelope.at, data: data, into: &facts.writer)
                // `data` and `meta` are kept as sent: their bytes in the line.
                return facts.writer.withUnsafeBytes { facts in
                    EncodedEvent(id: envelope.id, type: envelope.type, customer: envelope.customer, at: envelope.at, schema: envelope.schema,
                                 dataUTF8: UnsafeBufferPointer(rebasing: line[data.range]),
                                 metaUTF8: envelope.meta.map { UnsafeBufferPointer(rebasing: line[$0.range]) }, facts: facts)
                }
            }
        } catch {
            switch error {
            case .syntax(let error): throw EventError(field: "json", reason: error.description)
            case .body(let error): throw error
            }
        }
    }
}

/// `customer_id,date,amount[,order_id][,currency]`: each row an `order.placed` with a deterministic id.
///
/// The id hashes the row's content and how many identical rows came before it in the file, so the
/// same file imported twice appends nothing the second time, while identical rows within one file
/// stay separate purchases. Numbering identical rows costs 12 bytes per distinct row.
struct TransactionsDecoder: LineDecoder {
    let validator: EventValidator
    let defaultCurrency: String?
    private var columns: [String: Int] = [:]
    private var columnCount = 0
    private var seen: [UInt64: UInt32] = [:]
    private(set) var header: String?

    static let required = ["customer_id", "date", "amount"]
    static let optional = ["order_id", "currency"]

    init(validator: EventValidator, defaultCurrency: String?) {
        self.validator = validator
        self.defaultCurrency = defaultCurrency
    }

    /// Reads the header row; a header that cannot be used stops the file.
    mutating func readHeader(_ line: UnsafeBufferPointer<UInt8>, file: String, number: Int) throws(IngestError) {
        let text = String(decoding: line, as: UTF8.self)
        guard let names = CSV.split(text) else { throw IngestError("\(file):\(number): header: unterminated quote") }
        for (i, raw) in names.enumerated() {
            let name = raw.trimmingSpaces.lowercased()
            guard TransactionsDecoder.required.contains(name) || TransactionsDecoder.optional.contains(name) else {
                throw IngestError("\(file):\(number): header: unknown column '\(raw)' (expected customer_id,date,amount and optionally order_id,currency)")
            }
            guard columns[name] == nil else { throw IngestError("\(file):\(number): header: column '\(name)' appears twice") }
            columns[name] = i
        }
        for name in TransactionsDecoder.required where columns[name] == nil {
            throw IngestError("\(file):\(number): header: missing column '\(name)' (expected customer_id,date,amount and optionally order_id,currency)")
        }
        if columns["currency"] == nil, defaultCurrency == nil {
            throw IngestError("\(file):\(number): header: no currency column; say which currency the amounts are in with --currency CODE")
        }
        columnCount = names.count
        header = text
    }

    var hasHeader: Bool { header != nil }

    /// Envelope field names mapped back to the CSV's own column names, for errors.
    static let fieldNames = ["customer": "customer_id", "at": "date", "data.total": "amount",
                             "data.currency": "currency", "data.order": "order_id", "id": "order_id"]

    mutating func decode(_ line: UnsafeBufferPointer<UInt8>, number: Int) -> DecodedLine {
        if isBlankOrComment(line) { return .skipped }
        let text = String(decoding: line, as: UTF8.self)
        guard let fields = CSV.split(text) else { return .rejected(EventError(field: "row", reason: "unterminated quote")) }
        guard fields.count == columnCount else {
            return .rejected(EventError(field: "row", reason: "expected \(columnCount) fields as in the header, got \(fields.count)"))
        }
        func field(_ name: String) -> String? { columns[name].map { fields[$0].trimmingSpaces } }
        let customer = field("customer_id") ?? ""
        let dateText = field("date") ?? ""
        let amount = field("amount") ?? ""
        let currency = field("currency").flatMap { $0.isEmpty ? nil : $0 } ?? defaultCurrency ?? ""
        let orderID = field("order_id").flatMap { $0.isEmpty ? nil : $0 }
        guard let date = CivilDate.parse(dateText) else {
            return .rejected(EventError(field: "date", reason: "'\(dateText)' is not YYYY-MM-DD or YYYYMMDD"))
        }
        // Identical rows are numbered in file order; the number is part of the id.
        let key = [customer, date.description, amount, currency, orderID ?? ""].joined(separator: "\u{1F}")
        let rowHash = StableHash.fnv64(key)
        let occurrence = seen[rowHash, default: 0]
        seen[rowHash] = occurrence + 1
        let id = "txn-" + StableHash.fnv128Hex(key + "\u{1F}\(occurrence)")
        let envelope = JSONValue.object(JSONObject([
            "id": .string(id), "type": .string(EventType.orderPlaced.rawValue), "customer": .string(customer),
            "at": .string(date.startOfDayUTC.description),
            "data": .object(JSONObject([
                "order": .string(orderID ?? id), "total": .string(amount), "currency": .string(currency), "lines": .array([]),
            ])),
            "meta": .object(JSONObject(["source": .string("transactions-csv")])),
        ]))
        do {
            return .event(EncodedEvent(try validator.validate(envelope)))
        } catch {
            var error = error
            error.field = TransactionsDecoder.fieldNames[error.field] ?? error.field
            return .rejected(error)
        }
    }
}

/// RFC 4180 field splitting for one line.
enum CSV {
    /// The fields of one line, or nil when a quote is not closed.
    static func split(_ line: String) -> [String]? {
        var fields: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var bytes = Array(line.utf8).makeIterator()
        var pendingQuote = false
        while let byte = bytes.next() {
            if inQuotes {
                if pendingQuote {
                    pendingQuote = false
                    if byte == UInt8(ascii: "\"") { field.append(byte); continue }
                    inQuotes = false
                } else if byte == UInt8(ascii: "\"") {
                    pendingQuote = true
                    continue
                } else {
                    field.append(byte)
                    continue
                }
            }
            switch byte {
            case UInt8(ascii: ","):
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
            case UInt8(ascii: "\"") where field.allSatisfy({ $0 == 0x20 }):
                field.removeAll()
                inQuotes = true
            default:
                field.append(byte)
            }
        }
        if inQuotes && !pendingQuote { return nil }
        fields.append(String(decoding: field, as: UTF8.self))
        return fields
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

