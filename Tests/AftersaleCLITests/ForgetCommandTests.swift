import AftersaleSQLite
import Foundation
import Testing

/// A small tea shop's first quarter, as its webhooks sent it: three customers who registered with
/// e-mail, name and birthday, ordered to their addresses, reviewed and returned things in their own words.
private let teaShop = ndjson([
    #"{"id":"anna-reg","type":"customer.registered","customer":"anna","at":"2025-01-05T09:00:00Z","data":{"email":"anna.keller@example.com","name":"Anna Keller","birthday":"1988-06-14","timezone":"Europe/Berlin","consent":{"email":true,"sms":true}}}"#,
    #"{"id":"anna-o1","type":"order.placed","customer":"anna","at":"2025-01-06T10:00:00Z","data":{"order":"o-1","total":"59.80","currency":"EUR","lines":[{"sku":"TEA-SENCHA","quantity":2,"price":"14.90","category":"tea"},{"sku":"MUG-STONE","quantity":1,"price":"30.00","category":"ceramics"}],"shipping_address":{"street":"Lindenweg 17","city":"Kassel","postcode":"34117"}}}"#,
    #"{"id":"anna-s1","type":"shipment.dispatched","customer":"anna","at":"2025-01-07T08:00:00Z","data":{"order":"o-1","carrier":"DHL","tracking":"JJD001"}}"#,
    #"{"id":"anna-d1","type":"shipment.delivered","customer":"anna","at":"2025-01-09T15:00:00Z","data":{"order":"o-1"}}"#,
    #"{"id":"anna-rv1","type":"review.posted","customer":"anna","at":"2025-01-12T20:00:00Z","data":{"review":"r-1","sku":"MUG-STONE","rating":5,"order":"o-1","text":"Heavy, warm, keeps my Sunday tea hot."}}"#,
    #"{"id":"ben-reg","type":"customer.registered","customer":"ben","at":"2025-01-10T09:00:00Z","data":{"email":"ben.oduya@example.org","name":"Ben Oduya","birthday":"1990-02-20","timezone":"Europe/London","consent":{"email":true,"sms":true}}}"#,
    #"{"id":"ben-o1","type":"order.placed","customer":"ben","at":"2025-01-11T11:00:00Z","data":{"order":"o-2","total":"104.40","currency":"EUR","lines":[{"sku":"KETTLE-GLASS","quantity":1,"price":"89.50","category":"equipment"},{"sku":"TEA-SENCHA","quantity":1,"price":"14.90","category":"tea"}],"shipping_address":{"street":"Harbour Row 4","city":"Bristol","postcode":"BS1 5TT"},"phone":"+44 7700 900123"}}"#,
    #"{"id":"ben-s1","type":"shipment.dispatched","customer":"ben","at":"2025-01-12T08:00:00Z","data":{"order":"o-2","carrier":"UPS","tracking":"1Z002"}}"#,
    #"{"id":"ben-d1","type":"shipment.delivered","customer":"ben","at":"2025-01-14T15:00:00Z","data":{"order":"o-2"}}"#,
    #"{"id":"ben-rv1","type":"review.posted","customer":"ben","at":"2025-01-20T20:00:00Z","data":{"review":"r-2","sku":"KETTLE-GLASS","rating":2,"order":"o-2","text":"Pours well, but the lid rattles like my grandmother's."}}"#,
    #"{"id":"ben-ret","type":"return.requested","customer":"ben","at":"2025-01-21T10:00:00Z","data":{"order":"o-2","return":"ret-2","lines":[{"sku":"TEA-SENCHA","quantity":1}],"reason":"ordered twice by mistake on my flat share's account"}}"#,
    #"{"id":"ben-ref","type":"return.refunded","customer":"ben","at":"2025-01-25T10:00:00Z","data":{"order":"o-2","return":"ret-2","amount":"14.90","currency":"EUR"}}"#,
    #"{"id":"chloe-reg","type":"customer.registered","customer":"chloe","at":"2025-02-01T09:00:00Z","data":{"email":"chloe.martin@example.net","name":"Chloe Martin","timezone":"Europe/Paris","consent":{"email":true}}}"#,
    #"{"id":"chloe-o1","type":"order.placed","customer":"chloe","at":"2025-02-02T12:00:00Z","data":{"order":"o-3","total":"44.80","currency":"EUR","lines":[{"sku":"TEA-SENCHA","quantity":1,"price":"14.90","category":"tea"},{"sku":"MUG-STONE","quantity":1,"price":"29.90","category":"ceramics"}],"shipping_address":{"street":"Rue des Lilas 9","city":"Lyon","postcode":"69003"}}}"#,
    #"{"id":"anna-o2","type":"order.placed","customer":"anna","at":"2025-03-02T10:00:00Z","data":{"order":"o-4","total":"29.80","currency":"EUR","lines":[{"sku":"TEA-SENCHA","quantity":2,"price":"14.90","category":"tea"}],"shipping_address":{"street":"Lindenweg 17","city":"Kassel","postcode":"34117"}}}"#,
    #"{"id":"anna-ret","type":"return.requested","customer":"anna","at":"2025-03-08T10:00:00Z","data":{"order":"o-4","return":"ret-1","lines":[{"sku":"TEA-SENCHA","quantity":1}],"reason":"bought one too many for my mother"}}"#,
    #"{"id":"ben-o2","type":"order.placed","customer":"ben","at":"2025-03-10T09:30:00Z","data":{"order":"o-5","total":"29.90","currency":"EUR","lines":[{"sku":"MUG-STONE","quantity":1,"price":"29.90","category":"ceramics"}],"shipping_address":{"street":"Harbour Row 4","city":"Bristol","postcode":"BS1 5TT"}}}"#,
    #"{"id":"ben-s2","type":"shipment.dispatched","customer":"ben","at":"2025-03-11T08:00:00Z","data":{"order":"o-5","carrier":"UPS","tracking":"1Z005"}}"#,
])

