public import AftersaleCore
internal import AftersaleSQLite
internal import Crypto
internal import Foundation
internal import Synchronization
#if canImport(Glibc)
internal import Glibc
#endif

/// The customers' data keys, in a file apart from the log: what seals and opens personal data
/// (`PersonalData`), and what forgetting a customer deletes.
///
/// Each customer gets a key the first time personal data of theirs is appended: HMAC-SHA256 of a
/// random 128-bit salt (and the customer's id and the key's generation) under the master key. The
/// file keeps the salt; the master key never touches it: it comes from
/// `AFTERSALE_MASTER_KEY`, a key file, or (the embedded default) a key file made beside the
/// database on first use. A value is sealed with AES-GCM under the customer's key and a fresh
/// random nonce, bound to the member it sits in and to the event's id (authenticated data), so it
/// cannot be moved to another field or event unnoticed.
///
/// Forgetting deletes the salt's row (the file zeroes freed space, and the rollback journal that
/// held the old page is deleted at commit), and remembers the key's generation: a key made for data sent later is a new one,
/// and what the old one sealed stays unreadable.
///
/// When the keys cannot be read (the file is missing, the master key is absent or wrong) the vault
/// still opens: `problem` says why, every value opens as `.unavailable`, and sealing refuses, so
/// nothing personal is ever stored in clear.
public final class PersonalDataVault: PersonalDataOpening, @unchecked Sendable {
    /// The keys file.
    public let keysPath: String
    /// Where the master key came from, in words (never the key).
    public let masterKeySource: String
    /// Why personal data can be neither sealed nor opened here; nil when it can.
    public let problem: String?
    /// Set when this open made the master key file (the embedded default's first run).
    public let createdMasterKeyFile: String?

    /// Only touched inside `state.withLock`: the connection is never used by two threads at once.
    private struct State: @unchecked Sendable {
        var database: Database?
        var cache: [String: CustomerKey] = [:]
        var dataVersion: Int64 = -1
        /// When `dataVersion` was last asked.
        var checked: ContinuousClock.Instant?
    }

    private struct CustomerKey {
        var generation: Int64
        var key: SealingKey
    }

    /// HMAC keyed with the master key (nil without one), made once: each customer's key starts
    /// from its padded states. The master key itself is not kept. Used under `state`'s lock only.
    private let keyed: KeyedHMAC?
    private let state: Mutex<State>

    /// How long a key cached here is used for single values without asking whether another process
    /// changed the keys file (a `forget` from the CLI while `serve` runs): that process's forgetting
    /// reaches this one's single opens within this time, and its batches at once. Forgetting in this
    /// process takes effect here at once.
    static let recheckInterval = Duration.milliseconds(50)

    /// Keys kept in memory, derived, before the cache starts over (a key and its id: about 150 bytes).
    static let cachedKeys = 100_000

    /// The member a sealed webhook body is bound to (the delivery queue keeps bodies sealed).
    public static let deliveryBodyMember = "delivery_body"

    /// Environment variables the vault reads.
    public static let masterKeyVariable = "AFTERSALE_MASTER_KEY"
    public static let masterKeyFileVariable = "AFTERSALE_MASTER_KEY_FILE"
    public static let keysFileVariable = "AFTERSALE_KEYS_FILE"

    /// The vault for the database at `databasePath`: keys in `AFTERSALE_KEYS_FILE`, else beside the
    /// database (`shop.db` -> `shop.keys`); the master key from `AFTERSALE_MASTER_KEY` (base64 of
    /// 32 bytes), else the file `AFTERSALE_MASTER_KEY_FILE` names, else `shop.master-key` beside
    /// the database.
    ///
    /// - Parameter mayCreate: whether missing files may be made: only when the log holds nothing
    ///   sealed yet. Keys made anew for a log that has sealed data would open none of it.
    ///
    /// One vault per keys file and master key in a process (its connections share it): a key
    /// forgotten through one is gone for all at once, and the keys are cached once.
    public static func open(besideDatabase databasePath: String, environment: [String: String],
                            mayCreate: Bool) -> PersonalDataVault {
        let url = URL(fileURLWithPath: databasePath)
        let stem = url.deletingPathExtension().lastPathComponent
        let folder = url.deletingLastPathComponent()
        let keysPath = nonEmpty(environment[keysFileVariable]) ?? folder.appendingPathComponent(stem + ".keys").path
        let identity = [keysPath, environment[masterKeyVariable] ?? "", environment[masterKeyFileVariable] ?? ""].joined(separator: "\u{0}")
        return opened.withLock { opened in
            if let vault = opened[identity] { return vault }
            let vault = make(folder: folder, stem: stem, keysPath: keysPath, environment: environment, mayCreate: mayCreate)
            if vault.problem == nil {
                opened[identity] = vault
                _ = copiedAtExit
            }
            return vault
        }
    }

