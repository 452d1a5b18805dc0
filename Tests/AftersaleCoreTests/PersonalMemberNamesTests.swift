import Testing

@testable import AftersaleCore

@Suite("Finding personal member names in an event's text")
struct PersonalMemberNamesTests {
    /// The plain way: at every quote, every name followed by a quote.
    static func naiveMentioned(_ names: [String], _ text: [UInt8]) -> Bool {
        for i in text.indices where text[i] == UInt8(ascii: "\"") {
            for name in names.map({ Array($0.utf8) }) where i + name.count + 1 < text.count {
                if Array(text[(i + 1)...(i + name.count)]) == name && text[i + name.count + 1] == UInt8(ascii: "\"") { return true }
            }
        }
        return false
    }

    @Test("mentioned(in:) agrees with a plain search over texts made of names, near names, quotes and other bytes")
    func mentionedAgrees() {
        var generator = SystemRandomNumberGenerator()
        let fragments = ["\"", "\":", "{", ",", " ", "email", "emai", "emails", "name", "nam", "first_name", "first", "text",
                         "phone", "addresses", "address", "reason", "media_url", "birthday", "é", "\u{1}", "x", "\"\"", "\"phone", "text\"", "\"reason", "email\"", "\"name", "\"address"]
        var checked = (yes: 0, no: 0)
        for type in EventType.allCases {
            let names = PersonalData.memberNames(of: type)
            #expect(names.names == PersonalData.members(of: type))
            for _ in 0..<400 {
                let length = Int(generator.next() % 16)
                let text = Array((0..<length).map { _ in fragments[Int(generator.next() % UInt64(fragments.count))] }.joined().utf8)
                let expected = Self.naiveMentioned(names.names, text)
                #expect(text.withUnsafeBufferPointer { names.mentioned(in: $0) } == expected, "\(type): \(String(decoding: text, as: UTF8.self))")
                if expected { checked.yes += 1 } else { checked.no += 1 }
            }
        }
        // Both answers were met often: the comparison says something either way.
        #expect(checked.yes > 500 && checked.no > 500, "\(checked)")
        let review = PersonalData.memberNames(of: .reviewPosted)
        #expect(Array(#"{"rating":5,"text":"ok"}"#.utf8).withUnsafeBufferPointer { review.mentioned(in: $0) })
        #expect(!Array(#"{"rating":5,"texts":"ok"}"#.utf8).withUnsafeBufferPointer { review.mentioned(in: $0) })
        #expect(!Array(#""text"#.utf8).withUnsafeBufferPointer { review.mentioned(in: $0) }, "no closing quote")
    }

    @Test("index(of:) finds each name and nothing else")
    func indexOfNames() {
        for type in EventType.allCases {
            let names = PersonalData.memberNames(of: type)
            for (k, name) in names.names.enumerated() {
                #expect(Array(name.utf8).withUnsafeBufferPointer { names.index(of: $0) } == k)
                for other in [name + "s", String(name.dropLast()), name.uppercased(), "é" + name, ""] where !names.names.contains(other) {
                    #expect(Array(other.utf8).withUnsafeBufferPointer { names.index(of: $0) } == nil, "\(other)")
                }
            }
        }
    }
}