/// What Ben told the shop about himself, word for word.
private let bensWords = ["ben.oduya@example.org", "Ben Oduya", "1990-02-20", "Harbour Row", "BS1 5TT", "+44 7700 900123",
                         "lid rattles", "grandmother", "ordered twice by mistake", "flat share"]

/// The shop's numbers, as the exports give them (none names a person; some carry their words).
private let numberExports = ["customers", "orders", "reviews", "returns", "cohorts", "products"]

/// Ben's columns that forgetting him may change: his consent is withdrawn, his words are gone, and
/// his last event is the forgetting itself.
private let bensPersonalColumns: [String: Set<String>] = [
    "customers": ["email_consent", "sms_consent", "push_consent", "last_event_at"],
    "reviews": ["text"],
    "returns": ["reason"],
]

/// Which of `words` (or `blobs`) appear, byte for byte, in which file of `folder`.
///
/// The files are copied by another process and the copies read: closing a file of the database in
/// this process would drop the locks of the connection the test holds on it (POSIX locks are the
/// process's), and the next command to close would fold and delete the write-ahead log.
private func clearText(in folder: String, _ words: [String], blobs: [Data] = []) throws -> [String] {
    let copy = folder + "-copy-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: copy) }
    let cp = try Process.run(URL(fileURLWithPath: "/bin/cp"), arguments: ["-R", folder, copy])
    cp.waitUntilExit()
    guard cp.terminationStatus == 0 else { return ["cannot copy \(folder)"] }
    var found: [String] = []
    for name in try FileManager.default.contentsOfDirectory(atPath: copy).sorted() {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: copy).appendingPathComponent(name))
        for word in words where bytes.range(of: Data(word.utf8)) != nil { found.append("\(name): \(word)") }
        for blob in blobs where bytes.range(of: blob) != nil { found.append("\(name): a data key (\(blob.count) bytes)") }
    }
    return found
}

private func expectNothingInClear(in folder: String, _ words: [String], blobs: [Data] = [],
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
    let found = try clearText(in: folder, words, blobs: blobs)
    #expect(found.isEmpty, "in the files beside the database: \(found)", sourceLocation: sourceLocation)
}