    private static let opened = Mutex<[String: PersonalDataVault]>([:])

    /// Vaults stay open for the life of the process, so SQLite never closes their files, which is
    /// when it would copy the write-ahead log in. At exit each keys file takes its log in, so once
    /// a command has finished, the keys file alone holds every key (a copy of it, a backup).
    private static let copiedAtExit: Void = { atexit { PersonalDataVault.copyWritesIntoKeysFiles() } }()

    /// Copies each open vault's write-ahead log into its keys file and empties it, without waiting:
    /// a command ending while `serve` writes the same file must not wait for it, and copies what it
    /// can. A vault another thread is using just then is left as it is: its log is still part of
    /// the file for SQLite.
    static func copyWritesIntoKeysFiles() {
        for vault in opened.withLock({ Array($0.values) }) {
            _ = vault.state.withLockIfAvailable { state in try? state.database?.emptyWriteAheadLog(waiting: false) }
        }
    }

    private static func make(folder: URL, stem: String, keysPath: String, environment: [String: String],
                             mayCreate: Bool) -> PersonalDataVault {
        let keysExist = FileManager.default.fileExists(atPath: keysPath)

        var created: String?
        let master: SymmetricKey
        let source: String
        do {
            if let text = nonEmpty(environment[masterKeyVariable]) {
                source = "$\(masterKeyVariable)"
                master = try masterKey(fromBase64: text, source: source)
            } else {
                let file = nonEmpty(environment[masterKeyFileVariable]) ?? folder.appendingPathComponent(stem + ".master-key").path
                source = "the key file \(file)"
                if let data = FileManager.default.contents(atPath: file) {
                    master = try masterKey(fromBase64: String(decoding: data, as: UTF8.self), source: source)
                } else if mayCreate && !keysExist {
                    master = SymmetricKey(size: .bits256)
                    let text = master.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
                    guard FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                        throw VaultError("cannot write the master key file \(file)")
                    }
                    created = file
                } else {
                    throw VaultError("no master key: set \(masterKeyVariable) or \(masterKeyFileVariable), or restore \(file)")
                }
            }
            guard keysExist || mayCreate else {
                throw VaultError("the keys file \(keysPath) is missing: restore it (the log's personal data is sealed with the keys it held)")
            }
            // A write-ahead log, as the log has: a live intake writes this file once per group of
            // requests with new customers, and a rollback journal syncs four times a commit (the
            // journal twice, the file, the folder) where a write-ahead log syncs once. While a
            // process has it open, the newest keys may be in `.keys-wal`: a backup copies both, or
            // uses SQLite's backup; a process copies them into the one file at exit (`copiedAtExit`).
            // A forget empties the write-ahead log, which held the deleted key's page.
            let database = try Database(path: keysPath)
            try database.execute("""
                PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;
                CREATE TABLE IF NOT EXISTS customer_keys (customer TEXT PRIMARY KEY, generation INTEGER NOT NULL, salt BLOB NOT NULL) STRICT;
                CREATE TABLE IF NOT EXISTS forgotten (customer TEXT PRIMARY KEY, generation INTEGER NOT NULL, at INTEGER NOT NULL) STRICT;
                CREATE TABLE IF NOT EXISTS vault_settings (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
                """)
            // A value sealed by the master key tells a wrong master key at once, not at the first customer.
            let check = Array("aftersale keys".utf8)
            let lookup = try database.cached("SELECT value FROM vault_settings WHERE name = 'check'")
            let stored: [UInt8]? = try lookup.step() ? lookup.withBytes(0) { Array($0) } : nil
            lookup.reset()
            if let stored {
                guard let box = try? AES.GCM.SealedBox(combined: stored), (try? AES.GCM.open(box, using: master)) == Data(check) else {
                    throw VaultError("the master key from \(source) does not open the keys in \(keysPath)")
                }
            } else {
                let sealed = try AES.GCM.seal(check, using: master).combined!
                let insert = try database.cached("INSERT OR IGNORE INTO vault_settings (name, value) VALUES ('check', ?1)")
                insert.bind(bytes: Array(sealed), at: 1)
                _ = try insert.step()
                insert.reset()
            }
            return PersonalDataVault(keysPath: keysPath, source: source, master: master, database: database, problem: nil, created: created)
        } catch {
            let reason = (error as? VaultError)?.reason ?? "the keys file \(keysPath) cannot be read: \(error)"
            return PersonalDataVault(keysPath: keysPath, source: "none", master: nil, database: nil, problem: reason, created: created)
        }
    }

    private init(keysPath: String, source: String, master: SymmetricKey?, database: Database?, problem: String?, created: String?) {
        self.keysPath = keysPath
        self.masterKeySource = source
        self.keyed = master.flatMap { KeyedHMAC(key: $0) }
        self.problem = problem
        self.createdMasterKeyFile = created
        self.state = Mutex(State(database: database))
    }

    private static func nonEmpty(_ s: String?) -> String? {
        guard let s = s?.trimmingCharacters(in: .whitespacesAndNewlines), !s.isEmpty else { return nil }
        return s
    }

    private static func masterKey(fromBase64 text: String, source: String) throws -> SymmetricKey {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
            throw VaultError("the master key from \(source) is not the base64 of 32 bytes (make one with `openssl rand -base64 32`)")
        }
        return SymmetricKey(data: data)
    }

    // MARK: Keys

    /// The current keys of `customers`, made (and committed to the keys file) for those who have
    /// none when `creating`. Committed before the caller's log transaction commits: a log event is
    /// never sealed by a key that was not kept.
    ///
    /// `many`: for a batch of values (or ahead of one), which always asks whether another process
    /// changed the keys file. A single value's lookup asks at most every `recheckInterval`: asking
    /// is a statement on the keys file, which in a rollback-journal file means taking and letting go
    /// of its lock and looking for a journal, several system calls, for every value opened.
    private func keys(for customers: Set<String>, creating: Bool, many: Bool = true) throws -> [String: CustomerKey] {
        guard let keyed else { throw StoreError(.personalDataUnavailable, "personal data cannot be sealed: \(problem ?? "no keys")") }
        return try state.withLock { state throws -> [String: CustomerKey] in
            guard let database = state.database else { throw StoreError(.personalDataUnavailable, "personal data cannot be sealed: no keys file") }
            let now = ContinuousClock.now
            if many || state.checked.map({ now - $0 >= PersonalDataVault.recheckInterval }) ?? true {
                try refreshIfChanged(&state, database)
                state.checked = now
            }
            var found: [String: CustomerKey] = [:]
            var missing: [String] = []
            for customer in customers {
                if let key = state.cache[customer] { found[customer] = key } else { missing.append(customer) }
            }
            guard !missing.isEmpty else { return found }
            // One transaction for the lookups and the new keys: in a rollback-journal file each
            // statement on its own takes and lets go of the file's lock, and looks for a journal.
            found = try database.inTransaction(immediate: creating) { () throws -> [String: CustomerKey] in
                var found = found
                let select = try database.cached("SELECT generation, salt FROM customer_keys WHERE customer = ?1")
                func stored(_ customer: String) throws -> CustomerKey? {
                    select.reset()
                    defer { select.reset() }
                    select.bind(customer, at: 1)
                    guard try select.step() else { return nil }
                    return try derive(select.withBytes(1) { Array($0) }, customer: customer, generation: select.int64(0), keyed: keyed)
                }
                guard creating else {
                    for customer in missing { found[customer] = try stored(customer) }
                    return found
                }
                // Most customers met while sealing are new: the insert comes first, and a key that
                // is there already (made earlier, or by another process first) is read back.
                var random = RandomBytes()
                // A customer forgotten before gets the next generation; most never were.
                let anyForgotten = try database.scalarInt("SELECT count(*) FROM (SELECT 1 FROM forgotten LIMIT 1)") == 1
                let previous = try database.cached("SELECT generation FROM forgotten WHERE customer = ?1")
                let insert = try database.cached("INSERT OR IGNORE INTO customer_keys (customer, generation, salt) VALUES (?1, ?2, ?3)")
                for customer in missing {
                    var generation: Int64 = 1
                    if anyForgotten {
                        previous.reset()
                        previous.bind(customer, at: 1)
                        if try previous.step() { generation = previous.int64(0) + 1 }
                        previous.reset()
                    }
                    let salt = Array(try random.bytes(16))
                    insert.reset()
                    insert.bind(customer, at: 1)
                    insert.bind(generation, at: 2)
                    insert.bind(bytes: salt, at: 3)
                    _ = try insert.step()
                    insert.reset()
                    found[customer] = database.changes == 1
                        ? try derive(salt, customer: customer, generation: generation, keyed: keyed) : try stored(customer)
                }
                state.dataVersion = try database.dataVersion()
                return found
            }
            if state.cache.count + found.count > PersonalDataVault.cachedKeys { state.cache.removeAll(keepingCapacity: true) }
            for (customer, key) in found { state.cache[customer] = key }
            return found
        }
    }

    /// A customer's key from its salt: without the master key the salt gives nothing, and without
    /// the salt (deleted when the customer is forgotten) the master key gives nothing.
    /// Used under the state's lock only (`keyed` is one context).
    private func derive(_ salt: [UInt8], customer: String, generation: Int64, keyed: KeyedHMAC) throws -> CustomerKey {
        var mac = try PersonalDataVault.keyMaterial(salt, customer: customer, generation: generation, keyed: keyed)
        // The key's bytes live on in its context only (as swift-crypto's SymmetricKey zeroed its own).
        defer { mac.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) } }
        guard let key = SealingKey(mac) else {
            throw StoreError(.personalDataUnavailable, "no AES-GCM context could be made for a customer's key")
        }
        return CustomerKey(generation: generation, key: key)
    }

    /// The 32 bytes of a customer's key: HMAC-SHA256 under the master key of
    /// "aftersale customer key\0<customer>\0<generation>\0" and the salt.
    static func keyMaterial(_ salt: [UInt8], customer: String, generation: Int64, keyed: KeyedHMAC) throws -> [UInt8] {
        var message: [UInt8] = []
        message.reserveCapacity(PersonalDataVault.derivationLabel.count + customer.utf8.count + 24 + salt.count)
        message.append(contentsOf: PersonalDataVault.derivationLabel)
        message.append(contentsOf: customer.utf8)
        message.append(0)
        message.append(contentsOf: String(generation).utf8)
        message.append(0)
        message.append(contentsOf: salt)
        var mac: [UInt8] = []
        try message.withUnsafeBytes { try keyed.authenticate($0, into: &mac) }
        return mac
    }

    /// Caps the keys file's page cache, as `EventLog.limitPageCache` caps the log's: a service
    /// keeps the vault open for its whole life, and its cache would fill as customers come.
    func limitPageCache(mebibytes: Int) throws {
        try state.withLock { state throws in try state.database?.execute("PRAGMA cache_size=-\(max(1, mebibytes) * 1024)") }
    }

    /// The keys file's `PRAGMA cache_size` (negative: KiB).
    var pageCacheSize: Int64? {
        state.withLock { state in try? state.database?.scalarInt("PRAGMA cache_size") }
    }

    /// Another connection wrote the keys file (a `forget` elsewhere): keys cached here may be gone.
    private func refreshIfChanged(_ state: inout State, _ database: Database) throws {
        let version = try database.dataVersion()
        if version != state.dataVersion {
            state.cache.removeAll(keepingCapacity: true)
            state.dataVersion = version
        }
    }

    /// Deletes `customer`'s key: everything sealed with it can no longer be opened, by anyone.
    /// Returns whether there was one. Forgetting twice is harmless.
    @discardableResult
    public func forget(_ customer: String, at: Timestamp) throws -> Bool {
        guard problem == nil else { throw StoreError(.personalDataUnavailable, "cannot forget: \(problem!)") }
        return try state.withLock { state throws -> Bool in
            guard let database = state.database else { return false }
            let existed = try database.inTransaction { () throws -> Bool in
                let current = try database.scalarInt("SELECT generation FROM customer_keys WHERE customer = ?1", [.text(customer)])
                let before = try database.scalarInt("SELECT generation FROM forgotten WHERE customer = ?1", [.text(customer)])
                try database.cached("DELETE FROM customer_keys WHERE customer = ?1").run([.text(customer)])
                try database.cached("""
                    INSERT INTO forgotten (customer, generation, at) VALUES (?1, ?2, ?3)
                    ON CONFLICT(customer) DO UPDATE SET generation = excluded.generation, at = excluded.at
                    """).run([.text(customer), .int(max(current ?? 0, before ?? 0)), .int(at.millis)])
                return current != nil
            }
            state.cache[customer] = nil
            state.dataVersion = try database.dataVersion()
            // The deleted row's bytes are zeroed in the file (secure_delete); the write-ahead log
            // still holds the page as it was, key and all, until it is copied and emptied. A
            // failure here leaves the key deleted: a forget again empties the log.
            guard try database.emptyWriteAheadLog() else {
                throw StoreError(.lockFailed, "the key is deleted, but another process kept \(keysPath)'s write-ahead log busy for \(Database.busyTimeoutMillis / 1000) s, so the key's old page is still in \(keysPath)-wal: run the forget again")
            }
            return existed
        }
    }

    // MARK: Sealing and opening

    /// The first bytes of SHA-256 of an event id: what a sealed value carries to bind it to its event.
    static func idTag(_ eventID: String) -> [UInt8] {
        // Hashed where the id's bytes are, and the tag taken from the digest's: no copies between.
        var id = eventID
        return Array(id.withUTF8 { SealingKey.sha256(UnsafeRawBufferPointer($0)) }.prefix(8))
    }

    private static func context(member: String, idTag: some Collection<UInt8>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(member.utf8.count + 1 + idTag.count)
        bytes.append(contentsOf: member.utf8)
        bytes.append(0)
        bytes.append(contentsOf: idTag)
        return bytes
    }

    /// Seals one value (a delivery body), with a nonce of its own: no buffer for a single one.
    private func seal(_ value: JSONValue, member: String, eventID: String, key: CustomerKey) throws -> String {
        var token: [UInt8] = []
        var sealed: [UInt8] = []
        var random = RandomBytes(count: SealingKey.nonceCount)
        try seal(text: Array(value.compactText.utf8), member: member, idTag: PersonalDataVault.idTag(eventID), key: key,
                 nonce: random.bytes(SealingKey.nonceCount), scratch: &sealed, into: &token)
        return String(decoding: token, as: UTF8.self)
    }

    /// The same, the sealed value's text (`sealed:1:<generation>:<base64>`) appended to `out`;
    /// `scratch` holds the sealed bytes on their way (kept by the caller: one buffer for many values).
    private func seal(text: [UInt8], member: String, idTag tag: [UInt8], key: CustomerKey, nonce: ArraySlice<UInt8>,
                      scratch sealed: inout [UInt8], into out: inout [UInt8]) throws {
        sealed.removeAll(keepingCapacity: true)
        try text.withUnsafeBytes { text in
            try nonce.withUnsafeBytes { nonce in
                try PersonalDataVault.context(member: member, idTag: tag).withUnsafeBytes { context in
                    try key.key.seal(text, nonce: nonce, authenticating: context, appendingTo: &sealed)
                }
            }
        }
        out.append(contentsOf: PersonalDataVault.prefixBytes)
        out.append(contentsOf: String(key.generation).utf8)
        out.append(UInt8(ascii: ":"))
        // id tag, then nonce, ciphertext and GCM tag (AES.GCM.SealedBox's combined form), base64 in one pass.
        var base64 = Base64Writer()
        base64.append(tag, to: &out)
        sealed.withUnsafeBytes { base64.append($0, to: &out) }
        base64.finish(&out)
    }

    private static let prefixBytes = Array(PersonalData.sealedPrefix.utf8)
    private static let derivationLabel = Array("aftersale customer key\u{0}".utf8)

    public func open(_ sealed: String, customer: String, member: String) -> Revealed {
        open(sealed, customer: customer, member: member, eventID: nil)
    }

    /// Fetches the keys of `customers` into the cache, in transactions of many: opening their
    /// values one by one then finds them there, instead of one keys-file transaction each (which
    /// also held the lock every other opener waits on).
    public func prepare(customers: [String]) {
        guard keyed != nil else { return }
        let chunk = PersonalDataVault.cachedKeys / 2
        for start in stride(from: 0, to: customers.count, by: chunk) {
            _ = try? keys(for: Set(customers[start..<min(start + chunk, customers.count)]), creating: false)
        }
    }

    /// Opens one sealed value; given the event's id, also checks it was sealed for that event.
    public func open(_ sealed: String, customer: String, member: String, eventID: String?) -> Revealed {
        guard keyed != nil, PersonalData.isSealed(sealed) else { return .unavailable }
        let rest = sealed.dropFirst(PersonalData.sealedPrefix.count)
        guard let colon = rest.firstIndex(of: ":"), let generation = Int64(rest[..<colon]),
              let bytes = Data(base64Encoded: String(rest[rest.index(after: colon)...])), bytes.count > 8 + 12 + 16 else { return .unavailable }
        let tag = Array(bytes.prefix(8))
        if let eventID, tag != PersonalDataVault.idTag(eventID) { return .unavailable }
        let key: CustomerKey
        do {
            guard let found = try keys(for: [customer], creating: false, many: false)[customer] else { return .erased }
            key = found
        } catch {
            return .unavailable
        }
        // A later key (data sent after an erasure) cannot open what the forgotten one sealed.
        guard key.generation == generation else { return generation < key.generation ? .erased : .unavailable }
        guard let plain = bytes.dropFirst(8).withUnsafeBytes({ sealed in
                  PersonalDataVault.context(member: member, idTag: tag).withUnsafeBytes { key.key.open(sealed, authenticating: $0) }
              }),
              let value = try? JSONParser.parse(String(decoding: plain, as: UTF8.self)) else { return .unavailable }
        return .value(value)
    }

    /// Seals one value of `customer`'s kept outside the log (a delivery's body), bound to `member`
    /// and `id` as an event's values are to theirs; opened with `open(_:customer:member:eventID:)`.
    public func seal(_ value: JSONValue, customer: String, member: String, id: String) throws -> String {
        guard let key = try keys(for: [customer], creating: true, many: false)[customer] else {
            throw StoreError(.personalDataUnavailable, "no data key could be made for customer \(customer)")
        }
        return try seal(value, member: member, eventID: id, key: key)
    }

    /// Seals the personal members (`PersonalData.members`) of each event's `data`, making keys for
    /// customers who have none. Events with nothing personal in clear are returned as they are;
    /// a sealed event's facts are derived again from its sealed data, as the log would derive them.
    public func seal(_ events: [EncodedEvent]) throws -> [EncodedEvent] {
        var sealed = events
        try seal(&sealed)
        return sealed
    }

    /// `seal(_:)` in place: an event with nothing personal in clear is only marked, not copied (a
    /// copy of the array retains every event's texts, and frees them again). On a throw, some
    /// events may be marked and sealed and others not.
    public func seal(_ events: inout [EncodedEvent]) throws {
        // Found on a tape over the data's bytes (no tree of values), and spliced into them: the
        // rest of the text stays byte for byte as sent.
        struct Clear {
            var member: String
            var range: Range<Int>
            var text: [UInt8]
        }
        var found: [(index: Int, values: [Clear])] = []
        var tape = JSONTape()
        for index in events.indices where !events[index].personalDataSealed {
            events[index].personalDataSealed = true
            // The text is searched for the names first, and a name on the tape is compared where it
            // lies, not made into a string.
            let personal = PersonalData.memberNames(of: events[index].type)
            guard !personal.isEmpty, events[index].customer != EventType.systemCustomer,
                  events[index].withTexts({ data, _, _ in personal.mentioned(in: data.bindMemory(to: UInt8.self)) })
            else { continue }
            let event = events[index]
            let values = try event.withTexts { data, _, _ throws -> [Clear] in
                try tape.parse(data.bindMemory(to: UInt8.self)) { root -> [Clear] in
                    var values: [Clear] = []
                    root.forEachMember { name, value in
                        guard let k = name.withText({ personal.index(of: $0) }) ?? nil else { return }
                        let name = personal.names[k]
                        switch value.kind {
                        case .null: return
                        // Passed by only when it opens here: a sender's text that merely starts like
                        // a sealed value is personal data in clear like any other.
                        case .string where value.withText({ PersonalData.isSealed(utf8: $0) }) ?? false
                            && value.stringValue.map({ isOpenable($0, event, name) }) ?? false: return
                        default:
                            let range = value.range
                            values.append(Clear(member: name, range: range, text: Array(data.bindMemory(to: UInt8.self)[range])))
                        }
                    }
                    return values
                }
            }
            if !values.isEmpty { found.append((index, values)) }
        }
        guard !found.isEmpty else { return }
        let keys = try keys(for: Set(found.map { events[$0.index].customer }), creating: true)
        var random = RandomBytes()
        var sealed: [UInt8] = []
        for (index, values) in found {
            let event = events[index]
            guard let key = keys[event.customer] else {
                throw StoreError(.personalDataUnavailable, "no data key could be made for customer \(event.customer)")
            }
            let tag = PersonalDataVault.idTag(event.id)
            var text: [UInt8] = []
            try event.withTexts { data, _, _ in
                let bytes = data.bindMemory(to: UInt8.self)
                text.reserveCapacity(bytes.count + values.count * 96)
                var at = 0
                for value in values.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
                    text.append(contentsOf: bytes[at..<value.range.lowerBound])
                    text.append(UInt8(ascii: "\""))
                    try seal(text: value.text, member: value.member, idTag: tag, key: key, nonce: random.bytes(SealingKey.nonceCount),
                             scratch: &sealed, into: &text)
                    text.append(UInt8(ascii: "\""))
                    at = value.range.upperBound
                }
                text.append(contentsOf: bytes[at...])
            }
            var replaced: EncodedEvent
            if event.type == .customerRegistered || event.type == .customerUpdated {
                // Their facts hold the profile: derived again from the sealed data, as the log would.
                replaced = try text.withUnsafeBufferPointer { data in
                    if event.schema < event.type.currentSchemaVersion, case .object(let object) = try JSONParser.parse(data) {
                        return EncodedEvent(Event(id: event.id, type: event.type, customer: event.customer, at: event.at,
                                                  schema: event.schema, data: object),
                                            dataText: String(decoding: data, as: UTF8.self), metaText: event.meta)
                    }
                    let facts = try tape.parse(data) { root in EventFacts.encode(type: event.type, at: event.at, data: root) }
                    return try event.withTexts { _, meta, _ in
                        facts.withUnsafeBytes { facts in
                            EncodedEvent(id: event.id, type: event.type, customer: event.customer, at: event.at, schema: event.schema,
                                         dataUTF8: data, metaUTF8: meta?.bindMemory(to: UInt8.self), facts: facts)
                        }
                    }
                }
            } else {
                // No personal member of the others is in their facts: those stay.
                replaced = text.withUnsafeBufferPointer { data in
                    event.withTexts { _, meta, facts in
                        EncodedEvent(id: event.id, type: event.type, customer: event.customer, at: event.at, schema: event.schema,
                                     dataUTF8: data, metaUTF8: meta?.bindMemory(to: UInt8.self), facts: facts)
                    }
                }
            }
            replaced.personalDataSealed = true
            events[index] = replaced
        }
    }

    /// Whether a sealed-looking value opens for this customer, member and event.
    private func isOpenable(_ text: String, _ event: EncodedEvent, _ member: String) -> Bool {
        if case .value = open(text, customer: event.customer, member: member, eventID: event.id) { return true }
        return false
    }

    /// `event` with its sealed members opened, and the members that could not be (left out of its data).
    public func reveal(_ event: Event) -> (event: Event, erased: [String], unavailable: [String]) {
        PersonalDataVault.reveal(event, with: self)
    }

    /// `reveal` with no vault: every sealed member is unavailable.
    public static func reveal(_ event: Event, with vault: PersonalDataVault?) -> (event: Event, erased: [String], unavailable: [String]) {
        var revealed = event
        var (erased, unavailable): ([String], [String]) = ([], [])
        for member in PersonalData.members(of: event.type) {
            guard case .string(let s)? = event.data[member], PersonalData.isSealed(s) else { continue }
            switch vault?.open(s, customer: event.customer, member: member, eventID: event.id) ?? .unavailable {
            case .value(let v): revealed.data[member] = v
            case .erased:
                revealed.data[member] = nil
                erased.append(member)
            case .unavailable:
                revealed.data[member] = nil
                unavailable.append(member)
            }
        }
        return (revealed, erased, unavailable)
    }
}

