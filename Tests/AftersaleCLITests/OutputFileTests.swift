import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `--out` and `--truth` replace a regular file whole (through a temporary file), but write into
/// anything else as it is: run as root, `demo --out /dev/null` once put a report where the
/// system's null device was.
@Suite("output files")
struct OutputFileTests {
    @Test("an output that is a pipe is written into, and is still a pipe afterwards")
    func pipeStaysAPipe() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let pipe = cli.path("truth.pipe")
        try #require(mkfifo(pipe, 0o600) == 0)
        // Held open for reading and writing, so the command's open finds a reader, and what it
        // writes (a few KiB, within the pipe's buffer) waits there until read.
        let fd = open(pipe, O_RDWR | O_NONBLOCK)
        try #require(fd >= 0)
        defer { close(fd) }
        let run = try cli.run(["simulate", "--customers", "20", "--days", "60", "--out", cli.path("shop.ndjson"), "--truth", pipe])
        #expect(run.status == 0, "\(run.stderr)")
        var info = stat()
        #expect(lstat(pipe, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO, "the pipe is still a pipe")
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[..<n]
        }
        let text = String(decoding: received, as: UTF8.self)
        #expect(text.split(separator: "\n").count == 20, "one line per customer came through the pipe: \(text.prefix(200))")
        #expect(text.contains("\"lambda_per_day\""))
    }

    @Test("an output that is a regular file is replaced whole")
    func regularFileReplaced() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let truth = cli.write("truth.ndjson", String(repeating: "old\n", count: 1_000))
        let run = try cli.run(["simulate", "--customers", "20", "--days", "60", "--out", cli.path("shop.ndjson"), "--truth", truth])
        #expect(run.status == 0, "\(run.stderr)")
        let text = try String(contentsOfFile: truth, encoding: .utf8)
        #expect(!text.contains("old") && text.split(separator: "\n").count == 20)
    }
}
