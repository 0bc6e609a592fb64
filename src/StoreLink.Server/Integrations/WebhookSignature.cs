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
        "v1," + Convert.ToBase64String(HMACSHA256.HashData(KeyOf(secret), Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));
}
