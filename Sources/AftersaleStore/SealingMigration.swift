public import AftersaleCore
internal import AftersaleSQLite

/// What sealing a log's existing personal data did.
public struct SealingSummary: Sendable, Equatable {
    /// Events whose data was rewritten with their personal values sealed.
    public var events = 0
    /// Stored customer states (read model rows, reactor states) whose profile was replaced by its sealed form.
    public var states = 0
    /// Queued webhook bodies sealed.
    public var deliveries = 0
}

/// The one-time migration of a log written before personal data was sealed.
///
/// It is the one place where the log's rows are rewritten: an append-only log that kept personal
/// data in clear could never forget it, and keeping both forms would keep the clear one. Each
/// event keeps its id, position, time and every clear field; only its personal values change form,
/// and its facts are derived again from the new form. Derived copies (the customers read model,
/// the reactor's states, queued webhook bodies) are rewritten too; freed and overwritten space is
/// zeroed and the write-ahead log emptied at the end. Each chunk commits on its own: a crash
/// leaves whole chunks, and the next run goes on from where the last sealed value is.
extension EventLog {
    /// Whether the log holds events written before sealing (and a vault that can seal them is attached).
    public func needsSealingMigration() throws -> Bool {
        guard let vault, vault.problem == nil, !database.isReadOnly, try !holdsSealedData() else { return false }
        return try database.scalarInt("SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1)") == 1
    }

    /// Seals every personal value stored in clear (see `PersonalData.members`), then marks the log.
    public func sealPersonalDataInPlace(chunk: Int = 5_000, progress: (_ done: Int64, _ head: Int64) -> Void = { _, _ in }) throws -> SealingSummary {
        guard let vault, vault.problem == nil else {
            throw StoreError(.personalDataUnavailable, "cannot seal personal data: \(vault?.problem ?? "no key vault is attached")")
        }
        var summary = SealingSummary()
        let types = EventType.allCases.filter { !PersonalData.members(of: $0).isEmpty }
        let head = try self.head()
        try database.execute("PRAGMA secure_delete=ON")
        defer { try? database.execute("PRAGMA secure_delete=FAST") }
        var after: Int64 = 0
        while true {
            let select = try database.prepare("""
                SELECT position, id, type, customer, version, at, at_offset, schema, data FROM events
                WHERE position > ?1 AND type IN (\(types.map { "'\($0.rawValue)'" }.joined(separator: ","))) AND customer != ?3
                ORDER BY position LIMIT ?2
                """)
            try select.bind([.int(after), .int(Int64(chunk)), .text(EventType.systemCustomer)])
            var rows: [(position: Int64, version: Int64, event: EncodedEvent)] = []
            while try select.step() {
                guard let type = EventType(rawValue: select.text(2) ?? "") else { continue }
                let event = EncodedEvent(id: select.text(1) ?? "", type: type, customer: select.text(3) ?? "",
                                         at: Timestamp(millis: select.int64(5), offsetMinutes: select.int(6)), schema: select.int(7),
                                         data: select.text(8) ?? "{}", meta: nil, facts: [])
                rows.append((select.int64(0), select.int64(4), event))
            }
            guard let last = rows.last else { break }
            after = last.position
            // Keys are made (and kept) before the chunk's rewrite commits.
            let sealed = try vault.seal(rows.map(\.event))
            try database.inTransaction {
                for (row, event) in zip(rows, sealed) where event.data != row.event.data {
                    try database.cached("UPDATE events SET data = ?1 WHERE position = ?2").run([.text(event.data), .int(row.position)])
                    summary.events += 1
                    // Only a registration's or an update's facts hold personal values (the others'
                    // stay as they are: what is read here carries none to pass on).
                    guard event.type == .customerRegistered || event.type == .customerUpdated else { continue }
                    let facts = database.cached
                    let update = try facts("UPDATE stream_facts SET facts = ?1 WHERE stream = (SELECT stream FROM streams WHERE customer = ?2) AND version = ?3")
                    update.bind(bytes: event.facts, at: 1)
                    update.bind(event.customer, at: 2)
                    update.bind(row.version, at: 3)
                    _ = try update.step()
                    update.reset()
                }
            }
            progress(after, head)
        }
        try database.inTransaction {
            for table in ["customers", "reactor_customers"] where try database.tableExists(table) {
                summary.states += try resealProfiles(in: table)
            }
            if try database.tableExists("deliveries") { summary.deliveries += try sealDeliveryBodies(vault) }
            try markSealed()
        }
        try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return summary
    }

    /// Replaces the profile (email, name, birthday) of every stored state that holds one in clear
    /// by the sealed one, folded from the customer's profile events as they are now.
    private func resealProfiles(in table: String) throws -> Int {
        let select = try database.prepare("SELECT customer, state FROM \(table)")
        var changed: [(String, [UInt8])] = []
        while try select.step() {
            let customer = select.text(0) ?? ""
            var state = try select.withBytes(1) { try CustomerStateBinaryCodec.decode(UnsafeRawBufferPointer($0)) }
            let clear = [state.email, state.name].contains { $0.map { !PersonalData.isSealed($0) } ?? false } || state.birthday != nil
            guard clear else { continue }
            let profile = try sealedProfile(of: customer)
            (state.email, state.name, state.birthday, state.sealedBirthday) = (profile.email, profile.name, profile.birthday, profile.sealedBirthday)
            changed.append((customer, CustomerStateBinaryCodec.encode(state)))
        }
        let update = try database.prepare("UPDATE \(table) SET state = ?1 WHERE customer = ?2")
        for (customer, bytes) in changed {
            update.reset()
            update.bind(bytes: bytes, at: 1)
            update.bind(customer, at: 2)
            _ = try update.step()
        }
        update.reset()
        return changed.count
    }

    /// The customer's profile folded from their registrations, updates and forgettings alone.
    private func sealedProfile(of customer: String) throws -> CustomerState {
        let facts = try database.cached("""
            SELECT f.facts FROM streams s JOIN stream_facts f ON f.stream = s.stream WHERE s.customer = ?1 ORDER BY f.version
            """)
        facts.bind(customer, at: 1)
        defer { facts.reset() }
        var state = CustomerState(customer: customer)
        let profileTypes: Set<EventType> = [.customerRegistered, .customerUpdated, .customerForgotten]
        while try facts.step() {
            try facts.withBytes(0) { bytes in
                guard let type = try EventFacts.header(UnsafeRawBufferPointer(bytes)).type, profileTypes.contains(type) else { return }
                try state.apply(facts: UnsafeRawBufferPointer(bytes))
            }
        }
        return state
    }

    /// Seals the bodies of webhook deliveries queued before sealing (they hold the recipient).
    private func sealDeliveryBodies(_ vault: PersonalDataVault) throws -> Int {
        let select = try database.prepare("SELECT command, customer, body FROM deliveries WHERE substr(body, 1, 9) != ?1")
        select.bind(PersonalData.sealedPrefix, at: 1)
        var rows: [(String, String, String)] = []
        while try select.step() { rows.append((select.text(0) ?? "", select.text(1) ?? "", select.text(2) ?? "")) }
        for (command, customer, body) in rows {
            let sealed = try vault.seal(.string(body), customer: customer, member: PersonalDataVault.deliveryBodyMember, id: command)
            try database.cached("UPDATE deliveries SET body = ?1 WHERE command = ?2").run([.text(sealed), .text(command)])
        }
        return rows.count
    }
}
