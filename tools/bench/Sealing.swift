import AftersaleCore
import AftersaleIngest
import AftersaleProjections
import AftersaleSQLite
import AftersaleStore
import CSealing
import Crypto
import Foundation
import ShopSimulator

/// Ingest and rebuild with personal data sealed, beside the same work with it kept in clear, in
/// this process (the library the CLI runs), alternating the two so that the machine's drift falls
/// on both: `aftersale-bench --sealing N [--repeat R]`.
func benchSealing(events: Int, repeats: Int, directory: String) throws {
    let file = "\(directory)/sealing-\(events).ndjson"
    _ = FileManager.default.createFile(atPath: file, contents: nil)
    let handle = FileHandle(forWritingAtPath: file)!
    let written = try ShopSimulation(.benchmark(events: events)).writeNDJSON { chunk in try handle.write(contentsOf: Data(chunk)) }
    try handle.close()
    let now = Timestamp(millis: 4_102_444_800_000)
    var times: [String: [Double]] = [:]
    // Sealing alone, on events already decoded: its cost without the pipeline around it.
    do {
        let validator = EventValidator(now: now)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let decoded = try text.split(separator: "\n").map { EncodedEvent(try validator.decode(line: String($0))) }
        let db = "\(directory)/sealing-alone.db"
        removeDatabase(db)
        removeKeys(besideDatabase: db)
        let log = try EventLog(path: db)
        let vault = try log.attachVault(environment: [:])
        var alone = 0.0
        var values: [(text: [UInt8], context: [UInt8])] = []
        for start in stride(from: 0, to: decoded.count, by: 32_768) {
            let batch = Array(decoded[start..<min(start + 32_768, decoded.count)])
            let started = Stopwatch.seconds()
            let sealed = try vault.seal(batch)
            alone += Stopwatch.seconds() - started
            for event in sealed {
                // Each sealed value, as long as it was: the calls to AES-GCM alone are timed below.
                for value in event.data.split(separator: "\"").filter({ $0.hasPrefix(PersonalData.sealedPrefix) }) {
                    let sealedBytes = (Data(base64Encoded: String(value.split(separator: ":").last!))?.count ?? 36) - 36
                    values.append(([UInt8](repeating: 65, count: max(1, sealedBytes)), [UInt8](repeating: 66, count: 14)))
                }
            }
        }
        print(String(format: "sealing alone: %.2f s for %d events (%.2f µs each), %d values", alone, decoded.count,
                     alone / Double(decoded.count) * 1e6, values.count))
        // The floor: swift-crypto's AES.GCM.seal once per value (the same lengths), each with a
        // random nonce and a member-and-event context, under keys already made (one per 2 values).
        let keys = (0..<max(1, values.count / 2)).map { _ in SymmetricKey(size: .bits256) }
        let sealing = Stopwatch.seconds()
        var bytes = 0
        for (i, value) in values.enumerated() {
            bytes &+= try AES.GCM.seal(value.text, using: keys[i / 2], nonce: AES.GCM.Nonce(), authenticating: value.context).ciphertext.count
        }
        let aes = Stopwatch.seconds() - sealing
        print(String(format: "of which AES.GCM.seal alone would be: %.2f s (%.2f µs a value; %d bytes)", aes, aes / Double(max(1, values.count)) * 1e6, bytes))
        // What the vault calls instead: BoringSSL's AEAD seal under each key's context, made once
        // (`SealingKey`); the nonces drawn before the clock starts, as the vault draws them 4 KiB at a time.
        let contexts = keys.map { key in
            key.withUnsafeBytes { CCryptoBoringSSL_EVP_AEAD_CTX_new(CCryptoBoringSSL_EVP_aead_aes_256_gcm(), $0.bindMemory(to: UInt8.self).baseAddress, 32, 16)! }
        }
        var nonces = [UInt8](repeating: 0, count: 12 * values.count)
        for start in stride(from: 0, to: nonces.count, by: 4096) {
            nonces.withUnsafeMutableBytes { arc4random_buf($0.baseAddress! + start, min(4096, $0.count - start)) }
        }
        var out = [UInt8](repeating: 0, count: (values.map(\.text.count).max() ?? 0) + 16)
        let direct = Stopwatch.seconds()
        var directBytes = 0
        for (i, value) in values.enumerated() {
            var written = 0
            let ok = nonces.withUnsafeBufferPointer { nonces in
                CCryptoBoringSSL_EVP_AEAD_CTX_seal(contexts[i / 2], &out, &written, out.count, nonces.baseAddress! + 12 * i, 12,
                                                   value.text, value.text.count, value.context, value.context.count)
            }
            precondition(ok == 1, "BoringSSL's seal failed")
            directBytes &+= written - 16
        }
        let boring = Stopwatch.seconds() - direct
        contexts.forEach { CCryptoBoringSSL_EVP_AEAD_CTX_free($0) }
        print(String(format: "and BoringSSL's seal with each key's context kept (what the vault calls): %.2f s (%.2f µs a value; %d bytes)",
                     boring, boring / Double(max(1, values.count)) * 1e6, directBytes))
        // Again, every customer's key made already (cached): what the values themselves cost.
        let again = Stopwatch.seconds()
        for start in stride(from: 0, to: decoded.count, by: 32_768) {
            _ = try vault.seal(Array(decoded[start..<min(start + 32_768, decoded.count)]))
        }
        print(String(format: "sealing again, keys made: %.2f s", Stopwatch.seconds() - again))
    }
    var sealedValues = 0
    for run in 0..<repeats {
        // Alternate which goes first.
        for sealed in (run % 2 == 0 ? [false, true] : [true, false]) {
            let name = sealed ? "sealed" : "clear"
            let db = "\(directory)/sealing-\(name)-\(run).db"
            removeDatabase(db)
            removeKeys(besideDatabase: db)
            let log = try EventLog(path: db)
            if sealed { try log.attachVault(environment: [:]) }
            var started = Stopwatch.seconds()
            let summary = try Ingester(log: log, options: IngestOptions(now: now)).ingest([file])
            times["log \(name)", default: []].append(Stopwatch.seconds() - started)
            let caughtUp = Stopwatch.seconds()
            let projection = try CustomerProjection(log: log)
            try projection.catchUp()
            times["projection \(name)", default: []].append(Stopwatch.seconds() - caughtUp)
            times["ingest \(name)", default: []].append(Stopwatch.seconds() - started)
            precondition(summary.appended == written, "ingest appended \(summary.appended) of \(written)")
            started = Stopwatch.seconds()
            _ = try projection.rebuild(clock: Stopwatch.seconds)
            times["rebuild \(name)", default: []].append(Stopwatch.seconds() - started)
            if sealed, run == 0 {
                sealedValues = (try? Database(path: db, readOnly: true).scalarInt("SELECT count(*) FROM events WHERE instr(data, 'sealed:1:') > 0")).map(Int.init) ?? 0
            }
            removeDatabase(db)
        }
    }
    try? FileManager.default.removeItem(atPath: file)
    print("personal data sealed (AES-256-GCM, a key per customer) or kept in clear: \(written) events, \(sealedValues) of them with sealed values;")
    print("in process, the two alternating, \(repeats) runs each: median, and in brackets the fastest and slowest")
    print("")
    print("| step | clear | sealed | sealed vs clear |")
    print("| --- | --- | --- | --- |")
    for step in ["log", "projection", "ingest", "rebuild"] {
        let clear = times["\(step) clear"] ?? [], sealed = times["\(step) sealed"] ?? []
        func cell(_ s: [Double]) -> String {
            String(format: "%.0fk events/s (%.2f s; %.2f-%.2f)", Double(written) / median(s) / 1000, median(s), s.min() ?? 0, s.max() ?? 0)
        }
        let step = ["log": "ingest into the log", "projection": "customers projection catching up after it",
                    "ingest": "ingest, customers projection included", "rebuild": "rebuild of the customers projection"][step]!
        print("| \(step) | \(cell(clear)) | \(cell(sealed)) | \(String(format: "%+.1f%%", (median(sealed) / median(clear) - 1) * 100)) |")
    }
}
