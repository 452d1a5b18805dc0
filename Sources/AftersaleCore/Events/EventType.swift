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
    /// A privacy request about the customer came in (Shopify's `customers/data_request`,
    /// `customers/redact`, `shop/redact`): recorded, acted on by erasure; no fold or policy reads it.
    case privacyRequested = "privacy.requested"
    /// The customer's personal data was erased (`aftersale forget`, a redact request): their data
    /// key is deleted, so what the log holds sealed for them can no longer be read.
    case customerForgotten = "customer.forgotten"

    /// The type of this name.
    public init?(rawValue: String) {
        var name = rawValue
        guard let type = name.withUTF8(EventType.init(utf8:)) else { return nil }
        self = type
    }

    /// The type named by these UTF-8 bytes, read off an ingested line without making a String.
    ///
    /// The initializer Swift would write compares a String with each case's name in turn, for every
    /// event the ingest decodes; this compares lengths first.
    public init?(utf8 name: UnsafeBufferPointer<UInt8>) {
        for (type, bytes) in EventType.names where bytes.withUnsafeBufferPointer({ sameBytes($0, name) }) {
            self = type
            return
        }
        return nil
    }

    private static let names = allCases.map { ($0, Array($0.rawValue.utf8)) }

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

/// What a data field must hold. No payloads: a switch over a kind with one copies it per case tried.
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
    /// An object whose members are all numbers, with at least those the rule names (`members`).
    case numbers
    case number
    case integer
    case boolean
}

struct FieldRule: Sendable {
    var name: MemberName
    var required: Bool
    var kind: FieldKind
    /// For `.numbers`: the members the object must have.
    var members: [MemberName] = []
}

extension EventType {
    /// The data fields this type defines, in the order they are checked. Extra fields are kept.
    var dataRules: [FieldRule] {
        switch self {
        case .customerRegistered, .customerUpdated: DataRules.customer
        case .orderPlaced: DataRules.orderPlaced
        case .orderCancelled: DataRules.orderCancelled
        case .shipmentDispatched: DataRules.shipmentDispatched
        case .shipmentDelivered: DataRules.shipmentDelivered
        case .shipmentFailed: DataRules.shipmentFailed
        case .unboxingRecorded: DataRules.unboxingRecorded
        case .returnRequested: DataRules.returnRequested
        case .returnRefunded: DataRules.returnRefunded
        case .reviewPosted: DataRules.reviewPosted
        case .reviewReplied: DataRules.reviewReplied
        case .modelFitted: DataRules.modelFitted
        case .actionDispatched: DataRules.actionDispatched
        case .actionSuppressed: DataRules.actionSuppressed
        case .privacyRequested: DataRules.privacyRequested
        case .customerForgotten: DataRules.customerForgotten
        }
    }
}

/// Each type's data rules, built once (validation reads them for every event).
private enum DataRules {
    static func req(_ name: MemberName, _ kind: FieldKind = .identifier) -> FieldRule { FieldRule(name: name, required: true, kind: kind) }
    static func opt(_ name: MemberName, _ kind: FieldKind = .text) -> FieldRule { FieldRule(name: name, required: false, kind: kind) }
    static func opt(_ name: MemberName, numbersWith members: [MemberName]) -> FieldRule {
        FieldRule(name: name, required: false, kind: .numbers, members: members)
    }

    static let customer = [opt("email"), opt("name"), opt("birthday", .birthday), opt("timezone", .timeZone), opt("consent", .consent)]
    static let orderPlaced = [req("order"), req("total", .amount), req("currency", .currency), req("lines", .orderLines)]
    static let orderCancelled = [req("order"), opt("reason")]
    static let shipmentDispatched = [req("order"), opt("shipment", .identifier), opt("carrier"), opt("tracking"),
        opt("estimated_delivery", .timestampOrDate)]
    static let shipmentDelivered = [req("order"), opt("shipment", .identifier)]
    static let shipmentFailed = [req("order"), opt("shipment", .identifier), opt("reason")]
    static let unboxingRecorded = [req("order"), opt("shared_on"), opt("media_url"), opt("rating", .rating)]
    static let returnRequested = [req("order"), req("return"), opt("lines", .returnLines), opt("reason")]
    static let returnRefunded = [req("order"), req("return"), req("amount", .amount), req("currency", .currency)]
    static let reviewPosted = [req("review"), req("sku"), req("rating", .rating), opt("order", .identifier), opt("text")]
    static let reviewReplied = [req("review"), opt("text"), opt("by")]
    static let modelFitted = [req("model"), req("params", .numbers), req("log_likelihood", .number), req("calibration_end", .date),
        req("unit"), req("customers", .integer), req("fingerprint"), opt("spend", numbersWith: ["p", "q", "gamma"]),
        opt("iterations", .integer), opt("fit_ms", .number)]
    static let actionDispatched = [req("action"), req("kind"), req("channel"), opt("due", .timestamp)]
    static let actionSuppressed = [req("action"), req("kind"), req("channel"), req("reason", .text), opt("due", .timestamp)]
    static let privacyRequested = [req("request"), opt("source")]
    static let customerForgotten = [opt("reason"), opt("request", .identifier)]
}
