using System.Security.Cryptography;
using System.Text;

namespace StoreLink.Protocol;

/// <summary>
/// Standard Webhooks signatures, as StoreLink signs its webhooks and commands and expects inbound hooks to be signed
/// (PROTOCOL.md "Webhook signatures"): <c>webhook-signature: v1,</c> + base64 HMAC-SHA256 over
/// <c>{webhook-id}.{webhook-timestamp}.{body}</c>. A secret is <c>whsec_</c> + base64 of random bytes; the HMAC key is
/// those bytes.
/// </summary>
public static class WebhookSignature
{
    /// <summary>The prefix of every signing secret.</summary>
    public const string SecretPrefix = "whsec_";

    /// <summary>How far a <c>webhook-timestamp</c> may be from the receiver's clock.</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    /// <summary>A new secret: <c>whsec_</c> + base64 of 32 random bytes.</summary>
    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>The HMAC key of a secret (the bytes after <c>whsec_</c>).</summary>
    public static byte[] KeyOf(string secret) =>
        Convert.FromBase64String(secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret);

    /// <summary>The <c>webhook-signature</c> value for one request.</summary>
    public static string Sign(string secret, string id, long timestamp, string body) =>
        "v1," + Convert.ToBase64String(HMACSHA256.HashData(KeyOf(secret), Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));

    /// <summary>The three headers of a signed request: <c>webhook-id</c>, <c>webhook-timestamp</c>, <c>webhook-signature</c>.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Headers(string secret, string id, DateTimeOffset now, string body)
    {
        var timestamp = now.ToUnixTimeSeconds();
        return
        [
            new("webhook-id", id),
            new("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new("webhook-signature", Sign(secret, id, timestamp, body)),
        ];
    }

    /// <summary>
    /// Checks a received request: the signature over the raw body (any of the space-separated <c>v1,</c> values may
    /// match, so a sender can sign with an old and a new secret while rotating), then the timestamp window. Compares in
    /// constant time.
    /// </summary>
    public static WebhookVerification Verify(string secret, string? id, string? timestamp, string? signature, string body, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(signature) || id.Length > 255
            || !long.TryParse(timestamp, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ts))
            return WebhookVerification.InvalidSignature;
        var expected = Encoding.ASCII.GetBytes(Sign(secret, id, ts, body));
        var valid = false;
        foreach (var candidate in signature.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            valid |= CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(candidate), expected);
        if (!valid)
            return WebhookVerification.InvalidSignature;
        return Math.Abs(now.ToUnixTimeSeconds() - ts) > Tolerance.TotalSeconds ? WebhookVerification.StaleTimestamp : WebhookVerification.Valid;
    }
}

/// <summary>The outcome of <see cref="WebhookSignature.Verify"/>.</summary>
public enum WebhookVerification
{
    /// <summary>Signed with the secret, within the time window.</summary>
    Valid,
    /// <summary>Missing headers or no signature that matches.</summary>
    InvalidSignature,
    /// <summary>Signed correctly, but the timestamp is more than five minutes from the receiver's clock.</summary>
    StaleTimestamp,
}
