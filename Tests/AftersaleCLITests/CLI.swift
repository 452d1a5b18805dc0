import Foundation

/// Runs the real `aftersale` binary that `swift test` built beside the test bundle.
struct CLI {
    static let binary = Bundle.main.bundleURL.appendingPathComponent("aftersale")

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    let directory: URL
    var environment: [String: String] = ["AFTERSALE_NOW": "2026-01-01T00:00:00Z"]

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-cli-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Copies a database with its keys and master key file (`shop.db` -> `copy.db`, `copy.keys`,
    /// `copy.master-key`): a copy of the log alone reads no personal data.
    func copyDatabase(_ from: String, to: String) throws {
        func sibling(_ path: String, _ ext: String) -> String { URL(fileURLWithPath: path).deletingPathExtension().path + ext }
        try FileManager.default.copyItem(atPath: from, toPath: to)
        for ext in [".keys", ".master-key"] where FileManager.default.fileExists(atPath: sibling(from, ext)) {
            try FileManager.default.copyItem(atPath: sibling(from, ext), toPath: sibling(to, ext))
        }
    }

    func write(_ name: String, _ text: String) -> String {
        try! text.write(toFile: path(name), atomically: true, encoding: .utf8)
        return path(name)
    }

    /// Starts the command without waiting for it.
    func start(_ arguments: [String], stdin: String? = nil) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var env = ProcessInfo.processInfo.environment
        env["AFTERSALE_DB"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if let stdin {
            let input = Pipe()
            process.standardInput = input
            try process.run()
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        } else {
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }
        return (process, out, err)
    }

    @discardableResult
    func run(_ arguments: [String], stdin: String? = nil) throws -> Result {
        let (process, out, err) = try start(arguments, stdin: stdin)
        // Read both pipes before waiting, so a chatty command cannot block on a full pipe.
        nonisolated(unsafe) var errData = Data()
        let errReader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        errReader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while errReader.isExecuting || !errReader.isFinished { usleep(1000) }
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    func cleanUp() { try? FileManager.default.removeItem(at: directory) }
}

/// The repository's shipped example events.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func shippedExamples() throws -> [String] {
    let folder = repositoryRoot.appendingPathComponent("events/examples")
    return try FileManager.default.contentsOfDirectory(atPath: folder.path)
        .filter { $0.hasSuffix(".valid.ndjson") }.sorted().map { folder.appendingPathComponent($0).path }
}

/// `n` plausible events over `customers` customers, one per line.
func generatedEvents(_ n: Int, customers: Int = 5000) -> String {
    var text = ""
    text.reserveCapacity(n * 200)
    for i in 0..<n {
        let day = 1 + i % 28
        text += #"{"id":"gen-\#(i)","type":"order.placed","customer":"c-\#(i % customers)","at":"2025-03-\#(day < 10 ? "0" : "")\#(day)T10:00:00Z","data":{"order":"o-\#(i)","total":"\#(i % 500).\#(10 + i % 90)","currency":"EUR","lines":[{"sku":"sku-\#(i % 97)","quantity":1,"price":"\#(i % 500).\#(10 + i % 90)"}]}}"#
        text += "\n"
    }
    return text
}
