using System.Security.Cryptography;
using System.Text;

namespace StoreLink.Server.Integrations;

/// <summary>
/// Standard Webhooks signing (PROTOCOL.md "Webhook signatures"): <c>v1,</c> + base64 HMAC-SHA256 over
/// <c>id.timestamp.body</c>. A secret is <c>whsec_</c> + base64 of 32 random bytes; the HMAC key is those bytes.
/// </summary>
public static class WebhookSignature
{
    public const string SecretPrefix = "whsec_";

    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static byte[] KeyOf(string secret) => Convert.FromBase64String(secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret);

    public static string Sign(string secret, string id, long timestamp, string body) =>
        "v1," + Convert.ToBase64String(Mac(secret, id, timestamp, Encoding.UTF8.GetBytes(body)));

    /// <summary>
    /// Whether one of the space-separated signatures of <paramref name="header"/> is <c>v1,</c> + the HMAC over the
    /// raw <paramref name="body"/> bytes, compared in constant time.
    /// </summary>
    public static bool Verify(string secret, string id, long timestamp, ReadOnlySpan<byte> body, string? header)
    {
        if (string.IsNullOrEmpty(header))
            return false;
        var expected = Mac(secret, id, timestamp, body);
        Span<byte> given = stackalloc byte[64];
        foreach (var part in header.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part.StartsWith("v1,", StringComparison.Ordinal) && Convert.TryFromBase64String(part[3..], given, out var length) && length == expected.Length
                && CryptographicOperations.FixedTimeEquals(given[..length], expected))
                return true;
        }
        return false;
    }

    private static byte[] Mac(string secret, string id, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return HMACSHA256.HashData(KeyOf(secret), message);
    }
}
