/// Stable, platform-independent hashes (Swift's `Hasher` is seeded per process).
public enum StableHash {
    public static func fnv64(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in s.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// FNV-1a, 128 bits, as 32 hex digits.
    public static func fnv128Hex(_ s: String) -> String {
        var h: UInt128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d
        let prime: UInt128 = 0x0000_0000_0100_0000_0000_0000_0000_013B
        for byte in s.utf8 {
            h ^= UInt128(byte)
            h = h &* prime
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 32 - hex.count) + hex
    }
}
