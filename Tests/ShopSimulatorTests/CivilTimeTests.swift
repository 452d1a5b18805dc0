@testable import ShopSimulator
import Testing

@Suite("Civil time, money and JSON text")
struct CivilTimeTests {
    @Test("known instants format as RFC 3339")
    func knownInstants() {
        #expect(CivilTime.rfc3339(0) == "1970-01-01T00:00:00Z")
        #expect(CivilTime.rfc3339(1_704_067_200) == "2024-01-01T00:00:00Z")
        #expect(CivilTime.rfc3339(951_782_400) == "2000-02-29T00:00:00Z")
        #expect(CivilTime.rfc3339(1_709_164_799) == "2024-02-28T23:59:59Z")
        #expect(CivilTime.rfc3339(4_102_444_800) == "2100-01-01T00:00:00Z")
        #expect(CivilTime.rfc3339(-1) == "1969-12-31T23:59:59Z")
        #expect(CivilTime.isoDate(days: -7305) == "1950-01-01")
    }

    @Test("days-from-civil and civil-from-days round-trip over 1900...2200")
    func roundTrip() {
        var previous: (Int, Int, Int)? = nil
        for day in CivilTime.daysFromCivil(year: 1900, month: 1, day: 1)...CivilTime.daysFromCivil(year: 2200, month: 12, day: 31) {
            let civil = CivilTime.civilFromDays(day)
            #expect(CivilTime.daysFromCivil(year: civil.year, month: civil.month, day: civil.day) == day)
            if let previous {
                let next = previous.2 + 1 == civil.day || (civil.day == 1 && (previous.1 % 12 + 1) == civil.month)
                #expect(next)
            }
            previous = (civil.year, civil.month, civil.day)
        }
    }

    @Test("money formats and parses exactly")
    func money() {
        #expect(SimulatedMoney.format(cents: 5980) == "59.80")
        #expect(SimulatedMoney.format(cents: 1) == "0.01")
        #expect(SimulatedMoney.format(cents: 100_000) == "1000.00")
        #expect(SimulatedMoney.cents("59.80") == 5980)
        #expect(SimulatedMoney.cents("0.5") == 50)
        #expect(SimulatedMoney.cents("12") == 1200)
        #expect(SimulatedMoney.cents("1.234") == nil)
        #expect(SimulatedMoney.cents("abc") == nil)
    }

    @Test("JSON strings escape quotes, backslashes and control characters")
    func escaping() {
        var bytes: [UInt8] = []
        bytes.writeJSONString("a\"b\\c\nd\u{01}é")
        #expect(String(decoding: bytes, as: UTF8.self) == "\"a\\\"b\\\\c\\nd\\u0001é\"")
        bytes.removeAll()
        bytes.writeDecimal(42, width: 6)
        bytes.writeDecimal(0)
        #expect(String(decoding: bytes, as: UTF8.self) == "0000420")
    }
}
