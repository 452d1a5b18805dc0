@testable import AftersaleOutbox
import Testing

/// A run in passes reads the log once, in its first pass, and each later pass reads only its own
/// customers' events by the positions the first noted: what a pass reads must be exactly what
/// stepping over the log and picking would give it.
@Suite("Where a later pass's events are")
struct PassPositionsTests {
    @Test("each pass gets its own events and every pass's (the system's, a new model), in log order")
    func ownAndEveryPass() {
        var found = ReactorStore.PassPositions(passes: 3, after: 100)
        // Positions 101...112: passes by position, nil for an event every pass takes.
        let passes: [Int?] = [0, 1, nil, 2, 0, 0, 1, nil, 2, 2, 0, nil]
        for (i, pass) in passes.enumerated() { found.note(101 + Int64(i), pass: pass) }
        #expect(found.complete)
        #expect(found.count == 12)
        #expect(found.last == 112)
        for pass in 0..<3 {
            let picked = passes.indices.filter { passes[$0] == pass || passes[$0] == nil }.map { 101 + Int64($0) }
            #expect(found.positions(of: pass) == picked, "pass \(pass)")
        }
    }

    @Test("a stretch of the log too long for its offsets is not noted, so later passes step over the log instead")
    func tooFarIsNotNoted() {
        var found = ReactorStore.PassPositions(passes: 2, after: 0)
        found.note(1, pass: 0)
        found.note(Int64(UInt32.max) + 1, pass: 1)
        #expect(!found.complete)
    }
}
