import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a command's output file (`--out`, `--truth`).
///
/// A regular file, or a new one, is replaced whole through a temporary file and a rename, so a
/// reader never finds half a report. Anything else that is there (`/dev/null`, `/dev/stdout`, a
/// pipe) is written to as it is: renaming over it would put a file in its place, and run as root,
/// `--out /dev/null` replaced the system's null device with a report.
func writeOutput(_ text: String, to path: String) throws {
    var info = stat()
    if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.write(contentsOf: Data(text.utf8))
        return
    }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}
