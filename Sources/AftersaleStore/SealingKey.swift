internal import CSealing
internal import Foundation

/// An AES-256-GCM key with its BoringSSL context (the key schedule) made once, for the many values
/// one customer's key seals and opens. The sealed form is `AES.GCM.SealedBox`'s combined one:
/// the 12-byte nonce, the ciphertext, the 16-byte tag; the tests hold it to swift-crypto's both ways.
///
/// A context is only read while sealing and opening: BoringSSL's AES-GCM takes it `const` and keeps
/// each call's state in a `GCM128_CONTEXT` of its own on the stack (its `e_aes.cc`), so one key may be
/// used by several threads at once. BoringSSL zeroes the context when it frees it.
final class SealingKey: @unchecked Sendable {
    static let nonceCount = 12
    static let tagCount = 16

    private let context: UnsafeMutableRawPointer

    /// Nil unless `key` is 32 bytes.
    init?(_ key: some ContiguousBytes) {
        let made = key.withUnsafeBytes { key -> UnsafeMutableRawPointer? in
            guard key.count == 32, let aead = CCryptoBoringSSL_EVP_aead_aes_256_gcm() else { return nil }
            return CCryptoBoringSSL_EVP_AEAD_CTX_new(aead, key.bindMemory(to: UInt8.self).baseAddress, key.count, SealingKey.tagCount)
        }
        guard let made else { return nil }
        context = made
    }

    deinit { CCryptoBoringSSL_EVP_AEAD_CTX_free(context) }

    /// Appends the nonce, `plaintext` sealed and the tag to `out`. `nonce` must be 12 fresh random bytes.
    func seal(_ plaintext: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, authenticating ad: UnsafeRawBufferPointer,
              appendingTo out: inout [UInt8]) throws {
        precondition(nonce.count == SealingKey.nonceCount, "an AES-GCM nonce here is 12 bytes")
        let start = out.count
        let room = plaintext.count + SealingKey.tagCount
        out.append(contentsOf: nonce)
        out.append(contentsOf: repeatElement(0, count: room))
        var written = 0
        let ok = out.withUnsafeMutableBufferPointer { buffer in
            CCryptoBoringSSL_EVP_AEAD_CTX_seal(context, buffer.baseAddress! + start + SealingKey.nonceCount, &written, room,
                                               nonce.bindMemory(to: UInt8.self).baseAddress, nonce.count,
                                               plaintext.bindMemory(to: UInt8.self).baseAddress, plaintext.count,
                                               ad.bindMemory(to: UInt8.self).baseAddress, ad.count)
        }
        guard ok == 1, written == room else {
            out.removeSubrange(start...)
            throw SealingError()
        }
    }

    /// The plaintext of a sealed value (nonce, ciphertext, tag), or nil when it does not open with
    /// this key and `ad` (another key, another member or event, or altered bytes).
    func open(_ sealed: UnsafeRawBufferPointer, authenticating ad: UnsafeRawBufferPointer) -> [UInt8]? {
        guard sealed.count >= SealingKey.nonceCount + SealingKey.tagCount else { return nil }
        let bytes = sealed.bindMemory(to: UInt8.self)
        let room = sealed.count - SealingKey.nonceCount - SealingKey.tagCount
        var written = 0
        var ok: Int32 = 0
        let plain = [UInt8](unsafeUninitializedCapacity: max(room, 1)) { buffer, count in
            ok = CCryptoBoringSSL_EVP_AEAD_CTX_open(context, buffer.baseAddress, &written, room,
                                                    bytes.baseAddress, SealingKey.nonceCount,
                                                    bytes.baseAddress! + SealingKey.nonceCount, sealed.count - SealingKey.nonceCount,
                                                    ad.bindMemory(to: UInt8.self).baseAddress, ad.count)
            count = ok == 1 ? written : 0
        }
        return ok == 1 && written == room ? plain : nil
    }

    /// SHA-256 of `bytes`.
    static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { buffer, count in
            _ = CCryptoBoringSSL_SHA256(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, buffer.baseAddress!)
            count = 32
        }
    }
}

/// HMAC-SHA256 under one key (the master key), its padded states made once: each message then
/// costs its own hashing only. Not for two threads at once (the vault uses it under its lock).
final class KeyedHMAC: @unchecked Sendable {
    private let context: UnsafeMutableRawPointer

    /// Nil when BoringSSL cannot make the context (out of memory).
    init?(key: some ContiguousBytes) {
        guard let context = CCryptoBoringSSL_HMAC_CTX_new() else { return nil }
        let ok = key.withUnsafeBytes { key in
            CCryptoBoringSSL_HMAC_Init_ex(context, key.baseAddress, key.count, CCryptoBoringSSL_EVP_sha256(), nil)
        }
        guard ok == 1 else {
            CCryptoBoringSSL_HMAC_CTX_free(context)
            return nil
        }
        self.context = context
    }

    deinit { CCryptoBoringSSL_HMAC_CTX_free(context) }

    /// HMAC-SHA256 of `message` (32 bytes), into `out`.
    func authenticate(_ message: UnsafeRawBufferPointer, into out: inout [UInt8]) throws {
        var length: UInt32 = 0
        out = [UInt8](repeating: 0, count: 32)
        // A null key with the same hash starts again from the key's states.
        guard CCryptoBoringSSL_HMAC_Init_ex(context, nil, 0, nil, nil) == 1,
              CCryptoBoringSSL_HMAC_Update(context, message.bindMemory(to: UInt8.self).baseAddress, message.count) == 1,
              out.withUnsafeMutableBufferPointer({ CCryptoBoringSSL_HMAC_Final(context, $0.baseAddress, &length) }) == 1,
              length == 32
        else { throw SealingError() }
    }
}

/// BoringSSL said no: out of memory, or a length it does not take.
struct SealingError: Error, CustomStringConvertible {
    var description: String { "BoringSSL's AES-GCM or HMAC failed" }
}
