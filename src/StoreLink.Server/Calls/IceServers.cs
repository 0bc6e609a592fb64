using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Http;

namespace StoreLink.Server.Calls;

/// <summary>
/// The STUN and TURN servers a caller's browser may use. TURN credentials follow coturn's <c>use-auth-secret</c> (TURN
/// REST) scheme, so coturn checks them with the shared secret alone and StoreLink keeps no state: the username is
/// <c>&lt;expiry unix seconds&gt;:&lt;user id&gt;</c>, the credential base64(HMAC-SHA1(secret, username)).
/// </summary>
public sealed class IceServers(IOptions<CallsOptions> options, TimeProvider clock)
{
    public IceServersDto For(CurrentUser user)
    {
        // Media is relayed for people in a call; an integration has no browser to call from.
        if (user.IsApiClient)
            throw ApiException.Forbidden(Texts.Get(user.Language, "calls_api_key"));
        var calls = options.Value;
        // Whole seconds: the expiry in the username and expires_at are the same instant.
        var expires = DateTimeOffset.FromUnixTimeSeconds((clock.GetUtcNow() + calls.Turn.CredentialLifetime).ToUnixTimeSeconds());
        var servers = new List<IceServerDto>();
        if (calls.StunUrls.Count > 0)
            servers.Add(new IceServerDto(calls.StunUrls));
        if (calls.Turn.Urls.Count > 0)
        {
            var username = $"{expires.ToUnixTimeSeconds()}:{user.Id}";
            servers.Add(new IceServerDto(calls.Turn.Urls, username, Credential(calls.Turn.Secret!, username)));
        }
        return new IceServersDto(servers, calls.Turn.ForceRelay ? "relay" : "all", expires);
    }

    public static string Credential(string secret, string username) =>
        Convert.ToBase64String(HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(username)));
}
