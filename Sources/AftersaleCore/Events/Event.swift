/// One immutable fact in the log, as the sender described it.
public struct Event: Sendable, Equatable {
    /// The sender's unique id: the idempotency key.
    public var id: String
    public var type: EventType
    /// The customer's id: the stream this event belongs to.
    public var customer: String
    /// When it happened (not when it was recorded).
    public var at: Timestamp
    /// The schema version `data` is written in.
    public var schema: Int
    public var data: JSONObject
    /// Free-form: source, correlation and causation ids. Not part of the event's identity.
    public var meta: JSONObject?

    public init(id: String, type: EventType, customer: String, at: Timestamp, schema: Int? = nil,
                data: JSONObject, meta: JSONObject? = nil) {
        self.id = id
        self.type = type
        self.customer = customer
        self.at = at
        self.schema = schema ?? type.currentSchemaVersion
        self.data = data
        self.meta = meta
    }

    /// The envelope as one NDJSON line (keys in catalogue order, `at` with the sender's offset).
    public var jsonLine: String {
        var object = JSONObject([
            "id": .string(id), "type": .string(type.rawValue), "customer": .string(customer),
            "at": .string(at.rfc3339WithOffset),
        ])
        if schema != type.currentSchemaVersion { object["schema"] = .integer(schema) }
        object["data"] = .object(data)
        if let meta { object["meta"] = .object(meta) }
        return JSONValue.object(object).compactText
    }
}

/// Why an event was refused: which field, and why, in words.
public struct EventError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A path such as `at`, `data.total` or `data.lines[1].quantity`; `json` for a syntax error.
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}
