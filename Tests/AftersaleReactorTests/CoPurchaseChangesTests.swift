import AftersaleCore
@testable import AftersaleReactor
import Testing

@Suite("What a save writes of the co-purchase counts")
struct CoPurchaseChangesTests {
    @Test("the pairs counted since the counts were set or last taken, with their counts now; counts as stored are no change")
    func changedPairs() {
        var engine = ReactorEngine(configuration: ReactorConfiguration())
        engine.coPurchases = ["MUG-1": ["TEAPOT-1": 2, "SAUCER-1": 5], "TEAPOT-1": ["MUG-1": 1]]
        #expect(engine.takeCoPurchaseChanges().isEmpty)
        engine.learnCoPurchase(of: "TEAPOT-1", after: "MUG-1")
        engine.learnCoPurchase(of: "KETTLE-1", after: "MUG-1")
        engine.learnCoPurchase(of: "TEAPOT-1", after: "MUG-1")
        #expect(engine.takeCoPurchaseChanges() == [
            CoPurchasePair(previous: "MUG-1", sku: "TEAPOT-1", count: 4),
            CoPurchasePair(previous: "MUG-1", sku: "KETTLE-1", count: 1),
        ])
        #expect(engine.takeCoPurchaseChanges().isEmpty)
        engine.learnCoPurchase(of: "KETTLE-1", after: "MUG-1")
        #expect(engine.takeCoPurchaseChanges() == [CoPurchasePair(previous: "MUG-1", sku: "KETTLE-1", count: 2)])
        // Counts read back from rows are stored ones too.
        var table = CoPurchaseTable(stored: [CoPurchasePair(previous: "A", sku: "B", count: 3)])
        #expect(table.takeChangedPairs().isEmpty)
        engine.coPurchaseCounts = table
        engine.learnCoPurchase(of: "B", after: "A")
        #expect(engine.takeCoPurchaseChanges() == [CoPurchasePair(previous: "A", sku: "B", count: 4)])
        #expect(engine.coPurchases == ["A": ["B": 4]])
    }
}