@Suite("aftersale forget, end to end", .serialized)
struct ForgetCommandTests {
    @Test("""
        a forgotten customer's words are gone from every file beside the database, his views read erased, \
        his pending commands are cancelled, the shop's numbers do not move, and sending the shop's file again brings nothing back
        """)
    func forgettingBen() throws {
        var cli = CLI()
        defer { cli.cleanUp() }
        let now = "2025-03-20T00:00:00Z"
        cli.environment["AFTERSALE_NOW"] = now
        // The embedded default: the master key in a file made beside the database.
        for variable in ["AFTERSALE_MASTER_KEY", "AFTERSALE_MASTER_KEY_FILE", "AFTERSALE_KEYS_FILE"] {
            cli.environment[variable] = ""
        }
        // The database in a folder of its own; the shop's file (Ben's words in clear) outside it.
        let folder = cli.path("data")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let db = cli.path("data/shop.db")
        let input = cli.write("shop.ndjson", teaShop)

        let ingest = try cli.run(["ingest", "--db", db, input])
        #expect(ingest.status == 0 && ingest.stdout == "appended 18, duplicates 0, rejected 0\n", "\(ingest.stdout)\(ingest.stderr)")
        // A connection held open, as `serve` holds one: the write-ahead log stays beside the file to be searched.
        let reader = try Database(path: db)
        _ = try reader.scalarInt("SELECT count(*) FROM events")

        // Before: Ben's words are sealed, never in clear; his data key is in the keys file.
        try expectNothingInClear(in: folder, bensWords)
        let bensKey = try #require(try Database(path: cli.path("data/shop.keys"), readOnly: true)
            .scalarText("SELECT hex(salt) FROM customer_keys WHERE customer = 'ben'"))
        let keyBytes = Data(stride(from: 0, to: bensKey.count, by: 2).map {
            UInt8(bensKey[bensKey.index(bensKey.startIndex, offsetBy: $0)...].prefix(2), radix: 16)!
        })
        // In the keys file itself once the command has ended: its write-ahead log was copied in.
        let keyFound = try clearText(in: folder, [], blobs: [keyBytes])
        #expect(keyFound == ["shop.keys: a data key (\(keyBytes.count) bytes)"], "\(keyFound)")
        let personal = try json(try cli.run(["customer", "ben", "--db", db, "--personal-data"]).stdout)
        #expect(personal["personal_data"] as? String == "available")
        #expect((personal["profile"] as? [String: Any])?["email"] as? String == "ben.oduya@example.org")

        // The reactor has run; the shop's numbers as they stand.
        let before = try commandsJSON(try cli.run(["actions", "--db", db, "--json", "--status", "all"]).stdout)
        let bensPending = before.filter { $0["customer"] as? String == "ben" && $0["status"] as? String == "pending" }
        #expect(bensPending.count >= 3, "Ben has commands waiting: \(bensPending.compactMap { $0["id"] })")
        func exports(_ label: String) throws -> [String: (header: [String], rows: [[String]])] {
            var tables: [String: (header: [String], rows: [[String]])] = [:]
            for kind in numberExports {
                let out = cli.path("\(kind).\(label).csv")
                let run = try cli.run(["export", kind, "--db", db, "--as-of", "2025-03-20", "--out", out])
                #expect(run.status == 0, "\(kind): \(run.stderr)")
                tables[kind] = try readCSV(try String(contentsOfFile: out, encoding: .utf8))
            }
            return tables
        }
        let numbersBefore = try exports("before")
        #expect(numbersBefore["reviews"]!.rows.contains { $0.contains("Pours well, but the lid rattles like my grandmother's.") })
        #expect(try cli.run(["report", "--db", db, "--out", cli.path("before.html")]).status == 0)

        // Ben asks to be forgotten.
        let forget = try cli.run(["forget", "ben", "--db", db, "--reason", "ticket 4711"])
        #expect(forget.status == 0, "\(forget.stderr)")
        #expect(forget.stdout.contains("forgot ben; deleted their data key"), "\(forget.stdout)")

        // Every file beside the database: the log, its write-ahead log and shared memory, the keys, the master key.
        let files = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(Set(files).isSuperset(of: ["shop.db", "shop.db-wal", "shop.db-shm", "shop.keys", "shop.master-key"]), "\(files.sorted())")
        try expectNothingInClear(in: folder, bensWords, blobs: [keyBytes])

