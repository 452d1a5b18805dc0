import AftersaleCore
@testable import AftersaleServer
import AftersaleStore
import Foundation
import Testing

/// Under a stream of requests the intake waits `commitDelaySeconds` after a commit before the next,
/// so the requests arriving meanwhile share one; a request after a quiet spell is committed at once.
@Suite("the intake: a commit delay under a stream")
struct IntakeCommitDelayTests {
    static let ms: UInt64 = 1_000_000

    func waits(now: UInt64, ended: UInt64, delay: Double = 0.002, requests: Int = 1, items: Int = 1) -> UInt64? {
        Intake.commitWaitsUntil(now: now * Self.ms, lastCommitEnded: ended * Self.ms, delaySeconds: delay,
                                readyRequests: requests, readyItems: items, endsAtRequests: 8, endsAtItems: 500)
    }

    @Test("the writer waits out the delay after its last commit, and not at all after a quiet spell, with 8 requests or 500 events ready, or no delay")
    func whenTheWriterWaits() {
        // 1 ms after a commit ended, with a 2 ms delay: until 2 ms after it.
        #expect(waits(now: 1_001, ended: 1_000) == 1_002 * Self.ms)
        #expect(waits(now: 1_001, ended: 1_000, requests: 7, items: 7) == 1_002 * Self.ms)
        // The delay passed (a quiet spell, or the wait is over).
        #expect(waits(now: 1_002, ended: 1_000) == nil)
        #expect(waits(now: 5_000, ended: 1_000) == nil)
        // Enough is ready: 8 requests, or 500 events (a batch or two).
        #expect(waits(now: 1_001, ended: 1_000, requests: 8, items: 8) == nil)
        #expect(waits(now: 1_001, ended: 1_000, requests: 1, items: 500) == nil)
        #expect(waits(now: 1_001, ended: 1_000, requests: 2, items: 499) == 1_002 * Self.ms)
        // Off.
        #expect(waits(now: 1_001, ended: 1_000, delay: 0) == nil)
    }

    func event(_ n: Int) -> IntakeItem {
        .event(EncodedEvent(Event(id: "e-\(n)", type: .customerRegistered, customer: "c-\(n)", at: try! Timestamp.parse("2025-03-01T10:00:00Z"),
                                  data: JSONObject(["timezone": .string("Europe/Berlin")]))), condition: .always)
    }

    @Test("with a delay, a burst of requests is appended whole, each event once")
    func burstUnderADelay() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-delay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let intake = Intake(path: folder.appendingPathComponent("shop.db").path, clock: ManualClock(try Timestamp.parse("2026-01-01T00:00:00Z")))
        intake.commitDelaySeconds = 1
        try intake.start()
        defer { intake.stop() }
        _ = try await intake.submit([event(0)])
        let positions = try await withThrowingTaskGroup(of: [IntakeOutcome].self) { group in
            for n in 1...20 { group.addTask { try await intake.submit([self.event(n)]) } }
            var positions: [Int64] = []
            for try await outcome in group {
                for case .appended(let position) in outcome { positions.append(position) }
            }
            return positions
        }
        #expect(positions.sorted() == Array(2...21))
        #expect(intake.groupTotals.requests == 21)
    }
}
