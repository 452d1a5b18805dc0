import AftersaleCore
import AftersaleStore
import AftersaleSQLite
import AftersaleProjections
import AftersaleOutbox
import Foundation

/// A fresh folder under /tmp, removed when released.
final class Scratch {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func write(_ name: String, _ text: String) -> String {
        let p = path(name)
        try! text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }
}

let testClock = try! Timestamp.parse("2026-01-01T00:00:00Z")

func event(_ id: String, _ type: EventType = .orderPlaced, customer: String = "c-1", at: String = "2025-03-01T10:00:00Z",
           data: JSONObject? = nil) -> EncodedEvent {
    let data = data ?? JSONObject(["order": .string("o-\(id)"), "total": .string("10.00"), "currency": .string("EUR"), "lines": .array([])])
    return EncodedEvent(Event(id: id, type: type, customer: customer, at: try! Timestamp.parse(at), data: data))
}
