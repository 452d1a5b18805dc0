import AftersaleCore
import AftersaleServer
import AftersaleSources
import AftersaleSQLite
import AftersaleStore
import Foundation
import Testing

/// The intake holds its events' facts across commits and stores them together: while they are held
/// nothing of the log is missing to a reader, and they are stored when the intake idles, when it
/// holds its bound, and when it stops.
@Suite("the intake: facts held across commits")
struct IntakeFactsTests {
    let folder: URL
    var path: String { folder.appendingPathComponent("shop.db").path }

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-intake-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func order(_ id: String, customer: String) -> IntakeItem {
        let data = JSONObject(["order": .string("o-\(id)"), "total": .string("10.00"), "currency": .string("EUR"), "lines": .array([])])
        return .event(EncodedEvent(Event(id: id, type: .orderPlaced, customer: customer, at: try! Timestamp.parse("2025-03-01T10:00:00Z"),
                                         data: data)), condition: .always)
    }

    func intake(heldAtMost: Int, idleSeconds: Double) throws -> Intake {
        let intake = Intake(path: path, clock: ManualClock(try Timestamp.parse("2026-01-01T00:00:00Z")))
        intake.factsHeldAtMost = heldAtMost
        intake.idleSecondsBeforeStoringFacts = idleSeconds
        try intake.start()
        return intake
    }

    /// Rows of `stream_facts`, and whether the log says some are held (`facts_from`), as another connection sees them.
    func stored() throws -> (facts: Int64, held: Bool) {
        let database = try Database(path: path, readOnly: true)
        return (try database.scalarInt("SELECT count(*) FROM stream_facts") ?? -1,
                try database.scalarInt("SELECT count(*) FROM log_settings WHERE name = 'facts_from'") == 1)
    }

    /// Waits up to five seconds for `stream_facts` to hold `count` rows.
    func waitForStoredFacts(_ count: Int64) async throws -> Bool {
        for _ in 0..<250 {
            if try stored() == (count, false) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test("held facts: readers see every event meanwhile; stored when the intake stops")
    func storedAtStop() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let intake = try intake(heldAtMost: 1_000, idleSeconds: 3_600)
        defer { intake.stop() }  // stopping twice is stopping once: the test stops it itself below
        let outcomes = try await intake.submit([order("1", customer: "c-1"), order("2", customer: "c-2")])
            + intake.submit([order("3", customer: "c-1")])
        #expect(outcomes == [.appended(position: 1), .appended(position: 2), .appended(position: 3)])
        #expect(try stored() == (0, true), "held after three commits, not stored")
        let reader = try EventLog(database: try Database(path: path, readOnly: true))
        #expect(try reader.stream(of: "c-1").map(\.event.id) == ["1", "3"])
        var positions: [Int64] = []
        try reader.readFacts(after: 0) { position, _, _, _ in positions.append(position) }
        #expect(positions == [1, 2, 3])
        intake.stop()
        #expect(try stored() == (3, false))
        #expect(try reader.stream(of: "c-1").map(\.version) == [1, 2])
    }

    @Test("held facts are stored once the intake idles, and once it holds its bound")
    func storedWhenIdleOrBound() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let idle = try intake(heldAtMost: 1_000, idleSeconds: 0.05)
        defer { idle.stop() }
        _ = try await idle.submit([order("1", customer: "c-1"), order("2", customer: "c-2")])
        #expect(try await waitForStoredFacts(2), "stored after the intake idled")
        idle.stop()

        let bounded = try intake(heldAtMost: 4, idleSeconds: 3_600)
        defer { bounded.stop() }
        _ = try await bounded.submit([order("3", customer: "c-1"), order("4", customer: "c-3")])
        #expect(try stored() == (2, true))
        _ = try await bounded.submit([order("5", customer: "c-1"), order("6", customer: "c-2")])
        #expect(try await waitForStoredFacts(6), "stored after the commit that reached the bound")
        #expect(try await bounded.submit([order("7", customer: "c-1")]) == [.appended(position: 7)])
        let reader = try EventLog(database: try Database(path: path, readOnly: true))
        #expect(try reader.stream(of: "c-1").map(\.version) == [1, 2, 3, 4])
    }
}

extension IntakeFactsTests {
    /// A Shopify event that names only its order, as the Shopify mapping makes it.
    func dispatched(_ id: String, order: String) -> IntakeItem {
        .event(EncodedEvent(Event(id: id, type: .shipmentDispatched, customer: Shopify.customerOfOrder,
                                  at: try! Timestamp.parse("2025-03-02T10:00:00Z"),
                                  data: JSONObject(["order": .string(order), "carrier": .string("DHL")]))), condition: .always)
    }

    @Test("orders are held with the facts: a shipment names its order's customer before they are stored, and after a restart that lost them")
    func heldOrders() async throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try intake(heldAtMost: 1_000, idleSeconds: 3_600)
        defer { first.stop() }
        _ = try await first.submit([order("1", customer: "c-1")])
        #expect(try await first.submit([dispatched("2", order: "o-1")]) == [.appended(position: 2)])
        let reader = try EventLog(database: try Database(path: path, readOnly: true))
        #expect(try reader.customer(ofOrder: "o-1") == nil, "held, not stored yet")
        #expect(try reader.stream(of: "c-1").map(\.event.id) == ["1", "2"])
        // A second intake on the file, as after a kill of the first: it finds the order in the log.
        let second = try intake(heldAtMost: 1_000, idleSeconds: 3_600)
        defer { second.stop() }
        #expect(try await second.submit([dispatched("3", order: "o-1")]) == [.appended(position: 3)])
        #expect(try reader.stream(of: "c-1").map(\.event.id) == ["1", "2", "3"])
        second.stop()
        first.stop()
        #expect(try reader.customer(ofOrder: "o-1") == "c-1")
    }
}
