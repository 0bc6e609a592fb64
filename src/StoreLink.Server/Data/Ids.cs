using System.Security.Cryptography;

namespace StoreLink.Server.Data;

/// <summary>
/// Opaque ids: a short type prefix and 26 Crockford base32 characters (48-bit millisecond time + 80 random bits),
/// so ids of one type sort roughly by creation and index well (<c>msg_01JD…</c>).
/// </summary>
public static class Ids
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    public static string New(string prefix, TimeProvider? clock = null)
    {
        Span<byte> bytes = stackalloc byte[16];
        var ms = (ulong)(clock ?? TimeProvider.System).GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 5; i >= 0; i--, ms >>= 8)
            bytes[i] = (byte)ms;
        RandomBytes(bytes[6..]);

        Span<char> chars = stackalloc char[26];
        var value = new UInt128(
            (ulong)bytes[0] << 56 | (ulong)bytes[1] << 48 | (ulong)bytes[2] << 40 | (ulong)bytes[3] << 32 |
            (ulong)bytes[4] << 24 | (ulong)bytes[5] << 16 | (ulong)bytes[6] << 8 | bytes[7],
            BitConverter.ToUInt64([bytes[15], bytes[14], bytes[13], bytes[12], bytes[11], bytes[10], bytes[9], bytes[8]]));
        for (var i = 25; i >= 0; i--, value >>= 5)
            chars[i] = Alphabet[(int)(value & 31)];
        return $"{prefix}_{chars}";
    }

    // Random bytes from the system's generator, fetched a few hundred at a time: one call into OpenSSL (and its lock)
    // per id was a measurable part of every send.
    [ThreadStatic] private static byte[]? t_random;
    [ThreadStatic] private static int t_used;

    private static void RandomBytes(Span<byte> into)
    {
        var random = t_random ??= new byte[320];
        if (t_used == 0 || t_used + into.Length > random.Length)
        {
            RandomNumberGenerator.Fill(random);
            t_used = 0;
        }
        random.AsSpan(t_used, into.Length).CopyTo(into);
        random.AsSpan(t_used, into.Length).Clear(); // handed out once
        t_used += into.Length;
    }
}