/// Standard base64 (with padding) of bytes given in parts, written straight into a byte array.
struct Base64Writer {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private var pending: (UInt8, UInt8) = (0, 0)
    private var count = 0

    mutating func append(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        if bytes.withContiguousStorageIfAvailable({ append(UnsafeRawBufferPointer($0), to: &out) }) != nil { return }
        for byte in bytes { append(byte, to: &out) }
    }

    private mutating func append(_ byte: UInt8, to out: inout [UInt8]) {
        switch count {
        case 0: pending.0 = byte; count = 1
        case 1: pending.1 = byte; count = 2
        default:
            let a = pending.0, b = pending.1, c = byte
            out.append(Self.alphabet[Int(a >> 2)])
            out.append(Self.alphabet[Int((a & 0x03) << 4 | b >> 4)])
            out.append(Self.alphabet[Int((b & 0x0F) << 2 | c >> 6)])
            out.append(Self.alphabet[Int(c & 0x3F)])
            count = 0
        }
    }

    mutating func append(_ raw: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let bytes = raw.bindMemory(to: UInt8.self)
        var i = 0
        // A group an earlier part began is finished a byte at a time.
        while count != 0 && i < bytes.count {
            append(bytes[i], to: &out)
            i += 1
        }
        // Whole groups written into room made for them at once: appending each character checked
        // the array's capacity and uniqueness four times a group.
        let groups = (bytes.count - i) / 3
        if groups > 0 {
            var w = out.count
            out.append(contentsOf: repeatElement(0, count: groups * 4))
            Self.alphabet.withUnsafeBufferPointer { alphabet in
                out.withUnsafeMutableBufferPointer { o in
                    for _ in 0..<groups {
                        let a = bytes[i], b = bytes[i + 1], c = bytes[i + 2]
                        o[w] = alphabet[Int(a >> 2)]
                        o[w + 1] = alphabet[Int((a & 0x03) << 4 | b >> 4)]
                        o[w + 2] = alphabet[Int((b & 0x0F) << 2 | c >> 6)]
                        o[w + 3] = alphabet[Int(c & 0x3F)]
                        w += 4
                        i += 3
                    }
                }
            }
        }
        // The rest waits for the next part, or `finish`.
        while i < bytes.count {
            append(bytes[i], to: &out)
            i += 1
        }
    }

