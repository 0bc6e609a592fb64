using System.Security.Cryptography;
using System.Text;

namespace StoreLink.Server.Accounts;

/// <summary>Random bearer secrets and their stored form. Only SHA-256 hashes of tokens and keys reach the database.</summary>
public static class Secrets
{
    /// <summary>Prefix of access tokens (login, visitor, customer).</summary>
    public const string AccessTokenPrefix = "sla_";

    /// <summary>Prefix of API keys of integrations.</summary>
    public const string ApiKeyPrefix = "slk_";

    public static string NewAccessToken() => AccessTokenPrefix + Random(32);

    public static string NewApiKey() => ApiKeyPrefix + Random(32);

    /// <summary>An organization's identity secret: the HS256 key (its UTF-8 bytes) stores sign customer tokens with.</summary>
    public static string NewIdentitySecret() => Random(32);

    /// <summary>A password an admin's reset hands over: 16 characters of base64url (96 random bits).</summary>
    public static string NewPassword() => Random(12);

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static string Random(int bytes) => System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(bytes));
}
