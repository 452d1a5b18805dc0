/// Every kind of event the log accepts. The raw values are the public `type` names.
public enum EventType: String, CaseIterable, Sendable, Hashable {
    case customerRegistered = "customer.registered"
    case customerUpdated = "customer.updated"
    case orderPlaced = "order.placed"
    case orderCancelled = "order.cancelled"
    case shipmentDispatched = "shipment.dispatched"
    case shipmentDelivered = "shipment.delivered"
    case shipmentFailed = "shipment.failed"
    case unboxingRecorded = "unboxing.recorded"
    case returnRequested = "return.requested"
    case returnRefunded = "return.refunded"
    case reviewPosted = "review.posted"
    case reviewReplied = "review.replied"
    /// Written by the engine: a customer-value model was fitted (customer `$system`).
    case modelFitted = "model.fitted"
    /// Written by the engine: a next-best-action command was handed to the outside world.
    case actionDispatched = "action.dispatched"
    /// Written by the engine: a due command was held back at hand-off (consent, caps, too late...).
    case actionSuppressed = "action.suppressed"

    /// The schema version new events of this type are written in.
    public var currentSchemaVersion: Int {
        switch self {
        case .customerRegistered, .customerUpdated: 2
        default: 1
        }
    }

    /// The stream that engine-written events belong to.
    public static let systemCustomer = "$system"
}

/// What a data field must hold.
enum FieldKind: Sendable, Equatable {
    /// A non-empty string naming something (order, sku, review...).
    case identifier
    /// Any string.
    case text
    /// A non-negative decimal in major units of the currency in the sibling field `currency`.
    case amount
    case currency
    case rating
    case timestamp
    case timestampOrDate
    case date
    case birthday
    case timeZone
    case consent
    case orderLines
    case returnLines
    case object
    /// An object whose members are all numbers, with at least the named ones.
    case numbers(required: [String])
    case number
    case integer
    case boolean
}

struct FieldRule: Sendable {
    var name: String
    var required: Bool
    var kind: FieldKind
}

extension EventType {
    /// The data fields this type defines, in the order they are checked. Extra fields are kept.
    var dataRules: [FieldRule] {
        func req(_ name: String, _ kind: FieldKind = .identifier) -> FieldRule { FieldRule(name: name, required: true, kind: kind) }
        func opt(_ name: String, _ kind: FieldKind = .text) -> FieldRule { FieldRule(name: name, required: false, kind: kind) }
        switch self {
        case .customerRegistered, .customerUpdated:
            return [opt("email"), opt("name"), opt("birthday", .birthday), opt("timezone", .timeZone), opt("consent", .consent)]
        case .orderPlaced:
            return [req("order"), req("total", .amount), req("currency", .currency), req("lines", .orderLines)]
        case .orderCancelled:
            return [req("order"), opt("reason")]
        case .shipmentDispatched:
            return [req("order"), opt("shipment", .identifier), opt("carrier"), opt("tracking"),
                    opt("estimated_delivery", .timestampOrDate)]
        case .shipmentDelivered:
            return [req("order"), opt("shipment", .identifier)]
        case .shipmentFailed:
            return [req("order"), opt("shipment", .identifier), opt("reason")]
        case .unboxingRecorded:
            return [req("order"), opt("shared_on"), opt("media_url"), opt("rating", .rating)]
        case .returnRequested:
            return [req("order"), req("return"), opt("lines", .returnLines), opt("reason")]
        case .returnRefunded:
            return [req("order"), req("return"), req("amount", .amount), req("currency", .currency)]
        case .reviewPosted:
            return [req("review"), req("sku"), req("rating", .rating), opt("order", .identifier), opt("text")]
        case .reviewReplied:
            return [req("review"), opt("text"), opt("by")]
        case .modelFitted:
            return [req("model"), req("params", .numbers(required: [])), req("log_likelihood", .number), req("calibration_end", .date),
                    req("unit"), req("customers", .integer), req("fingerprint"), opt("spend", .numbers(required: ["p", "q", "gamma"])),
                    opt("iterations", .integer), opt("fit_ms", .number)]
        case .actionDispatched:
            return [req("action"), req("kind"), req("channel"), opt("due", .timestamp)]
        case .actionSuppressed:
            return [req("action"), req("kind"), req("channel"), req("reason", .text), opt("due", .timestamp)]
        }
    }
}