        // His views: erased, not one e-mail address.
        let customerRun = try cli.run(["customer", "ben", "--db", db, "--personal-data"])
        let erased = try json(customerRun.stdout)
        #expect(erased["personal_data"] as? String == "erased")
        let profile = try #require(erased["profile"] as? [String: Any])
        #expect(profile["email"] is NSNull && profile["name"] is NSNull && profile["birthday"] is NSNull)
        #expect(profile["forgotten"] as? String == now)
        let events = try #require(erased["events"] as? [[String: Any]])
        #expect(events.count == 10, "his orders stay, and the forgetting is one more event")
        let registration = try #require(events.first { $0["id"] as? String == "ben-reg" })
        #expect(Set(registration["erased"] as? [String] ?? []) == ["email", "name", "birthday"])
        let log = try cli.run(["log", "--db", db, "--customer", "ben"])
        #expect(log.status == 0 && log.stdout.contains(#""order":"o-2""#) && log.stdout.contains(#""type":"customer.forgotten""#))
        for text in [customerRun.stdout, log.stdout, try cli.run(["customer", "ben", "--db", db]).stdout] {
            #expect(!bensWords.contains { text.contains($0) }, "\(text)")
            #expect(!text.contains("@"), "no e-mail address: \(text)")
        }
        // Anna is not Ben.
        let anna = try json(try cli.run(["customer", "anna", "--db", db, "--personal-data"]).stdout)
        #expect(anna["personal_data"] as? String == "available")
        #expect((anna["profile"] as? [String: Any])?["email"] as? String == "anna.keller@example.com")
        let annasLog = try cli.run(["log", "--db", db, "--customer", "anna"]).stdout
        #expect(annasLog.contains("Lindenweg 17") && annasLog.contains("Sunday tea") && annasLog.contains("one too many for my mother"))

        // The report, before the reactor's next run, is the same file; the shop's numbers are the same,
        // but for Ben's own words and consent.
        #expect(try cli.run(["report", "--db", db, "--out", cli.path("after.html")]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: cli.path("after.html"))) == Data(contentsOf: URL(fileURLWithPath: cli.path("before.html"))))
        let numbersAfter = try exports("after")
        for kind in numberExports {
            let (old, new) = (numbersBefore[kind]!, numbersAfter[kind]!)
            #expect(new.header == old.header && new.rows.count == old.rows.count, "\(kind)")
            guard new.header == old.header, new.rows.count == old.rows.count else { continue }
            let customer = old.header.firstIndex(of: "customer_id")
            let mayChange = Set((bensPersonalColumns[kind] ?? []).compactMap { old.header.firstIndex(of: $0) })
            for (was, row) in zip(old.rows, new.rows) {
                let his = customer.map { was[$0] == "ben" } ?? false
                for column in old.header.indices where !(his && mayChange.contains(column)) {
                    #expect(row[column] == was[column], "\(kind) \(was.first ?? ""): \(old.header[column]) \(was[column]) -> \(row[column])")
                }
                if his {
                    for column in mayChange where ["text", "reason"].contains(old.header[column]) {
                        #expect(!was[column].isEmpty && row[column].isEmpty, "\(kind): his \(old.header[column]) is gone")
                    }
                }
            }
        }
        let customers = numbersAfter["customers"]!
        let bensRow = try #require(customers.rows.first { $0.first == "ben" })
        for column in ["email_consent", "sms_consent", "push_consent"] {
            #expect(bensRow[try #require(customers.header.firstIndex(of: column))] == "false", "\(column): no play contacts him again")
        }

