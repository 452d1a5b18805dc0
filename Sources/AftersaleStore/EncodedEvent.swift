public import AftersaleCore

/// An event ready to be written: its data already in canonical text.
///
/// Encoding is pure work; the ingest pipeline does it on a thread other than the writer's.
public struct EncodedEvent: Sendable, Equatable {
    public var id: String
    public var type: EventType
    public var customer: String
    public var at: Timestamp
    public var schema: Int
    /// Set by `PersonalDataVault.seal`: its personal data is sealed (or it has none), so a later
    /// seal (the append's) passes it by without looking.
    public var personalDataSealed = false
    /// `data`'s UTF-8, then `meta`'s, then the facts: one buffer, so that an event is one
    /// allocation, not three (ingest makes one per line on its reading thread and frees it there;
    /// making and freeing the three was about a tenth of that thread).
    private var texts: [UInt8]
    private var dataCount: Int
    /// -1: no `meta`.
    private var metaCount: Int

    /// JSON of `data`: canonical (sorted keys) when encoded from an `Event`, or exactly as sent.
    /// Identity is judged on the canonical form either way.
    public var data: String {
        get { withTexts { data, _, _ in String(decoding: data, as: UTF8.self) } }
        set { self = EncodedEvent(copying: self, data: newValue, meta: meta, facts: facts) }
    }

    /// Compact JSON of `meta`, or nil.
    public var meta: String? {
        get { withTexts { _, meta, _ in meta.map { String(decoding: $0, as: UTF8.self) } } }
        set { self = EncodedEvent(copying: self, data: data, meta: newValue, facts: facts) }
    }

    /// What projections fold (`EventFacts`), stored beside the event so a rebuild never parses JSON.
    public var facts: [UInt8] {
        get { withTexts { _, _, facts in Array(facts) } }
        set { self = EncodedEvent(copying: self, data: data, meta: meta, facts: newValue) }
    }

    /// The order an order's placement is about (`data.order`), read off the facts rather than by
    /// parsing the data; nil for another type, or without one.
    public var placedOrder: String? {
        guard type == .orderPlaced else { return nil }
        if let header = try? withTexts({ _, _, facts throws(BinaryDecodingError) in try EventFacts.header(facts) }), header.type == .orderPlaced {
            return header.order
        }
        return (try? JSONParser.parse(data))?["order"]?.stringValue
    }

    /// The UTF-8 of `data` and of `meta` (nil for none), and the facts, where they are.
    public func withTexts<R, E: Error>(_ body: (_ data: UnsafeRawBufferPointer, _ meta: UnsafeRawBufferPointer?,
                                                _ facts: UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let (dataCount, metaCount) = (self.dataCount, self.metaCount)
        let result: Result<R, E> = texts.withUnsafeBytes { texts in
            let metaEnd = dataCount + max(metaCount, 0)
            do throws(E) {
                return .success(try body(UnsafeRawBufferPointer(rebasing: texts[0..<dataCount]),
                                         metaCount < 0 ? nil : UnsafeRawBufferPointer(rebasing: texts[dataCount..<metaEnd]),
                                         UnsafeRawBufferPointer(rebasing: texts[metaEnd...])))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// `data`'s UTF-8 then `meta`'s, back to back, as the writer copies them for its statement.
    var dataAndMetaUTF8: ArraySlice<UInt8> { texts[0..<(dataCount + max(metaCount, 0))] }
    /// The facts' bytes.
    var factsBytes: ArraySlice<UInt8> { texts[(dataCount + max(metaCount, 0))...] }

    /// The byte length of `data`'s UTF-8.
    public var dataUTF8Count: Int { dataCount }
    /// The byte length of `meta`'s UTF-8, nil for none.
    public var metaUTF8Count: Int? { metaCount < 0 ? nil : metaCount }

    public init(_ event: Event) {
        self.init(event, dataText: JSONValue.object(event.data).canonicalText, metaText: event.meta.map { JSONValue.object($0).compactText })
    }

    /// An event from its parts, as ingest validates them off a line: `data` and `meta` as sent.
    public init(id: String, type: EventType, customer: String, at: Timestamp, schema: Int, data: String, meta: String?, facts: [UInt8]) {
        var (data, meta) = (data, meta)
        let metaCount = meta?.utf8.count ?? -1
        var texts: [UInt8] = []
        texts.reserveCapacity(data.utf8.count + max(metaCount, 0) + facts.count)
        data.withUTF8 { texts.append(contentsOf: $0) }
        meta?.withUTF8 { texts.append(contentsOf: $0) }
        texts.append(contentsOf: facts)
        self.init(id: id, type: type, customer: customer, at: at, schema: schema, texts: texts, dataCount: data.utf8.count, metaCount: metaCount)
    }

    /// An event from its parts as bytes: `data`'s and `meta`'s UTF-8 (already validated JSON
    /// objects, as sent) and its facts, copied into the event's one buffer.
    public init(id: String, type: EventType, customer: String, at: Timestamp, schema: Int,
                dataUTF8: UnsafeBufferPointer<UInt8>, metaUTF8: UnsafeBufferPointer<UInt8>?, facts: UnsafeRawBufferPointer) {
        let metaCount = metaUTF8?.count ?? -1
        let texts = [UInt8](unsafeUninitializedCapacity: dataUTF8.count + max(metaCount, 0) + facts.count) { buffer, count in
            var offset = 0
            func copy(_ part: UnsafeRawBufferPointer) {
                guard let base = part.baseAddress, part.count > 0 else { return }
                UnsafeMutableRawPointer(buffer.baseAddress! + offset).copyMemory(from: base, byteCount: part.count)
                offset += part.count
            }
            copy(UnsafeRawBufferPointer(dataUTF8))
            if let metaUTF8 { copy(UnsafeRawBufferPointer(metaUTF8)) }
            copy(facts)
            count = offset
        }
        self.init(id: id, type: type, customer: customer, at: at, schema: schema, texts: texts, dataCount: dataUTF8.count, metaCount: metaCount)
    }

    /// An event whose `data` and `meta` text are taken as they were sent (already validated JSON objects).
    public init(_ event: Event, dataText: String, metaText: String?) {
        self.init(id: event.id, type: event.type, customer: event.customer, at: event.at, schema: event.schema,
                  data: dataText, meta: metaText, facts: EventFacts.encode(event))
    }

    private init(id: String, type: EventType, customer: String, at: Timestamp, schema: Int, texts: [UInt8], dataCount: Int, metaCount: Int) {
        self.id = id
        self.type = type
        self.customer = customer
        self.at = at
        self.schema = schema
        self.texts = texts
        self.dataCount = dataCount
        self.metaCount = metaCount
    }

    private init(copying event: EncodedEvent, data: String, meta: String?, facts: [UInt8]) {
        self.init(id: event.id, type: event.type, customer: event.customer, at: event.at, schema: event.schema,
                  data: data, meta: meta, facts: facts)
    }

    /// The event as one NDJSON line in the catalogue's envelope, equivalent to what was sent.
    public var jsonLine: String {
        var line = "{\"id\":" + JSONValue.quoted(id) + ",\"type\":\"" + type.rawValue + "\",\"customer\":" + JSONValue.quoted(customer)
        line += ",\"at\":\"" + at.rfc3339WithOffset + "\""
        if schema != type.currentSchemaVersion { line += ",\"schema\":\(schema)" }
        line += ",\"data\":" + data
        if let meta { line += ",\"meta\":" + meta }
        return line + "}"
    }
}
