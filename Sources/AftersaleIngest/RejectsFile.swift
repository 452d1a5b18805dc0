internal import Foundation

/// Where refused lines go, each under a `# FILE:LINE: field: why` comment, in the input's own
/// format: fix the lines in place and ingest the file again (comment lines are skipped).
final class RejectsFile {
    let path: String
    /// A CSV's header, written first so the rejects file is itself a valid input.
    var header: String?
    private(set) var count = 0
    private var handle: FileHandle?

    init(path: String) { self.path = path }

    /// `events.ndjson` -> `events.rejects.ndjson`; standard input -> `stdin.rejects.ndjson`.
    static func defaultPath(for input: String, format: InputFormat) -> String {
        if input == "-" { return format == .ndjson ? "stdin.rejects.ndjson" : "stdin.rejects.csv" }
        let url = URL(fileURLWithPath: input)
        let ext = url.pathExtension
        let base = url.deletingPathExtension().lastPathComponent
        let name = ext.isEmpty ? "\(base).rejects" : "\(base).rejects.\(ext)"
        return url.deletingLastPathComponent().appendingPathComponent(name).path
    }

    func write(message: String, line: String) throws {
        if handle == nil {
            guard FileManager.default.createFile(atPath: path, contents: nil),
                  let opened = FileHandle(forWritingAtPath: path) else {
                throw IngestError("\(path): cannot create the rejects file")
            }
            handle = opened
            if let header { try opened.write(contentsOf: Data((header + "\n").utf8)) }
        }
        let oneLine = message.replacingOccurrences(of: "\n", with: " ")
        try handle!.write(contentsOf: Data("# \(oneLine)\n\(line)\n".utf8))
        count += 1
    }

    func close() throws {
        try handle?.close()
        handle = nil
    }
}
