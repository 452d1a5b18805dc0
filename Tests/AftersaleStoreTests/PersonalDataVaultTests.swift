import AftersaleCore
@testable import AftersaleStore
import AftersaleSQLite
import Foundation
import Testing

/// A master key as `openssl rand -base64 32` makes one.
private func newMasterKey() -> String {
    Data((0..<32).map { _ in UInt8.random(in: .min ... .max) }).base64EncodedString()
}

/// An event as a shop sends it, its data written as JSON.
private func sent(_ id: String, _ type: EventType, _ customer: String, _ at: String, _ data: String) -> EncodedEvent {
    EncodedEvent(Event(id: id, type: type, customer: customer, at: try! Timestamp.parse(at),
                       data: try! JSONParser.parse(data).objectValue!))
}

/// Anna's first weeks: registration, an order with an address, a review and a return, each
/// carrying personal data beside the shop's facts.
private let annaRegistered = sent("anna-reg", .customerRegistered, "anna", "2025-01-05T09:00:00Z", #"""
    {"email":"anna.keller@example.com","name":"Anna Keller","birthday":"1988-06-14","timezone":"Europe/Berlin","consent":{"email":true,"sms":false}}
    """#)
private let annaOrdered = sent("anna-o1", .orderPlaced, "anna", "2025-01-06T10:00:00Z", #"""
    {"order":"o-1","total":"59.80","currency":"EUR","lines":[{"sku":"TEA-SENCHA","quantity":2,"price":"14.90"},{"sku":"MUG-STONE","quantity":1,"price":"30.00"}],"shipping_address":{"street":"Lindenweg 17","city":"Kassel","postcode":"34117"},"phone":"+49 561 700 1234"}
    """#)
private let annaReviewed = sent("anna-rv1", .reviewPosted, "anna", "2025-01-12T20:00:00Z", #"""
    {"review":"r-1","sku":"MUG-STONE","rating":5,"order":"o-1","text":"Heavy, warm, keeps my Sunday tea hot."}
    """#)
private let annaReturned = sent("anna-ret", .returnRequested, "anna", "2025-01-20T10:00:00Z", #"""
    {"order":"o-1","return":"ret-1","lines":[{"sku":"TEA-SENCHA","quantity":1}],"reason":"bought one too many for my mother"}
    """#)
private let benRegistered = sent("ben-reg", .customerRegistered, "ben", "2025-01-10T09:00:00Z", #"""
    {"email":"ben.oduya@example.org","name":"Ben Oduya","timezone":"Europe/London","consent":{"email":true}}
    """#)
private let annasLife = [annaRegistered, annaOrdered, annaReviewed, annaReturned]

/// Words of Anna's personal data, none of which may appear in clear in the log.
private let annasWords = ["anna.keller@example.com", "Anna Keller", "1988-06-14", "Lindenweg", "34117", "700 1234",
                          "Sunday tea", "one too many for my mother"]

/// The `data` column as stored, by event id.
private func storedData(_ log: EventLog) throws -> [String: JSONObject] {
    let statement = try log.database.prepare("SELECT id, data FROM events ORDER BY position")
    var rows: [String: JSONObject] = [:]
    while try statement.step() {
        rows[statement.text(0)!] = try JSONParser.parse(statement.text(1)!).objectValue!
    }
    return rows
}

private func rowCount(_ log: EventLog) throws -> Int64 { try log.database.scalarInt("SELECT count(*) FROM events") ?? -1 }

/// Every file in `folder`, as bytes (the log, its write-ahead log, the keys, the master key).
private func bytesOfFiles(in folder: URL) throws -> [(name: String, bytes: Data)] {
    try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map {
        ($0, try Data(contentsOf: folder.appendingPathComponent($0)))
    }
}

/// The key generation a sealed value names (`sealed:1:GENERATION:...`).
private func generation(_ sealed: String) -> Int? {
    Int(sealed.dropFirst(PersonalData.sealedPrefix.count).prefix { $0 != ":" })
}

/// What each personal member of the customer's stored events opens to, as "event-id.member".
private func opened(_ log: EventLog, _ vault: PersonalDataVault, _ customer: String) throws -> [String: Revealed] {
    var result: [String: Revealed] = [:]
    for recorded in try log.stream(of: customer) {
        for member in PersonalData.members(of: recorded.event.type) {
            guard case .string(let s)? = recorded.event.data[member], PersonalData.isSealed(s) else { continue }
            result["\(recorded.event.id).\(member)"] = vault.open(s, customer: customer, member: member, eventID: recorded.event.id)
        }
    }
    return result
}

@Suite("Personal data sealed in the log, and forgetting a customer")
struct PersonalDataVaultTests {
    @Test("a sender's text that only starts like a sealed value is sealed like any other; a value that opens is left as it is")
    func lookalikesAreSealed() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("shop.db"))
        let vault = try log.attachVault(environment: [PersonalDataVault.masterKeyVariable: newMasterKey()])
        let lookalike = sent("anna-rv2", .reviewPosted, "anna", "2025-01-13T20:00:00Z", #"""
            {"review":"r-2","sku":"MUG-STONE","rating":1,"text":"sealed:1:0:my neighbour Mr Hallworth broke it"}
            """#)
        _ = try log.append([annaRegistered, lookalike], recorded: testClock)
        let stored = try #require(try storedData(log)["anna-rv2"]?["text"]?.stringValue)
        #expect(!stored.contains("Hallworth"))
        #expect(vault.open(stored, customer: "anna", member: "text", eventID: "anna-rv2")
                == .value(.string("sealed:1:0:my neighbour Mr Hallworth broke it")))
        // Sealed already (as the ingest's sealing stage hands it on): not sealed twice.
        let once = try vault.seal([annaOrdered])
        var again = once
        again[0].personalDataSealed = false
        #expect(try vault.seal(again)[0].data == once[0].data)
    }

    @Test("a log's page cache limit caps the keys file's cache too (a service keeps both open for its life)")
    func keysFileCacheLimited() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("shop.db"))
        let vault = try log.attachVault(environment: [PersonalDataVault.masterKeyVariable: newMasterKey()])
        try log.limitPageCache(mebibytes: 3)
        #expect(try log.database.scalarInt("PRAGMA cache_size") == -3 * 1024)
        #expect(vault.pageCacheSize == -3 * 1024)
    }

    @Test("personal members are stored sealed and open back to what was sent; the shop's facts stay exactly as sent")
    func sealedAtAppend() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("shop.db"))
        let vault = try log.attachVault(environment: [PersonalDataVault.masterKeyVariable: newMasterKey()])
        #expect(vault.problem == nil)
        let outcomes = try log.append(annasLife + [benRegistered], recorded: testClock)
        #expect(outcomes.allSatisfy { if case .appended = $0 { true } else { false } })

        let stored = try storedData(log)
        for event in annasLife + [benRegistered] {
            let sentData = try #require(try JSONParser.parse(event.data).objectValue)
            let row = try #require(stored[event.id])
            let personal = PersonalData.members(of: event.type)
            #expect(row.keys == sentData.keys, "\(event.id): the same members, in the same order")
            for member in sentData.keys {
                if personal.contains(member) {
                    let sealed = try #require(row[member]?.stringValue, "\(event.id).\(member) is a string once sealed")
                    #expect(sealed.hasPrefix(PersonalData.sealedPrefix), "\(event.id).\(member)")
                    #expect(vault.open(sealed, customer: event.customer, member: member, eventID: event.id) == .value(sentData[member]!),
                            "\(event.id).\(member) opens to what was sent")
                } else {
                    // Order ids, amounts, lines and SKUs, ratings, consent, timezone: for the models and analytics.
                    #expect(row[member] == sentData[member], "\(event.id).\(member) as sent")
                }
            }
        }
        let raw = try log.database.scalarText("SELECT group_concat(data, ' ') FROM events") ?? ""
        for word in annasWords + ["ben.oduya@example.org", "Ben Oduya"] { #expect(!raw.contains(word), "\(word) in clear in the log") }
        for (name, bytes) in try bytesOfFiles(in: scratch.url) {
            for word in annasWords { #expect(bytes.range(of: Data(word.utf8)) == nil, "\(word) in clear in \(name)") }
        }

        // Read back through the log: each event opens to what was sent, whole.
        for recorded in try log.stream(of: "anna") {
            let (revealed, erased, unavailable) = vault.reveal(recorded.event)
            let original = try #require(annasLife.first { $0.id == recorded.event.id })
            #expect(JSONValue.object(revealed.data) == (try JSONParser.parse(original.data)))
            #expect(erased.isEmpty && unavailable.isEmpty)
        }
    }

    @Test("a sealed value moved to another member, another event or another customer does not open")
    func sealedValuesAreBound() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("shop.db"))
        let vault = try log.attachVault(environment: [PersonalDataVault.masterKeyVariable: newMasterKey()])
        try log.append(annasLife + [benRegistered], recorded: testClock)
        let stored = try storedData(log)
        let email = try #require(stored["anna-reg"]?["email"]?.stringValue)
        let name = try #require(stored["anna-reg"]?["name"]?.stringValue)
        let text = try #require(stored["anna-rv1"]?["text"]?.stringValue)

        #expect(vault.open(email, customer: "anna", member: "email", eventID: "anna-reg") == .value("anna.keller@example.com"))
        // Another member of the same event.
        #expect(vault.open(email, customer: "anna", member: "name", eventID: "anna-reg") == .unavailable)
        #expect(vault.open(name, customer: "anna", member: "email", eventID: "anna-reg") == .unavailable)
        // The same member name in another event of hers, and her review's text put in its place.
        #expect(vault.open(email, customer: "anna", member: "email", eventID: "anna-o1") == .unavailable)
        #expect(vault.open(text, customer: "anna", member: "email", eventID: "anna-reg") == .unavailable)
        #expect(vault.open(email, customer: "anna", member: "text", eventID: "anna-rv1") == .unavailable)
        // Another customer's event: Ben's key opens none of Anna's values.
        #expect(vault.open(email, customer: "ben", member: "email", eventID: "ben-reg") == .unavailable)
        #expect(vault.open(email, customer: "ben", member: "email", eventID: "anna-reg") == .unavailable)
        // One byte changed in the ciphertext.
        var bytes = Array(email.utf8)
        bytes[bytes.count - 6] = bytes[bytes.count - 6] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(vault.open(String(decoding: bytes, as: UTF8.self), customer: "anna", member: "email", eventID: "anna-reg") == .unavailable)

        // Swapped in the file itself: the email and the name trade places, and the review's text
        // goes into the return's reason. Reading the log opens none of them, and shows nothing wrong.
        func replace(_ id: String, _ member: String, with value: String) throws {
            try log.database.cached("UPDATE events SET data = json_set(data, '$.' || ?2, ?3) WHERE id = ?1")
                .run([.text(id), .text(member), .text(value)])
        }
        try replace("anna-reg", "email", with: name)
        try replace("anna-reg", "name", with: email)
        try replace("anna-ret", "reason", with: text)
        let events = try log.stream(of: "anna")
        let registration = try #require(events.first { $0.event.id == "anna-reg" })
        let registered = vault.reveal(registration.event)
        #expect(Set(registered.unavailable) == ["email", "name"] && registered.event.data["email"] == nil && registered.event.data["name"] == nil)
        #expect(registered.event.data["birthday"] == .string("1988-06-14"), "what was not moved still opens")
        let returned = vault.reveal(try #require(events.first { $0.event.id == "anna-ret" }).event)
        #expect(returned.unavailable == ["reason"] && returned.event.data["reason"] == nil)
    }

    @Test("after forgetting, every sealed value of the customer reads erased, others still open; forgetting twice is harmless")
    func forgetErases() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("shop.db"))
        let vault = try log.attachVault(environment: [PersonalDataVault.masterKeyVariable: newMasterKey()])
        try log.append(annasLife + [benRegistered], recorded: testClock)
        let before = try opened(log, vault, "anna")
        #expect(before.count == 7 && before.values.allSatisfy { if case .value = $0 { true } else { false } })

        let at = try Timestamp.parse("2025-02-01T12:00:00Z")
        let outcome = try log.forget("anna", reason: "ticket 4711", request: "test", id: "forget-anna", at: at, recorded: at)
        #expect(outcome.keyDeleted && outcome.hadEvents)
        guard case .appended = outcome.event else { Issue.record("customer.forgotten not appended: \(outcome.event)"); return }

        let after = try opened(log, vault, "anna")
        #expect(Set(after.keys) == Set(before.keys))
        #expect(after.values.allSatisfy { $0 == .erased }, "\(after)")
        // The customer view opens without an event id: erased too.
        let email = try #require(try storedData(log)["anna-reg"]?["email"]?.stringValue)
        #expect(vault.open(email, customer: "anna", member: "email") == .erased)
        let forgotten = try #require(try log.stream(of: "anna").last)
        #expect(forgotten.event.type == .customerForgotten && forgotten.event.data["reason"] == .string("ticket 4711"))
        // Ben is not Anna.
        #expect(try opened(log, vault, "ben")["ben-reg.email"] == .value("ben.oduya@example.org"))

        // The key is gone from the keys file, not just from the vault's cache.
        let keys = try Database(path: scratch.path("shop.keys"), readOnly: true)
        #expect(try keys.scalarInt("SELECT count(*) FROM customer_keys WHERE customer = 'anna'") == 0)
        #expect(try keys.scalarInt("SELECT count(*) FROM customer_keys WHERE customer = 'ben'") == 1)

        let again = try log.forget("anna", reason: "ticket 4711", request: "test", id: "forget-anna", at: at, recorded: at)
        #expect(!again.keyDeleted)
        guard case .duplicate = again.event else { Issue.record("the same request again is a duplicate: \(again.event)"); return }
        let later = try log.forget("anna", reason: nil, request: nil, id: "forget-anna-2", at: at, recorded: at)
        #expect(!later.keyDeleted)
        #expect(try opened(log, vault, "anna").values.allSatisfy { $0 == .erased })
        #expect(try opened(log, vault, "ben")["ben-reg.email"] == .value("ben.oduya@example.org"))
    }

    @Test("a forget with the vault kept open, as serve keeps it: no file beside the log holds the key's salt any more")
    func forgetLeavesNoCopyOfTheSalt() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("shop.db"))
        let vault = try log.attachVault(environment: [PersonalDataVault.masterKeyVariable: newMasterKey()])
        try log.append(annasLife + [benRegistered], recorded: testClock)
        func salt(_ customer: String) throws -> Data {
            let keys = try Database(path: scratch.path("shop.keys"), readOnly: true)
            let hex = try #require(try keys.scalarText("SELECT hex(salt) FROM customer_keys WHERE customer = '\(customer)'"))
            return Data(stride(from: 0, to: hex.count, by: 2).map {
                UInt8(hex[hex.index(hex.startIndex, offsetBy: $0)...].prefix(2), radix: 16)!
            })
        }
        func filesHolding(_ bytes: Data) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).sorted().filter { name in
                FileManager.default.contents(atPath: scratch.url.appendingPathComponent(name).path)?.range(of: bytes) != nil
            }
        }
        let annasSalt = try salt("anna"), bensSalt = try salt("ben")
        #expect(try !filesHolding(annasSalt).isEmpty, "the salt is somewhere before the forget")

        let at = try Timestamp.parse("2025-02-01T12:00:00Z")
        #expect(try log.forget("anna", reason: nil, request: nil, id: "forget-anna", at: at, recorded: at).keyDeleted)
        #expect(try filesHolding(annasSalt) == [], "the keys file and its write-ahead log")
        #expect(try filesHolding(bensSalt) == ["shop.keys"], "Ben's key stays, in the keys file itself")
        #expect(try opened(log, vault, "ben")["ben-reg.email"] == .value("ben.oduya@example.org"))
        // The vault is still open and writes on: a new customer's key after the forget.
        try log.append([sent("cleo-reg", .customerRegistered, "cleo", "2025-02-02T09:00:00Z", #"{"email":"cleo@example.net"}"#)], recorded: testClock)
        #expect(try opened(log, vault, "cleo")["cleo-reg.email"] == .value("cleo@example.net"))
    }

    @Test("forgotten by another process: a batch here sees it at once, a single value within the recheck interval")
    func forgottenElsewhere() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("shop.db"))
        let master = newMasterKey()
        let here = try log.attachVault(environment: [PersonalDataVault.masterKeyVariable: master])
        try log.append(annasLife + [benRegistered], recorded: testClock)
        // The same keys file and master key through another vault, as `serve` holds one while the CLI forgets.
        try master.write(toFile: scratch.path("master.key"), atomically: true, encoding: .utf8)
        let elsewhere = PersonalDataVault.open(besideDatabase: scratch.path("shop.db"),
                                               environment: [PersonalDataVault.masterKeyFileVariable: scratch.path("master.key")], mayCreate: false)
        #expect(elsewhere !== here && elsewhere.problem == nil)
        let data = try storedData(log)
        let annasEmail = try #require(data["anna-reg"]?["email"]?.stringValue)
        let bensEmail = try #require(data["ben-reg"]?["email"]?.stringValue)
        #expect(elsewhere.open(annasEmail, customer: "anna", member: "email") == .value("anna.keller@example.com"))
        #expect(elsewhere.open(bensEmail, customer: "ben", member: "email") == .value("ben.oduya@example.org"))

        // Ahead of a batch, the keys file is asked again: Ben's key, cached elsewhere a moment ago, is gone.
        #expect(try here.forget("ben", at: testClock))
        elsewhere.prepare(customers: ["ben"])
        #expect(elsewhere.open(bensEmail, customer: "ben", member: "email") == .erased)

        // A single value, once the interval has passed since the last question.
        #expect(try here.forget("anna", at: testClock))
        Thread.sleep(forTimeInterval: Double(PersonalDataVault.recheckInterval.components.attoseconds) / 1e18 + 0.02)
        #expect(elsewhere.open(annasEmail, customer: "anna", member: "email") == .erased)
    }

    @Test("sent again after forgetting, an event is a duplicate that brings nothing back; a new event starts a new key")
    func afterForgetting() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("shop.db"))
        let vault = try log.attachVault(environment: [PersonalDataVault.masterKeyVariable: newMasterKey()])
        try log.append(annasLife, recorded: testClock)
        let oldEmail = try #require(try storedData(log)["anna-reg"]?["email"]?.stringValue)
        let at = try Timestamp.parse("2025-02-01T12:00:00Z")
        try log.forget("anna", reason: nil, request: nil, id: "forget-anna", at: at, recorded: at)

        // The shop's webhook sends her registration and order again, as they were.
        let resent = try log.append([annaRegistered, annaOrdered], recorded: testClock)
        #expect(resent == [.duplicate(position: 1), .duplicate(position: 2)])
        #expect(try rowCount(log) == 5)
        #expect(try opened(log, vault, "anna").values.allSatisfy { $0 == .erased }, "nothing comes back")
        #expect(vault.open(oldEmail, customer: "anna", member: "email") == .erased)

        // She registers again later: her new data is hers anew, sealed under a new key.
        let returning = sent("anna-reg-2", .customerUpdated, "anna", "2025-06-01T09:00:00Z",
                             #"{"email":"anna@new.example","name":"Anna K."}"#)
        let outcome = try log.append([returning], recorded: testClock)
        #expect(outcome == [.appended(position: 6, version: 6)])
        let newEmail = try #require(try storedData(log)["anna-reg-2"]?["email"]?.stringValue)
        #expect(PersonalData.isSealed(newEmail) && !newEmail.contains("anna@new.example"))
        #expect((generation(newEmail) ?? 0) > (generation(oldEmail) ?? .max), "a new key: \(newEmail.prefix(14)) after \(oldEmail.prefix(14))")
        let now = try opened(log, vault, "anna")
        #expect(now["anna-reg-2.email"] == .value("anna@new.example") && now["anna-reg-2.name"] == .value("Anna K."))
        #expect(now.filter { !$0.key.hasPrefix("anna-reg-2.") }.values.allSatisfy { $0 == .erased }, "\(now)")
        #expect(vault.open(oldEmail, customer: "anna", member: "email", eventID: "anna-reg") == .erased)
    }

    @Test("sent again with the same id: unchanged is a duplicate though its ciphertext differs, a changed personal value a conflict")
    func resentJudgedOnOpenedValues() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("shop.db"))
        let vault = try log.attachVault(environment: [PersonalDataVault.masterKeyVariable: newMasterKey()])
        try log.append(annasLife, recorded: testClock)
        let storedBefore = try storedData(log)

        // Sealed twice, the same event never reads the same (a fresh nonce each time).
        let sealedAgain = try #require(try vault.seal([annaRegistered]).first)
        #expect(sealedAgain.data != (try log.database.scalarText("SELECT data FROM events WHERE id = 'anna-reg'")))
        #expect(try JSONParser.parse(sealedAgain.data)["email"] != storedBefore["anna-reg"]?["email"])

        #expect(try log.append(annasLife, recorded: testClock) == [.duplicate(position: 1), .duplicate(position: 2),
                                                                 .duplicate(position: 3), .duplicate(position: 4)])
        // The same members in another order, other spacing: still the same event.
        let reordered = sent("anna-reg", .customerRegistered, "anna", "2025-01-05T09:00:00Z", #"""
            { "consent": {"sms":false, "email":true}, "timezone":"Europe/Berlin", "birthday":"1988-06-14", "name":"Anna Keller", "email":"anna.keller@example.com" }
            """#)
        #expect(try log.append([reordered], recorded: testClock) == [.duplicate(position: 1)])

        func changed(_ event: EncodedEvent, _ member: String, _ value: JSONValue) -> EncodedEvent {
            var data = try! JSONParser.parse(event.data).objectValue!
            data[member] = value
            return EncodedEvent(Event(id: event.id, type: event.type, customer: event.customer, at: event.at, data: data))
        }
        #expect(try log.append([changed(annaRegistered, "email", "someone.else@example.com")], recorded: testClock) == [.conflict(position: 1)])
        #expect(try log.append([changed(annaOrdered, "shipping_address", .object(JSONObject(["street": "Elsewhere 1"])))],
                               recorded: testClock) == [.conflict(position: 2)])
        #expect(try log.append([changed(annaReviewed, "text", "Rewritten.")], recorded: testClock) == [.conflict(position: 3)])
        // A personal value left out is a change too; and a changed fact, as ever.
        #expect(try log.append([changed(annaReturned, "reason", .null)], recorded: testClock) == [.conflict(position: 4)])
        #expect(try log.append([changed(annaOrdered, "total", "69.80")], recorded: testClock) == [.conflict(position: 2)])

        // Nothing was overwritten: the log holds what was first sent, and it still opens to it.
        #expect(try rowCount(log) == 4)
        #expect(try storedData(log) == storedBefore)
        #expect(try opened(log, vault, "anna")["anna-reg.email"] == .value("anna.keller@example.com"))
    }

    @Test("a wrong master key: the vault says so, values are unavailable, and personal data is refused, never stored in clear")
    func wrongMasterKey() throws {
        let scratch = Scratch()
        let right = [PersonalDataVault.masterKeyVariable: newMasterKey()]
        let log = try EventLog(path: scratch.path("shop.db"))
        try log.attachVault(environment: right)
        try log.append([annaRegistered, annaOrdered], recorded: testClock)
        func keysHeld() throws -> String? {
            try Database(path: scratch.path("shop.keys"), readOnly: true)
                .scalarText("SELECT group_concat(customer || ':' || generation || ':' || hex(salt), ' ') FROM customer_keys")
        }
        let keysBefore = try #require(try keysHeld())
        let keysFileBefore = try Data(contentsOf: scratch.url.appendingPathComponent("shop.keys"))

        let elsewhere = try EventLog(path: scratch.path("shop.db"))
        let wrong = try elsewhere.attachVault(environment: [PersonalDataVault.masterKeyVariable: newMasterKey()])
        #expect(try Data(contentsOf: scratch.url.appendingPathComponent("shop.keys")) == keysFileBefore, "a wrong key writes nothing to the keys file")
        let problem = try #require(wrong.problem)
        #expect(problem.contains("does not open the keys"), "\(problem)")
        let email = try #require(try storedData(elsewhere)["anna-reg"]?["email"]?.stringValue)
        #expect(wrong.open(email, customer: "anna", member: "email", eventID: "anna-reg") == .unavailable)
        let registration = wrong.reveal(try #require(try elsewhere.stream(of: "anna").first).event)
        #expect(Set(registration.unavailable) == ["email", "name", "birthday"] && registration.erased.isEmpty)
        #expect(registration.event.data["timezone"] == .string("Europe/Berlin"))

        // New personal data: refused whole, nothing written.
        let head = try elsewhere.head()
        let update = sent("anna-upd", .customerUpdated, "anna", "2025-02-01T09:00:00Z", #"{"email":"anna.new@example.com","timezone":"Europe/Paris"}"#)
        let newcomer = sent("cara-reg", .customerRegistered, "cara", "2025-02-01T09:00:00Z", #"{"email":"cara@example.com"}"#)
        for batch in [[update], [newcomer], [sent("anna-o2", .orderPlaced, "anna", "2025-02-02T09:00:00Z", #"{"order":"o-2","total":"5.00","currency":"EUR","lines":[]}"#), update]] {
            #expect {
                try elsewhere.append(batch, recorded: testClock)
            } throws: { ($0 as? StoreError)?.code == .personalDataUnavailable }
        }
        #expect(try elsewhere.head() == head && (try rowCount(elsewhere)) == 2)
        #expect(try log.head() == head)
        for (name, bytes) in try bytesOfFiles(in: scratch.url) {
            for word in ["anna.new@example.com", "cara@example.com", "Anna Keller"] {
                #expect(bytes.range(of: Data(word.utf8)) == nil, "\(word) in clear in \(name)")
            }
        }
        // Forgetting needs the keys too.
        #expect(throws: StoreError.self) {
            try elsewhere.forget("anna", reason: nil, request: nil, id: "f", at: testClock, recorded: testClock)
        }
        // The shop's numbers keep coming: an event with nothing personal is appended.
        let order = sent("anna-o3", .orderPlaced, "anna", "2025-02-03T09:00:00Z", #"{"order":"o-3","total":"5.00","currency":"EUR","lines":[]}"#)
        #expect(try elsewhere.append([order], recorded: testClock) == [.appended(position: 3, version: 3)])

        // The keys file is as it was, and the right key still opens everything.
        #expect(try keysHeld() == keysBefore)
        let again = try EventLog(path: scratch.path("shop.db"))
        let vault = try again.attachVault(environment: right)
        #expect(vault.problem == nil)
        #expect(vault.open(email, customer: "anna", member: "email", eventID: "anna-reg") == .value("anna.keller@example.com"))
    }

    @Test("a log with sealed data whose keys file or master key is missing: a problem, no crash, and no new keys made")
    func missingKeys() throws {
        // The embedded default: the master key file is made beside the database on first use.
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("shop.db"))
        let first = try log.attachVault(environment: [:])
        #expect(first.problem == nil && first.createdMasterKeyFile == scratch.path("shop.master-key"))
        try log.append([annaRegistered, benRegistered], recorded: testClock)
        #expect(try log.holdsSealedData())
        let email = try #require(try storedData(log)["anna-reg"]?["email"]?.stringValue)

        try FileManager.default.removeItem(atPath: scratch.path("shop.keys"))
        // Named through its file this time: the process's vault for the default is not taken.
        let reopened = try EventLog(path: scratch.path("shop.db"))
        let vault = try reopened.attachVault(environment: [PersonalDataVault.masterKeyFileVariable: scratch.path("shop.master-key")])
        let problem = try #require(vault.problem)
        #expect(problem.contains("missing"), "\(problem)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("shop.keys")), "no keys made anew")
        #expect(vault.open(email, customer: "anna", member: "email", eventID: "anna-reg") == .unavailable)
        #expect(try reopened.stream(of: "anna").map { vault.reveal($0.event).unavailable } == [["email", "name", "birthday"]])
        #expect {
            try reopened.append([sent("anna-upd", .customerUpdated, "anna", "2025-02-01T09:00:00Z", #"{"email":"anna.new@example.com"}"#)],
                                recorded: testClock)
        } throws: { ($0 as? StoreError)?.code == .personalDataUnavailable }
        #expect(throws: StoreError.self) {
            try reopened.forget("anna", reason: nil, request: nil, id: "f", at: testClock, recorded: testClock)
        }
        #expect(try rowCount(reopened) == 2)
        #expect(!FileManager.default.fileExists(atPath: scratch.path("shop.keys")), "no keys made by an append or a forget")

        // A master key that came from the environment, absent later: no key file is made in its place.
        let other = Scratch()
        let sealedLog = try EventLog(path: other.path("shop.db"))
        try sealedLog.attachVault(environment: [PersonalDataVault.masterKeyVariable: newMasterKey()])
        try sealedLog.append([annaRegistered], recorded: testClock)
        let keyless = try EventLog(path: other.path("shop.db"))
        let noKey = try keyless.attachVault(environment: [:])
        #expect(noKey.problem?.contains("no master key") == true, "\(noKey.problem ?? "no problem")")
        #expect(noKey.createdMasterKeyFile == nil && !FileManager.default.fileExists(atPath: other.path("shop.master-key")))
        #expect(try keyless.stream(of: "anna").count == 1)
        #expect(noKey.reveal(try keyless.stream(of: "anna")[0].event).unavailable == ["email", "name", "birthday"])
    }
}
