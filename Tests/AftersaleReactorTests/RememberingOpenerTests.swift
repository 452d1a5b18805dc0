import AftersaleCore
import AftersaleReactor
import Synchronization
import Testing

@Suite("Sealed values opened once per run")
struct RememberingOpenerTests {
    final class CountingOpener: PersonalDataOpening, @unchecked Sendable {
        let calls = Mutex(0)
        func open(_ sealed: String, customer: String, member: String) -> Revealed {
            calls.withLock { $0 += 1 }
            return sealed == "sealed:1:1:gone" ? .erased : .value(.string("1990-02-20"))
        }
    }

    @Test("each sealed value is opened once, erased ones too; another member with the same text is its own")
    func opensOnce() {
        let base = CountingOpener()
        let opener = RememberingOpener(base)
        for _ in 0..<5 {
            #expect(opener.open("sealed:1:1:abc", customer: "c-1", member: "birthday") == .value(.string("1990-02-20")))
            #expect(opener.open("sealed:1:1:gone", customer: "c-2", member: "birthday") == .erased)
        }
        _ = opener.open("sealed:1:1:abc", customer: "c-1", member: "email")
        #expect(base.calls.withLock { $0 } == 3)
    }

    @Test("a customer's birthday is read once per sealed text; a new text (a changed birthday) is opened again")
    func birthdaysOnce() {
        let base = CountingOpener()
        let opener = RememberingOpener(base)
        for _ in 0..<5 {
            #expect(opener.birthday("sealed:1:1:abc", customer: "c-1") == Birthday(year: 1990, month: 2, day: 20))
            #expect(opener.birthday("sealed:1:1:gone", customer: "c-2") == nil)
        }
        #expect(base.calls.withLock { $0 } == 2)
        // The same customer's birthday sealed anew (a `customer.updated`): not the remembered one.
        #expect(opener.birthday("sealed:1:1:xyz", customer: "c-1") == Birthday(year: 1990, month: 2, day: 20))
        #expect(base.calls.withLock { $0 } == 3)
        // What the protocol's own reading gives, without the memo.
        #expect(base.birthday("sealed:1:1:abc", customer: "c-1") == Birthday(year: 1990, month: 2, day: 20))
        #expect(base.birthday("sealed:1:1:gone", customer: "c-1") == nil)
    }
}
