import AftersaleCore
import AftersaleStore
import AftersaleSQLite
import AftersaleProjections
import AftersaleOutbox
import Testing

@Suite("Upgrading a log written by an earlier version")
struct UpgradeTests {
    /// A log file as schema 1 wrote it: events with a (customer, version) index, no facts, and a
    /// customers read model holding JSON states.
    func writeSchemaOneLog(at path: String, _ events: [EncodedEvent]) throws {
        let database = try Database(path: path)
        try database.execute("""
            CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL, customer TEXT NOT NULL,
                version INTEGER NOT NULL, at INTEGER NOT NULL, at_offset INTEGER NOT NULL, schema INTEGER NOT NULL,
                data TEXT NOT NULL, meta TEXT, recorded INTEGER NOT NULL) STRICT;
            CREATE UNIQUE INDEX events_id ON events(id);
            CREATE UNIQUE INDEX events_stream ON events(customer, version);
            CREATE TABLE projection_checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL) STRICT;
            CREATE TABLE customers (customer TEXT PRIMARY KEY, state TEXT NOT NULL, order_count INTEGER NOT NULL, last_order_at INTEGER) STRICT;
            INSERT INTO customers VALUES ('stale', '{"c":"stale"}', 0, NULL);
            INSERT INTO projection_checkpoints VALUES ('customers', 1);
            PRAGMA user_version=1;
            """)
        let insert = try database.prepare("""
            INSERT INTO events (id, type, customer, version, at, at_offset, schema, data, meta, recorded)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, 0)
            """)
        var versions: [String: Int64] = [:]
        var seen: Set<String> = []
        for e in events where seen.insert(e.id).inserted {
            versions[e.customer, default: 0] += 1
            try insert.bind([.text(e.id), .text(e.type.rawValue), .text(e.customer), .int(versions[e.customer]!), .int(e.at.millis),
                             .int(Int64(e.at.offsetMinutes)), .int(Int64(e.schema)), .text(e.data)])
            try insert.step()
            insert.reset()
        }
    }

    @Test("a schema 1 log gains streams and facts derived from its JSON; the customers model is rebuilt from them")
    func upgradeFromSchemaOne() throws {
        let scratch = Scratch()
        let path = scratch.path("old.db")
        let events = try messyShopEvents(seed: 5, customers: 40)
        try writeSchemaOneLog(at: path, events)

        // A read-only opening cannot upgrade: it says what to do.
        let readOnly = try Database(path: path, readOnly: true)
        #expect { try EventLog(database: readOnly) } throws: { error in
            "\(error)".contains("needs an upgrade")
        }

        let log = try EventLog(path: path)
        #expect(log.database.userVersion == EventLog.schemaVersion)
        let head = try log.head()
        #expect(try log.database.scalarInt("SELECT count(*) FROM stream_facts") == head)
        #expect(try log.database.scalarInt("SELECT count(*) FROM streams") == log.database.scalarInt("SELECT count(DISTINCT customer) FROM events"))
        #expect(try log.database.scalarInt("SELECT count(*) FROM sqlite_schema WHERE name = 'events_stream'") == 0)
        // Each event's stored facts are what encoding its JSON gives.
        let checked = try expectStoredFactsEqualEncodedJSON(log)
        #expect(checked == Int(head))

        // The old JSON read model is dropped and folded again from the facts.
        let projection = try CustomerProjection(log: log)
        #expect(try projection.checkpoint() == 0)
        try projection.catchUp()
        var folded: [String: CustomerState] = [:]
        try log.read { folded[$0.event.customer, default: CustomerState(customer: $0.event.customer)].apply($0.event) }
        #expect(try projection.allStates() == folded.values.sorted { $0.customer < $1.customer })
        #expect(try projection.state(of: "stale") == nil)

        // Appends continue each stream's versions.
        let customer = folded.keys.sorted()[0]
        let before = try log.currentVersion(of: customer)
        let outcome = try log.append([event("after-upgrade", customer: customer)], recorded: testClock)
        #expect(outcome == [.appended(position: head + 1, version: before + 1)])
        #expect(try log.stream(of: customer).last?.event.id == "after-upgrade")
    }

    @Test("a schema 2 log's pending facts table is merged and dropped; a build of schema 2 would refuse the upgraded file")
    func schemaTwoPendingFacts() throws {
        let scratch = Scratch()
        let path = scratch.path("log.db")
        let events = (1...50).map { event("e\($0)", customer: "c-\($0 % 7)") }
        do {
            // As schema 2 left a killed bulk load: the last 20 events' facts in pending_facts.
            let log = try EventLog(path: path)
            _ = try log.append(events, recorded: testClock)
            try log.database.execute("""
                CREATE TABLE pending_facts (position INTEGER PRIMARY KEY, stream INTEGER NOT NULL, version INTEGER NOT NULL,
                    facts BLOB NOT NULL) STRICT;
                INSERT INTO pending_facts SELECT position, stream, version, facts FROM stream_facts WHERE position > 30;
                DELETE FROM stream_facts WHERE position > 30;
                PRAGMA user_version=2;
                """)
        }
        let readOnly = try Database(path: path, readOnly: true)
        #expect { try EventLog(database: readOnly) } throws: { "\($0)".contains("needs an upgrade") }

        let log = try EventLog(path: path)
        #expect(log.database.userVersion == 3)
        #expect(try !log.database.tableExists("pending_facts"))
        #expect(try expectStoredFactsEqualEncodedJSON(log) == 50)
        #expect(try log.append([event("e51", customer: "c-1")], recorded: testClock) == [.appended(position: 51, version: 9)])

        try log.database.execute("PRAGMA user_version=4")
        #expect { try EventLog(path: path) } throws: { "\($0)".contains("newer than this build's 3") }
    }

    @Test("facts stored in an older facts format are derived again from the JSON at the next writer's opening")
    func factsFormatChange() throws {
        let scratch = Scratch()
        let path = scratch.path("log.db")
        let events = try messyShopEvents(seed: 6, customers: 30)
        do {
            let log = try EventLog(path: path)
            _ = try log.append(events, recorded: testClock)
            // As an older build would have left it: another format number and other bytes.
            try log.database.execute("UPDATE stream_facts SET facts = x'00'; UPDATE log_settings SET value = 1 WHERE name = 'facts_format'")
        }
        let readOnly = try Database(path: path, readOnly: true)
        #expect { try EventLog(database: readOnly) } throws: { "\($0)".contains("needs an upgrade") }

        let log = try EventLog(path: path)
        #expect(try log.database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_format'") == Int64(EventFacts.formatVersion))
        let checked = try expectStoredFactsEqualEncodedJSON(log)
        #expect(checked == Int(try log.head()))
        #expect(checked > 50, "\(checked) events")
    }
}

/// Checks that each event's stored facts are what encoding its JSON gives; returns how many were checked.
func expectStoredFactsEqualEncodedJSON(_ log: EventLog) throws -> Int {
    let stored = try log.database.prepare("""
        SELECT f.facts FROM stream_facts f JOIN streams s ON s.stream = f.stream WHERE s.customer = ?1 AND f.version = ?2
        """)
    var checked = 0
    try log.read { recorded in
        stored.reset()
        try stored.bind([.text(recorded.event.customer), .int(recorded.version)])
        #expect(try stored.step())
        #expect(stored.withBytes(0) { Array($0) } == EventFacts.encode(recorded.event))
        checked += 1
    }
    return checked
}