    mutating func finish(_ out: inout [UInt8]) {
        let a = pending.0, b = pending.1
        switch count {
        case 1:
            out.append(Self.alphabet[Int(a >> 2)])
            out.append(Self.alphabet[Int((a & 0x03) << 4)])
            out.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "=")])
        case 2:
            out.append(Self.alphabet[Int(a >> 2)])
            out.append(Self.alphabet[Int((a & 0x03) << 4 | b >> 4)])
            out.append(Self.alphabet[Int((b & 0x0F) << 2)])
            out.append(UInt8(ascii: "="))
        default: break
        }
        count = 0
    }
}

/// Random nonces from the kernel's generator, taken 4 KiB at a time: one system call per 341
/// nonces instead of one each (a fresh random nonce per value, as AES-GCM needs).
struct RandomBytes {
    private var buffer: [UInt8]
    private var used: Int

    /// `count`: the bytes taken from the kernel at a time (one value's nonce needs no 4 KiB).
    init(count: Int = 4096) {
        buffer = [UInt8](repeating: 0, count: count)
        used = count
    }

    mutating func bytes(_ count: Int) throws -> ArraySlice<UInt8> {
        if used + count > buffer.count {
            // glibc's arc4random_buf: the kernel's generator (getrandom) behind a per-thread stream
            // cipher, one call for the whole buffer (swift-crypto's key generation read 8 bytes a call).
            buffer.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
            used = 0
        }
        defer { used += count }
        return buffer[used..<(used + count)]
    }
}

