/// What a platform's message becomes: catalogue envelopes, an acknowledgement without an event,
/// or a rejection that names the field and why.
///
/// The mappings are pure: the same message gives the same envelopes (ids included), so a platform's
/// retries are duplicates in the log. They write envelope text only; the server validates it with
/// the same validator as `aftersale ingest`, so the catalogue's rules live in one place.
public enum MappingResult: Sendable, Equatable {
    case events([MappedEvent])
    /// Acknowledged, not recorded: an unmapped topic or status, and why.
    case ignored(String)
    /// Not recorded: which field of the message (a JSON path such as `line_items[0].price`) and why.
    case rejected(field: String, reason: String)
}

/// One catalogue envelope made from a platform's message.
public struct MappedEvent: Sendable, Equatable {
    /// When the event is appended, given what the log knows of its customer.
    public enum Condition: Sendable, Equatable {
        case always
        /// Only when the log has no event for the customer yet (a `customer.registered` made ahead of
        /// a first order, or for an `identify` of someone new).
        case customerUnknown
        /// Only when the log has the customer already (`customer.updated` for a known customer).
        case customerKnown
    }

    /// The envelope as one line of JSON text: `id`, `type`, `customer`, `at`, `data`, `meta`.
    public var line: String
    public var condition: Condition

    public init(line: String, condition: Condition = .always) {
        self.line = line
        self.condition = condition
    }
}
