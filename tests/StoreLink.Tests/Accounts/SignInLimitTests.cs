using System.Net;
using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Accounts;

/// <summary>The login throttle (docs/operations.md, "Sign-in limits"): exact under concurrency, per address before per account.</summary>
public sealed class SignInLimitTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task Sixty_concurrent_wrong_passwords_get_exactly_the_limit_of_checks(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?> { ["Auth:RequestsPerMinutePerAddress"] = "1000" });
        var client = app.Anonymous();
        var answers = await Task.WhenAll(Enumerable.Range(0, 60).Select(_ =>
            client.PostJsonAsync("/v1/auth/login", new { login = "admin@demo.local", password = "wrong-pass" })));

        // Auth:MaxFailuresPerAccount is 5: five passwords were checked, every other attempt was refused before its check.
        Assert.Equal(5, answers.Count(a => a.Status == 401));
        Assert.Equal(55, answers.Count(a => a.Status == 429 && a.Code == "rate_limited"));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Strangers_lock_out_their_own_address_and_the_account_only_from_many_addresses(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?>
        {
            ["Auth:MaxFailuresPerAccount"] = "2", ["Auth:MaxFailuresPerAccountAllAddresses"] = "5", ["Auth:LoginWindow"] = "00:10:00",
        });
        const string login = "admin@demo.local";
        Assert.Equal(401, await LoginFromAsync(app, "203.0.113.1", login, "wrong-pass"));
        Assert.Equal(401, await LoginFromAsync(app, "203.0.113.1", login, "wrong-pass"));
        Assert.Equal(429, await LoginFromAsync(app, "203.0.113.1", login, "demo1234"));
        // The owner, elsewhere, is not locked out by a stranger.
        Assert.Equal(200, await LoginFromAsync(app, "198.51.100.7", login, "demo1234"));

        // Failures from many addresses add up to the account-wide limit: now the account waits, wherever it signs in from.
        foreach (var stranger in new[] { "203.0.113.2", "203.0.113.2", "203.0.113.3" })
            Assert.Equal(401, await LoginFromAsync(app, stranger, login, "wrong-pass"));
        Assert.Equal(429, await LoginFromAsync(app, "198.51.100.7", login, "demo1234"));

        // Not for ever: the window ends.
        app.Clock.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(200, await LoginFromAsync(app, "198.51.100.7", login, "demo1234"));
        Assert.Equal(200, await LoginFromAsync(app, "203.0.113.1", login, "demo1234"));
    }

    /// <summary>A sign-in from a given client address (the in-process server lets a test set it).</summary>
    internal static async Task<int> LoginFromAsync(StoreLinkApp app, string address, string login, string password)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new { login, password });
        var context = await app.Server.SendAsync(c =>
        {
            c.Connection.RemoteIpAddress = IPAddress.Parse(address);
            c.Request.Scheme = "http";
            c.Request.Host = new Microsoft.AspNetCore.Http.HostString("localhost");
            c.Request.Method = "POST";
            c.Request.Path = "/v1/auth/login";
            c.Request.ContentType = "application/json";
            c.Request.ContentLength = body.Length;
            c.Request.Body = new MemoryStream(body);
            c.Features.Set<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>(new HasBody());
        });
        return context.Response.StatusCode;
    }

    private sealed class HasBody : Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody => true;
    }
}