        // The reactor's next run cancels every command of his that was waiting, and nothing else changes.
        let actions = try cli.run(["actions", "--db", db, "--json"])
        #expect(actions.status == 0 && !actions.stdout.contains(#""customer":"ben""#), "\(actions.stdout)")
        let after = try commandsJSON(try cli.run(["actions", "--db", db, "--json", "--status", "all"]).stdout)
        #expect(!after.contains { $0["customer"] as? String == "ben" && $0["status"] as? String == "pending" })
        #expect(Set(after.compactMap { $0["id"] as? String }) == Set(before.compactMap { $0["id"] as? String }), "no command made or lost")
        let forgetID = try #require(events.last?["id"] as? String)
        for command in bensPending {
            let settled = try #require(after.first { $0["id"] as? String == command["id"] as? String })
            #expect(settled["status"] as? String == "cancelled", "\(command["id"] ?? "")")
            #expect((settled["status_reason"] as? String)?.contains("customer forgotten") == true, "\(settled["status_reason"] ?? "")")
            #expect(settled["cancelled_by"] as? String == forgetID)
        }
        // His birthday offers lose the date they carried: their due time was his birthday.
        let birthdayOffers = after.filter { $0["customer"] as? String == "ben" && $0["kind"] as? String == "birthday_offer" }
        #expect(!birthdayOffers.isEmpty, "the shop made him a birthday offer before he was forgotten")
        for offer in birthdayOffers {
            #expect(!(offer["due"] as? String ?? "").contains("-02-20") && !(offer["reason"] as? String ?? "").contains("-02-20"), "\(offer)")
        }
        try expectNothingInClear(in: folder, ["-02-20T09:00"])
        let cancelled = Set(bensPending.compactMap { $0["id"] as? String })
        let untouched = { (commands: [[String: Any]]) in
            commands.filter { !cancelled.contains($0["id"] as? String ?? "") && !($0["customer"] as? String == "ben" && $0["kind"] as? String == "birthday_offer") }
                .map { try! JSONSerialization.data(withJSONObject: $0, options: .sortedKeys) }
        }
        #expect(untouched(after) == untouched(before), "the others' commands, and his that were settled, are as they were")
        try expectNothingInClear(in: folder, bensWords, blobs: [keyBytes])

        // The shop's webhook retries send everything again: duplicates, and Ben stays forgotten.
        let again = try cli.run(["ingest", "--db", db, input])
        #expect(again.status == 0 && again.stdout == "appended 0, duplicates 18, rejected 0\n", "\(again.stdout)\(again.stderr)")
        let stillErased = try json(try cli.run(["customer", "ben", "--db", db, "--personal-data"]).stdout)
        #expect(stillErased["personal_data"] as? String == "erased")
        #expect((stillErased["profile"] as? [String: Any])?["email"] is NSNull)
        let logAgain = try cli.run(["log", "--db", db, "--customer", "ben"]).stdout
        #expect(!bensWords.contains { logAgain.contains($0) } && !logAgain.contains("@"), "\(logAgain)")
        try expectNothingInClear(in: folder, bensWords, blobs: [keyBytes])
        let reactorAgain = try commandsJSON(try cli.run(["actions", "--db", db, "--json", "--status", "all"]).stdout)
        #expect(!reactorAgain.contains { $0["customer"] as? String == "ben" && $0["status"] as? String == "pending" })
        #expect(try exports("again").mapValues { $0.rows } == numbersAfter.mapValues { $0.rows })
        _ = reader
    }

    @Test("a command ending while another process (serve) writes the keys file does not wait for it at exit")
    func exitBesideAWriter() throws {
        var cli = CLI()
        defer { cli.cleanUp() }
        for variable in ["AFTERSALE_MASTER_KEY", "AFTERSALE_MASTER_KEY_FILE", "AFTERSALE_KEYS_FILE"] {
            cli.environment[variable] = ""
        }
        let db = cli.path("shop.db")
        let ingest = try cli.run(["ingest", "--db", db, cli.write("shop.ndjson", teaShop)])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        // Another process in the middle of a keys transaction, as serve's intake often is.
        let writer = try Database(path: cli.path("shop.keys"))
        try writer.execute("BEGIN IMMEDIATE")
        defer { try? writer.execute("ROLLBACK") }
        let started = Date()
        let read = try cli.run(["customer", "ben", "--db", db, "--personal-data"])
        let seconds = Date().timeIntervalSince(started)
        #expect(read.status == 0 && read.stdout.contains("ben.oduya@example.org"), "\(read.stderr)")
        // Waiting would take the busy timeout (10 s) before its exit went on without the checkpoint.
        #expect(seconds < Double(Database.busyTimeoutMillis) / 2000, "the command took \(seconds) s")
    }
}
