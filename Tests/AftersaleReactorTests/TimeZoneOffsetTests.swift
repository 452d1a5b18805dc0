import AftersaleCore
@testable import AftersaleReactor
import Foundation
import ShopSimulator
import Testing

@Suite("Time-zone offsets")
struct TimeZoneOffsetTests {
    static let zones = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Europe/Volgograd",
                        "America/Sao_Paulo", "Pacific/Chatham", "UTC", "Africa/Casablanca", "America/St_Johns"]

    static func foundation(_ zone: String, _ millis: Int64) -> Int {
        TimeZone(identifier: zone)!.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1000)) / 60
    }

    @Test("the cached offsets are Foundation's, at random instants and on both sides of every transition, 2000-2040")
    func cachedOffsetsAreFoundations() {
        let cache = TimeZones()
        var random = SimulationRandom(seed: 17)
        let from: Int64 = 946_684_800_000, to: Int64 = 2_208_988_800_000
        var checked = 0
        for zone in Self.zones {
            // Random instants, in no order: spans are found backwards and forwards.
            for _ in 0..<400 {
                let t = from + Int64(random.next() % UInt64(to - from))
                #expect(cache.offsetMinutes(zone, at: Timestamp(millis: t)) == Self.foundation(zone, t), "\(zone) at \(t)")
                checked += 1
            }
            // Each transition, a millisecond before and at it.
            let tz = TimeZone(identifier: zone)!
            var at = Date(timeIntervalSince1970: Double(from) / 1000)
            while let next = tz.nextDaylightSavingTimeTransition(after: at), next.timeIntervalSince1970 * 1000 < Double(to) {
                let t = Int64((next.timeIntervalSince1970 * 1000).rounded())
                for m in [t - 1, t, t + 1] {
                    #expect(cache.offsetMinutes(zone, at: Timestamp(millis: m)) == Self.foundation(zone, m), "\(zone) at \(m)")
                    checked += 1
                }
                at = next
            }
        }
        #expect(checked > 4000)
        #expect(cache.offsetMinutes("Mars/Olympus_Mons", at: Timestamp(millis: 0)) == nil)
    }

    @Test("questions that alternate between zones get each zone's own offset, however near in time")
    func alternatingZones() {
        let cache = TimeZones()
        var random = SimulationRandom(seed: 5)
        let from: Int64 = 1_577_836_800_000, to: Int64 = 1_893_456_000_000
        for _ in 0..<2_000 {
            let t = from + Int64(random.next() % UInt64(to - from))
            // The same instant in one zone after another, then again in the first: an answer
            // remembered for one zone must not be given for the next.
            for zone in ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Europe/Berlin", "Mars/Olympus_Mons", "UTC"] {
                let expected = zone == "Mars/Olympus_Mons" ? nil : Self.foundation(zone, t)
                #expect(cache.offsetMinutes(zone, at: Timestamp(millis: t)) == expected, "\(zone) at \(t)")
            }
        }
    }
}
