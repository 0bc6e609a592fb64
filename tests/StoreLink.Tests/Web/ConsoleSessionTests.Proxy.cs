using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Web;

public sealed partial class ConsoleSessionTests
{
    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task Behind_a_tls_proxy_the_session_cookie_is_secure_when_forwarded_headers_are_on(bool forwardedHeaders, bool secure)
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite,
            new Dictionary<string, string?> { ["Http:ForwardedHeaders"] = forwardedHeaders ? "true" : "false" });
        var browser = Browser(app);
        browser.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");

        var signIn = await SignInAsync(browser, "agent.digital@demo.local");
        var cookie = Assert.Single(signIn.Headers.GetValues("Set-Cookie"), c => c.StartsWith("storelink_console=", StringComparison.Ordinal));
        Assert.Equal(secure, cookie.Contains("; secure", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", cookie, StringComparison.OrdinalIgnoreCase);
    }
}
