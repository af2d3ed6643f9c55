using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Registry.Balancing;

/// <summary>
/// A 64-bit string hash that is the same in every process (unlike <see cref="string.GetHashCode()"/>) on every
/// little-endian machine (x64, Arm64; not s390x, which reads the code units' bytes the other way round), so every
/// client maps a key to the same instance. Multiply-rotate over the UTF-16 code units eight bytes at a time, then the
/// splitmix64 finalizer; no allocation.
/// </summary>
internal static class StableHash
{
    private const ulong Prime = 0x9E3779B97F4A7C15UL;

    public static ulong Of(string value)
    {
        var bytes = MemoryMarshal.AsBytes(value.AsSpan());
        var hash = (ulong)bytes.Length * Prime;
        while (bytes.Length >= 8)
        {
            hash = BitOperations.RotateLeft((hash ^ BinaryPrimitives.ReadUInt64LittleEndian(bytes)) * Prime, 31);
            bytes = bytes[8..];
        }
        ulong tail = 0;
        for (var i = 0; i < bytes.Length; i++) tail |= (ulong)bytes[i] << (8 * i);
        return Mix(hash ^ tail);
    }

    /// <summary>The splitmix64 finalizer: spreads every input bit over the whole result.</summary>
    public static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
