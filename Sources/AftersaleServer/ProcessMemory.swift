import AftersaleSQLite
import ServiceLifecycle

/// Trims the allocator every `intervalSeconds` until shutdown: a trim walks every arena, a few
/// milliseconds, so it runs on a timer rather than after each of the engine's steps.
struct MemoryTrimService: Service {
    var intervalSeconds: Double = 30

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(intervalSeconds)) } catch { return }
                ProcessMemory.trim()
            }
        }
    }
}
