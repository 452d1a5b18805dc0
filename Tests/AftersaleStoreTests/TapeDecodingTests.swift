import AftersaleCore
import AftersaleIngest
import AftersaleStore
import AftersaleSQLite
import AftersaleProjections
import AftersaleOutbox
import Foundation
import ShopSimulator
import Testing

/// Ingest validates each line on a `JSONTape`; everything else (`EventValidator.decode(line:)`)
/// on a `JSONValue` tree. The checks are written once for both, so a line must come out the same
/// either way: the same event, or the same error.
@Suite("Decoding a line on a tape and on a tree")
struct TapeDecodingTests {
    static let validator = EventValidator(now: testClock, isKnownTimeZone: { TimeZone(identifier: $0) != nil })

    /// The catalogue's examples, valid and invalid, and lines written to reach the corners.
    static func baseLines() throws -> [String] {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("events/examples")
        var lines: [String] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: examples.path).sorted() where file.hasSuffix(".ndjson") {
            let text = try String(contentsOf: examples.appendingPathComponent(file), encoding: .utf8)
            lines += text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        }
        var configuration = SimulationConfiguration(seed: 7, customers: 40)
        configuration.days = 200
        lines += try ShopSimulation(configuration).prefix(400)
        lines += [
            // Escapes in names and values, non-ASCII text, a name given twice, numbers at their edges.
            #"{"\u0069d":"e-1","type":"order.placed","customer":"c\"1","at":"2025-03-01T10:00:00+02:00","data":{"order":"o\u002d1","total":12.5,"currency":"EUR","lines":[{"sku":"Grüße","quantity":2,"price":"6.25","name":"\ud83c\udf81 box"}]}}"#,
            #"{"id":"e-2","type":"review.posted","customer":"c-2","at":"2025-03-01T10:00:00Z","data":{"review":"r","sku":"s","rating":5,"rating":9,"text":"bien reçu\n"}}"#,
            #"{"id":"e-3","id":"e-4","type":"return.refunded","customer":"c-3","at":"2025-03-01T10:00:00Z","data":{"order":"o","return":"r","amount":"1.500","currency":"KWD"},"meta":{"source":"x","n":[1,-0,2e10,0.5]}}"#,
            #"{"id":"e-5","type":"customer.registered","customer":"c-5","at":"2025-03-01T10:00:00Z","schema":1,"data":{"email":"a@b.c","consent":["email"]}}"#,
            #"{"id":"e-6","type":"customer.updated","customer":"c-6","at":"2025-03-01T10:00:00Z","schema":2,"data":{"birthday":"--02-29","timezone":"Europe/Berlin","consent":{"sms":true,"email":false}}}"#,
            #"{"id":"e-7","type":"shipment.dispatched","customer":"c-7","at":"2025-03-01T10:00:00Z","data":{"order":"o","estimated_delivery":"2025-03-04","carrier":"DHL","tracking":"T1"}}"#,
            #"{"id":"e-8","type":"order.placed","customer":"c-8","at":"2025-03-01T10:00:00Z","data":{"order":"o","total":"9223372036854775807","currency":"JPY","lines":[]}}"#,
            #"{"id":"e-9","type":"unboxing.recorded","customer":"c-9","at":"2025-03-01T10:00:00Z","data":{"order":"o","shared_on":"","rating":3}}"#,
        ]
        return lines
    }

    /// What each side made of one line, comparable.
    enum Outcome: Equatable {
        case event(id: String, type: EventType, customer: String, millis: Int64, offset: Int, schema: Int, data: JSONValue, meta: JSONValue?, facts: [UInt8])
        case rejected(EventError)
    }

    static func onTape(_ line: UnsafeBufferPointer<UInt8>, _ decoder: inout NDJSONDecoder) -> Outcome? {
        do {
            guard let e = try decoder.encode(line) else { return nil }
            return .event(id: e.id, type: e.type, customer: e.customer, millis: e.at.millis, offset: e.at.offsetMinutes, schema: e.schema,
                          data: try JSONParser.parse(e.data), meta: try e.meta.map { try JSONParser.parse($0) }, facts: e.facts)
        } catch let error as EventError {
            return .rejected(error)
        } catch {
            return .rejected(EventError(field: "test", reason: "the kept text is not JSON: \(error)"))
        }
    }

    static func onTree(_ line: UnsafeBufferPointer<UInt8>) -> Outcome {
        do throws(EventError) {
            let json: JSONValue
            do { json = try JSONParser.parse(line) } catch { throw EventError(field: "json", reason: error.description) }
            let event = try validator.validate(json)
            return .event(id: event.id, type: event.type, customer: event.customer, millis: event.at.millis, offset: event.at.offsetMinutes,
                          schema: event.schema, data: .object(event.data), meta: event.meta.map { .object($0) }, facts: EventFacts.encode(event))
        } catch {
            return .rejected(error)
        }
    }

    /// A small change such as a typo, a cut or a stray character makes: each keeps some lines valid
    /// and breaks others in every way the validator knows.
    static func mutate(_ line: [UInt8], _ random: inout SimulationRandom) -> [UInt8] {
        guard !line.isEmpty else { return line }
        let stray = Array(#"" \{}[],:09-.eE+atnrfu"#.utf8) + [0x00, 0x1F, 0xC3, 0xA9, 0xFF, 0x80]
        var bytes = line
        let at = Int(random.next() % UInt64(bytes.count))
        switch random.next() % 6 {
        case 0: bytes.remove(at: at)
        case 1: bytes.insert(stray[Int(random.next() % UInt64(stray.count))], at: at)
        case 2: bytes[at] = stray[Int(random.next() % UInt64(stray.count))]
        case 3: bytes.removeSubrange(at...)
        case 4: bytes.insert(bytes[at], at: at)
        default:
            if at + 1 < bytes.count { bytes.swapAt(at, at + 1) }
        }
        return bytes
    }

    @Test("catalogue examples, a simulated shop and 20,000 mutations of them: the same event or the same error")
    func tapeAgreesWithTree() throws {
        var decoder = NDJSONDecoder(validator: TapeDecodingTests.validator)
        var random = SimulationRandom(seed: 2026)
        var candidates = try TapeDecodingTests.baseLines().map { Array($0.utf8) }
        let originals = candidates
        for i in 0..<20_000 { candidates.append(TapeDecodingTests.mutate(originals[i % originals.count], &random)) }
        var accepted = 0, rejected = 0
        var disagreements: [String] = []
        for line in candidates {
            line.withUnsafeBufferPointer { bytes in
                guard let tape = TapeDecodingTests.onTape(bytes, &decoder) else { return }
                let tree = TapeDecodingTests.onTree(bytes)
                if case .event = tape { accepted += 1 } else { rejected += 1 }
                if tape != tree, disagreements.count < 5 {
                    disagreements.append("\(String(decoding: bytes, as: UTF8.self))\n  tape: \(tape)\n  tree: \(tree)")
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.joined(separator: "\n"))")
        // Both sides of the checks were reached, many times over.
        #expect(accepted > 2_000)
        #expect(rejected > 10_000)
    }
}
