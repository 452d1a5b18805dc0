public import AftersaleCore
internal import AftersaleOutbox
internal import AftersaleProjections
internal import AftersaleReactor
public import AftersaleStore

/// Everything the database holds about one person, as one JSON object: what a shop hands over for
/// an access request (GDPR art. 15, Shopify's `customers/data_request`).
///
/// Holds: the profile (personal values opened), every event of theirs with its data as sent
/// (personal values opened, or named under `erased` once forgotten), and every command the
/// reactor made for them. Nil when the log has no events of theirs.
public enum PersonalDataReport {
    public static func json(of customer: String, from log: EventLog) throws -> String? {
        // As a profile does: the read model's row and this customer's events it has not folded yet,
        // on one snapshot, writing nothing.
        guard let (sealed, recordedEvents) = try CustomerProjection(log: log).current(customer) else { return nil }
        let (state, status) = sealed.revealingPersonalData(with: log.vault)
        var profile = JSONObject()
        profile["email"] = state.email.map(JSONValue.string) ?? .null
        profile["name"] = state.name.map(JSONValue.string) ?? .null
        profile["birthday"] = state.birthday.map { .string($0.description) } ?? .null
        profile["timezone"] = state.timeZone.map(JSONValue.string) ?? .null
        profile["consent"] = .object(JSONObject(state.consent.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .bool($0.value)) }))
        profile["registered"] = state.registeredAt.map { .string($0.rfc3339WithOffset) } ?? .null
        profile["forgotten"] = state.forgottenAt.map { .string($0.rfc3339WithOffset) } ?? .null

        var events: [JSONValue] = []
        for recorded in recordedEvents {
            let (event, erased, unavailable) = PersonalDataVault.reveal(recorded.event, with: log.vault)
            var line = (try? JSONParser.parse(event.jsonLine).objectValue) ?? JSONObject()
            line["position"] = .integer(Int(recorded.position))
            if !erased.isEmpty { line["erased"] = .array(erased.map(JSONValue.string)) }
            if !unavailable.isEmpty { line["unavailable"] = .array(unavailable.map(JSONValue.string)) }
            events.append(.object(line))
        }
        var commands: [JSONValue] = []
        for command in try ReactorStore(log: log, parallelism: 1).commands(customer: customer) {
            commands.append((try? JSONParser.parse(command.jsonText())) ?? .null)
        }
        var o = JSONObject()
        o["customer"] = .string(customer)
        o["personal_data"] = .string(status.rawValue)
        o["profile"] = .object(profile)
        o["events"] = .array(events)
        o["commands"] = .array(commands)
        return JSONValue.object(o).compactText
    }
}