struct VaultError: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

extension EventLog {
    /// Seals personal data on every append from now on, with `vault`'s keys.
    public func attach(_ vault: PersonalDataVault) {
        self.vault = vault
    }

    /// Whether the log holds (or has held) sealed personal data: keys made anew would open none of it.
    public func holdsSealedData() throws -> Bool {
        try database.scalarInt("SELECT value FROM log_settings WHERE name = 'personal_data_sealed'") != nil
    }

    /// Marks the log as holding sealed data, in the append's transaction.
    func markSealed() throws {
        try database.cached("INSERT OR IGNORE INTO log_settings (name, value) VALUES ('personal_data_sealed', 1)").run()
        markedSealed = true
    }

    /// Opens the vault beside the log's file (see `PersonalDataVault.open`) and attaches it.
    /// Keys may be made only while the log holds nothing sealed.
    @discardableResult
    public func attachVault(environment: [String: String]) throws -> PersonalDataVault {
        let vault = PersonalDataVault.open(besideDatabase: database.path, environment: environment,
                                           mayCreate: !(try holdsSealedData()) && !database.isReadOnly)
        attach(vault)
        return vault
    }
}

/// What forgetting one customer did.
public struct ForgetOutcome: Sendable, Equatable {
    /// Whether a data key was deleted (false: forgotten before, or nothing personal was ever sealed).
    public var keyDeleted: Bool
    /// The `customer.forgotten` event's outcome (a duplicate when the same request came again).
    public var event: AppendOutcome
    /// Rejected input naming the customer, deleted (it is kept in clear for the shop to fix).
    public var rejectsRemoved: Int
    /// Whether the log held events of the customer before.
    public var hadEvents: Bool
}

