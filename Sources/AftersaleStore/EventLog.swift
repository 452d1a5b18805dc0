public import AftersaleCore
package import AftersaleSQLite

/// The append-only event log in one SQLite file.
///
/// Positions are assigned by SQLite's rowid inside the single writer's `BEGIN IMMEDIATE`
/// transaction and nothing is ever deleted, so the global order is gapless by construction.
///
/// Tables: `events` (one row per event, its JSON as sent), `streams` (one row per customer: a
/// dense integer stream id) and `stream_facts` (per stream and version: the event's position and
/// its `EventFacts`, clustered by stream). The primary key of `stream_facts` is the uniqueness of
/// (stream, version); scanning it in key order hands a rebuild every customer's events together,
/// already decoded to what the fold reads, without touching the JSON.
///
/// An append writes its events' facts into `stream_facts` at its end, sorted by key. A bulk load
/// (`bulkLoad`) would touch a page per customer in every batch that way (the key is random
/// in arrival order), so it keeps its events' facts in memory and merges them into `stream_facts`
/// in key order every `factsMergeInterval` events and at the end, touching each page once per merge.
///
/// Facts are derived from the JSON, so the log never depends on them: while a bulk load holds
/// facts in memory, the row `facts_from` of `log_settings` (committed with its first such event)
/// says from which position on events may have no facts stored. Readers take those events' from
/// the `events` table; any other writer, and the next one to open the file after a kill, derives
/// their facts from the JSON and stores them before it reads a version (`mergePendingFacts`).
public final class EventLog {
    package let database: Database
    /// Last known stream id and version per customer (`StreamHeads`), valid while no other connection has written.
    var heads = StreamHeads()
    /// The facts of the events this connection appended and has not stored yet (`HeldFacts`).
    var held = HeldFacts()
    /// Shared with the process's other connections to the file: this one posts the facts it holds
    /// (`postHeldFacts`), the others read the facts of held events there (`readFacts`).
    public var heldFactsBoard: HeldFactsBoard?
    /// What one grouped insert needs, kept from group to group (its capacity is reused).
    var group = GroupBuffers()
    /// The append's statements, prepared once.
    let statements: AppendStatements
    /// Set by a bulk load (`bulkLoad`): keep facts held across appends, merging every `factsMergeInterval`.
    var defersFactsMerge = false
    /// A merge touches nearly every page of `stream_facts` (each batch of held facts reaches most
    /// customers), so a bulk load's merges cost about (events / interval) times the table: fewer,
    /// larger merges write and read less, for the held facts' memory (about 100 bytes an event).
    var factsMergeInterval = 2_000_000
    /// Seals personal data on append (`PersonalDataVault`); nil keeps it as sent (tests, benchmarks'
    /// baselines). Set by `attach(_:)`.
    public internal(set) var vault: PersonalDataVault?
    /// Whether this connection has marked the log as holding sealed data (`log_settings`).
    var markedSealed = false

    /// Stream heads kept in memory (about 100 bytes each) before the cache starts over.
    public var maxCachedStreams: Int {
        get { heads.limit }
        set { heads.limit = newValue }
    }

    /// 1: events with a (customer, version) index. 2: streams and stream_facts, a bulk load's facts
    /// pending in a table. 3: a bulk load's facts held in memory, `facts_from` marking them.
    /// An earlier build must not write a later schema: it would read versions from `stream_facts`
    /// while facts are held, so it refuses the file (`stored > schemaVersion`).
    public static let schemaVersion = 3

    /// Opens the log in the SQLite file at `path` (created when missing, unless `readOnly`), upgrading
    /// a file written by an earlier version; read-only, such a file is refused (`StoreError.needsUpgrade`).
    public convenience init(path: String, readOnly: Bool = false) throws {
        try self.init(database: Database(path: path, readOnly: readOnly))
    }

    package init(database: Database) throws {
        self.database = database
        self.statements = AppendStatements(database: database)
        // A transaction rolled back by anyone (an append, the reactor's dispatch around it) undoes
        // the stream ids and versions it handed out, and the facts of its events: the cache and
        // the held facts forget them by themselves.
        database.onRollback { [weak self] in self?.forgetCachedVersions() }
        try migrate()
    }

    /// Forgets cached stream versions and the facts held in memory: a transaction rolled back.
    /// Facts of events committed before are derived again from their JSON by the next append.
    func forgetCachedVersions() {
        heads.forget()
        heads.seenDataVersion = -1
        held.clear()
        markedSealed = false
    }
}

@available(*, unavailable)
extension EventLog: Sendable {}
