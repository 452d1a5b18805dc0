import Crypto
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
        // Three parts, every pair of splits, and text already in the buffer.
        for length in 0..<20 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            for first in 0...length {
                for second in first...length {
                    var out = Array("sealed:1:".utf8)
                    var writer = Base64Writer()
                    writer.append(bytes[..<first], to: &out)
                    bytes[first..<second].withUnsafeBytes { writer.append($0, to: &out) }
                    writer.append(bytes[second...], to: &out)
                    writer.finish(&out)
                    #expect(String(decoding: out, as: UTF8.self) == "sealed:1:" + Data(bytes).base64EncodedString(),
                            "length \(length), splits \(first), \(second)")
                }
            }
        }
    }

    @Test("nonces are never the same twice, across refills of the random buffer")
    func noncesDiffer() throws {
        var random = RandomBytes()
        var seen = Set<Data>()
        for _ in 0..<2_000 { seen.insert(Data(try random.bytes(SealingKey.nonceCount))) }
        #expect(seen.count == 2_000)
    }

    @Test("a value sealed here opens with swift-crypto's AES.GCM, and one sealed there opens here")
    func sealedFormIsAESGCMs() throws {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 15, 16, 17, 31, 64, 200, 1_000] {
            let keyBytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let plain = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let ad = Array("email\u{0}12345678".utf8)
            let nonce = (0..<12).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let key = try #require(SealingKey(keyBytes))
            let symmetric = SymmetricKey(data: keyBytes)

            var sealed: [UInt8] = [9, 9]
            try plain.withUnsafeBytes { p in try nonce.withUnsafeBytes { n in try ad.withUnsafeBytes { a in
                try key.seal(p, nonce: n, authenticating: a, appendingTo: &sealed)
            } } }
            #expect(sealed.prefix(2) == [9, 9], "what was in the buffer stays")
            let theirs = try AES.GCM.seal(plain, using: symmetric, nonce: AES.GCM.Nonce(data: nonce), authenticating: ad)
            #expect(Array(sealed.dropFirst(2)) == Array(theirs.combined!), "length \(length): the same bytes as the combined box")
            let box = try AES.GCM.SealedBox(combined: sealed.dropFirst(2))
            #expect(Array(try AES.GCM.open(box, using: symmetric, authenticating: ad)) == plain)

            let other = try AES.GCM.seal(plain, using: symmetric, authenticating: ad).combined!
            #expect(other.withUnsafeBytes { s in ad.withUnsafeBytes { key.open(s, authenticating: $0) } } == plain)
            // Another member or event, another key, or one byte changed: nothing opens.
            let otherAD = Array("name\u{0}12345678".utf8)
            #expect(other.withUnsafeBytes { s in otherAD.withUnsafeBytes { key.open(s, authenticating: $0) } } == nil)
            let otherKey = try #require(SealingKey((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }))
            #expect(other.withUnsafeBytes { s in ad.withUnsafeBytes { otherKey.open(s, authenticating: $0) } } == nil)
            var altered = Array(other)
            altered[altered.count / 2] ^= 0x01
            #expect(altered.withUnsafeBytes { s in ad.withUnsafeBytes { key.open(s, authenticating: $0) } } == nil)
            #expect(Array(other.prefix(27)).withUnsafeBytes { s in ad.withUnsafeBytes { key.open(s, authenticating: $0) } } == nil)
        }
        #expect(SealingKey([UInt8](repeating: 1, count: 16)) == nil, "a key here is 32 bytes")
    }

    @Test("an event id's tag is the first 8 bytes of its SHA-256")
    func idTagIsSHA256() {
        for id in ["", "ord-1", String(repeating: "é", count: 100)] {
            #expect(PersonalDataVault.idTag(id) == Array(SHA256.hash(data: Array(id.utf8))).prefix(8).map { $0 })
        }
    }
}

@Suite("A customer's key from the master key")
struct KeyDerivationTests {
    @Test("KeyedHMAC is HMAC-SHA256 (swift-crypto's) for messages of every length, again and again on one context")
    func keyedHMACIsHMACSHA256() throws {
        var generator = SystemRandomNumberGenerator()
        let master = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let keyed = try #require(KeyedHMAC(key: master))
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 200, 1_000] + (0..<20).map({ _ in Int.random(in: 0...300, using: &generator) }) {
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var mac: [UInt8] = []
            try message.withUnsafeBytes { try keyed.authenticate($0, into: &mac) }
            let theirs = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: master))
            #expect(mac == Array(theirs), "length \(length)")
        }
    }
}

extension KeyDerivationTests {
    @Test("a customer's key is made from the same message as before (keys files made earlier still open what they sealed)")
    func keyMaterialKeepsItsMessage() throws {
        let master = Array(0..<32).map { UInt8($0 * 7 % 256) }
        let salt = Array(200..<216).map { UInt8($0) }
        let keyed = try #require(KeyedHMAC(key: master))
        for (customer, generation) in [("c-1", Int64(1)), ("shop:42", 3), ("é", 12)] {
            let expected = HMAC<SHA256>.authenticationCode(
                for: Array("aftersale customer key\u{0}\(customer)\u{0}\(generation)\u{0}".utf8) + salt, using: SymmetricKey(data: master))
            #expect(try PersonalDataVault.keyMaterial(salt, customer: customer, generation: generation, keyed: keyed) == Array(expected))
        }
    }
}
