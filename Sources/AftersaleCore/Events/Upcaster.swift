/// Brings an event written in an older schema version up to its type's current version.
///
/// The log stores events exactly as they were sent, with their schema version; readers upcast on
/// the way out, one step at a time (N to N+1), so old events never have to be rewritten.
/// To change an event's shape: bump `EventType.currentSchemaVersion`, add one step here, and add
/// the old shape's examples to `events/`.
public enum Upcaster {
    /// One step: the data of version `from` becomes the data of version `from + 1`.
    struct Step: Sendable {
        var type: EventType
        var from: Int
        var transform: @Sendable (JSONObject) throws(EventError) -> JSONObject
    }

    static let steps: [Step] = [
        // customer.* v1 -> v2: consent was an array of the channels consented to; now an object
        // channel -> Bool, with the known channels not listed explicitly false.
        Step(type: .customerRegistered, from: 1, transform: consentListToFlags),
        Step(type: .customerUpdated, from: 1, transform: consentListToFlags),
    ]

    /// The channels a consent list of schema version 1 could name.
    public static let knownConsentChannels = ["email", "sms", "push"]

    @Sendable static func consentListToFlags(_ data: JSONObject) throws(EventError) -> JSONObject {
        var data = data
        guard let consent = data["consent"] else { return data }
        guard case .array(let listed) = consent else {
            throw EventError(field: "data.consent", reason: "expected an array in schema version 1, got \(consent.kindName)")
        }
        var flags = JSONObject()
        var names: [String] = []
        for (i, channel) in listed.enumerated() {
            guard case .string(let name) = channel, !name.isEmpty else {
                throw EventError(field: "data.consent[\(i)]", reason: "expected a string, got \(channel.kindName)")
            }
            names.append(name)
        }
        for name in knownConsentChannels { flags[name] = .bool(names.contains(name)) }
        for name in names where !knownConsentChannels.contains(name) { flags[name] = .bool(true) }
        data["consent"] = .object(flags)
        return data
    }

    /// The event with its data in the current schema version of its type.
    public static func upcast(_ event: Event) throws(EventError) -> Event {
        var event = event
        while event.schema < event.type.currentSchemaVersion {
            guard let step = steps.first(where: { $0.type == event.type && $0.from == event.schema }) else {
                throw EventError(field: "schema", reason: "unsupported schema version \(event.schema): no upcaster for \(event.type.rawValue)")
            }
            event.data = try step.transform(event.data)
            event.schema += 1
        }
        return event
    }
}
