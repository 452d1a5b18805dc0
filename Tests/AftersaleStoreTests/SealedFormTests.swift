import Foundation
import Testing
@testable import AftersaleStore

@Suite("The sealed form's pieces")
struct SealedFormTests {
    @Test("base64 written in parts is Foundation's base64 of the whole, for every length and split")
    func base64InParts() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            for split in [0, 1, 2, 3, length / 2, max(0, length - 1)] where split <= length {
                var out: [UInt8] = []
                var writer = Base64Writer()
                writer.append(bytes[..<split], to: &out)
                writer.append(bytes[split...], to: &out)
                writer.finish(&out)
                #expect(String(decoding: out, as: UTF8.self) == Data(bytes).base64EncodedString(), "length \(length), split \(split)")
            }
        }
    }

    @Test("nonces are never the same twice, across refills of the random buffer")
    func noncesDiffer() throws {
        var random = RandomBytes()
        var seen = Set<Data>()
        for _ in 0..<2_000 { seen.insert(Data(try random.nonce().withUnsafeBytes { Array($0) })) }
        #expect(seen.count == 2_000)
    }
}
