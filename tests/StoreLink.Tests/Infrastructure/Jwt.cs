using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace StoreLink.Tests.Infrastructure;

/// <summary>Signs identity tokens as a store's backend would, written independently of the server's validator.</summary>
public static class Jwt
{
    public static string Sign(object payload, string secret, string alg = "HS256")
    {
        var header = B64(JsonSerializer.SerializeToUtf8Bytes(new { alg, typ = "JWT" }));
        var body = B64(JsonSerializer.SerializeToUtf8Bytes(payload));
        var input = Encoding.ASCII.GetBytes($"{header}.{body}");
        var signature = alg switch
        {
            "HS256" => HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), input),
            "HS512" => HMACSHA512.HashData(Encoding.UTF8.GetBytes(secret), input),
            "none" => [],
            _ => throw new ArgumentException(alg),
        };
        return $"{header}.{body}.{B64(signature)}";
    }

    public static long In(TimeSpan from) => TestClock.Now.Add(from).ToUnixTimeSeconds(); // the servers' clock

    private static string B64(byte[] bytes) => Base64Url.EncodeToString(bytes);
}