extension EventLog {
    /// Forgets `customer`: deletes their data key, so everything sealed with it (in the log, its
    /// read models, the delivery queue) can no longer be read, deletes rejected input naming them,
    /// and appends `customer.forgotten` (id `id`) for folds and the reactor to act on.
    ///
    /// Order matters for a crash: the key goes first. A crash before the event leaves the data
    /// unreadable already, and a rerun (same request) deletes nothing more and appends the event.
    public func forget(_ customer: String, reason: String?, request: String?, id: String,
                       at: Timestamp, recorded: Timestamp) throws -> ForgetOutcome {
        guard let vault else { throw StoreError(.personalDataUnavailable, "no key vault is attached to the log") }
        guard customer != EventType.systemCustomer else {
            throw StoreError(.personalDataUnavailable, "\(EventType.systemCustomer) is not a customer")
        }
        let hadEvents = try database.scalarInt("SELECT count(*) FROM streams WHERE customer = ?1", [.text(customer)]) ?? 0 > 0
        let keyDeleted = try vault.forget(customer, at: at)
        var data = JSONObject()
        if let reason { data["reason"] = .string(reason) }
        if let request { data["request"] = .string(request) }
        let event = Event(id: id, type: .customerForgotten, customer: customer, at: at, data: data)
        // Freed space is zeroed while the rejects go, and the write-ahead log is emptied after.
        try database.execute("PRAGMA secure_delete=ON")
        defer { try? database.execute("PRAGMA secure_delete=FAST") }
        let (outcome, removed) = try database.inTransaction { () throws -> (AppendOutcome, Int) in
            let outcome = try appendInTransaction([EncodedEvent(event)], recorded: recorded)[0]
            var removed = 0
            if try database.tableExists("rejects") {
                try database.cached("DELETE FROM rejects WHERE instr(raw, ?1) > 0").run([.text(JSONValue.quoted(customer))])
                removed = database.changes
            }
            return (outcome, removed)
        }
        try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return ForgetOutcome(keyDeleted: keyDeleted, event: outcome, rejectsRemoved: removed, hadEvents: hadEvents)
    }
}

extension EventLog {
    /// Every customer whose id starts with `prefix` (`$system` aside), in id order: a shop's
    /// customers, for a shop's redaction.
    public func customers(withPrefix prefix: String) throws -> [String] {
        let statement = try database.prepare("SELECT customer FROM streams WHERE substr(customer, 1, ?2) = ?1 AND customer != ?3 ORDER BY customer")
        statement.bind(prefix, at: 1)
        statement.bind(Int64(prefix.unicodeScalars.count), at: 2)
        statement.bind(EventType.systemCustomer, at: 3)
        var customers: [String] = []
        while try statement.step() { customers.append(statement.text(0) ?? "") }
        return customers
    }
}
