import AftersaleAnalytics
import AftersaleCore
import AftersaleOutbox
import AftersaleProjections
import AftersaleReactor
import AftersaleStore
import Foundation
import Testing

@Suite("A log written before personal data was sealed")
struct SealingMigrationTests {
    static let shop = """
        {"id":"e1","type":"customer.registered","customer":"c-1","at":"2025-02-01T10:00:00+01:00","data":{"email":"anna.keller@example.org","name":"Anna Keller","birthday":"1990-07-21","timezone":"Europe/Berlin","consent":{"email":true}}}
        {"id":"e2","type":"order.placed","customer":"c-1","at":"2025-02-03T19:45:10+01:00","data":{"order":"o-1","total":"59.80","currency":"EUR","lines":[{"sku":"TEA-1","quantity":2,"price":"14.90"}],"shipping_address":{"city":"Berlin","street":"Hauptstrasse 5"}}}
        {"id":"e3","type":"shipment.delivered","customer":"c-1","at":"2025-02-05T12:00:00+01:00","data":{"order":"o-1"}}
        {"id":"e4","type":"review.posted","customer":"c-1","at":"2025-02-10T10:00:00+01:00","data":{"review":"r-1","sku":"TEA-1","rating":2,"text":"the tin arrived dented, Anna"}}
        {"id":"e5","type":"customer.registered","customer":"c-2","at":"2025-02-01T11:00:00Z","data":{"email":"bruno.diaz@example.org","name":"Bruno Diaz","birthday":"--03-09"}}
        {"id":"e6","type":"order.placed","customer":"c-2","at":"2025-02-04T09:00:00Z","data":{"order":"o-2","total":"12.00","currency":"EUR","lines":[{"sku":"MUG-1","quantity":1,"price":"12.00"}]}}
        """
    static let secrets = ["anna.keller@example.org", "Anna Keller", "Hauptstrasse", "arrived dented", "bruno.diaz@example.org", "Bruno Diaz", "1990-07-21"]

    /// The secrets found in any file of the folder.
    static func found(in folder: URL) throws -> [String] {
        var found: Set<String> = []
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else { continue }
            for secret in secrets where data.range(of: Data(secret.utf8)) != nil { found.insert(secret) }
        }
        return found.sorted()
    }

    @Test("the first command seals what the log, the read model and the reactor kept in clear, once, and the shop reads as before")
    func sealsOnce() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        var clearProfile = ""
        let db = cli.path("shop.db")
        let now = try Timestamp.parse("2025-03-01T00:00:00Z")
        // As an earlier version left it: events, the customers read model and the reactor's states in clear.
        do {
            let log = try EventLog(path: db)
            let validator = EventValidator(now: now)
            let events = try Self.shop.split(separator: "\n").map { EncodedEvent(try validator.decode(line: String($0))) }
            _ = try log.append(events, recorded: now)
            try CustomerProjection(log: log).catchUp()
            clearProfile = try #require(try CustomerProfile.load("c-1", from: log, at: now)).json
            _ = try ReactorStore(log: log, parallelism: 1).run(until: now, engine: ReactorEngine(configuration: ReactorConfiguration()))
        }
        #expect(try Self.found(in: cli.directory) == Self.secrets.sorted(), "the earlier version kept every one in clear")

        let first = try cli.run(["customer", "c-1", "--db", db, "--now", "2025-03-01T00:00:00Z", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("Sealing the personal data already in"))
        #expect(first.stderr.contains("Sealed the personal data of 4 events, 4 stored states"), "\(first.stderr)")
        let profile = try #require(try JSONParser.parse(first.stdout).objectValue)
        let earlier = try #require(try JSONParser.parse(clearProfile).objectValue)
        for field in ["order_count", "historical_value", "stage", "consent", "timezone", "birthday", "name"] {
            #expect(profile[field] == earlier[field], "\(field) as before")
        }
        #expect(profile["email"]?.stringValue == "anna.keller@example.org", "opened with the new keys")
        #expect(profile["birthday"]?.stringValue == "1990-07-21")
        #expect(try Self.found(in: cli.directory) == [], "no file of the folder holds any of it in clear")

        let second = try cli.run(["log", "--customer", "c-1", "--db", db])
        #expect(!second.stderr.contains("Sealing"), "once")
        #expect(second.stdout.contains("\"street\":\"Hauptstrasse 5\""))

        // A rebuild from the log's facts gives the same customer: no fact was lost in the rewrite.
        #expect(try cli.run(["rebuild", "--db", db]).status == 0)
        let rebuilt = try #require(try JSONParser.parse(try cli.run(["customer", "c-1", "--db", db, "--now", "2025-03-01T00:00:00Z", "--json"]).stdout).objectValue)
        for field in ["order_count", "historical_value", "stage", "consent", "reviews", "birthday", "email"] {
            #expect(rebuilt[field] == profile[field], "\(field) after a rebuild")
        }

        // Forgetting works on the migrated log like on any other.
        #expect(try cli.run(["forget", "c-1", "--db", db, "--now", "2025-03-02T00:00:00Z"]).status == 0)
        let erased = try #require(try JSONParser.parse(try cli.run(["customer", "c-1", "--db", db, "--personal-data"]).stdout).objectValue)
        #expect(erased["personal_data"]?.stringValue == "erased")
        #expect(erased["profile"]?["email"] == .null)
    }
}
