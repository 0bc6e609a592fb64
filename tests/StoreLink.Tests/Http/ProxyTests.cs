using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Http;

/// <summary>Behind a TLS-terminating proxy: forwarded headers are believed only when the operator turns them on.</summary>
public sealed class ProxyTests
{
    private static async Task<int[]> FailedLoginsFromForgedAddressesAsync(StoreLinkApp app)
    {
        var statuses = new List<int>();
        for (var i = 1; i <= 3; i++)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/auth/login")
            {
                Content = new StringContent($"{{\"login\":\"nobody{i}@demo.local\",\"password\":\"wrong\"}}", System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("X-Forwarded-For", $"203.0.113.{i}");
            statuses.Add((await app.Anonymous().SendJsonAsync(request)).Status);
        }
        return [.. statuses];
    }

    [Fact]
    public async Task A_forged_forwarded_address_does_not_escape_the_login_limit_unless_forwarded_headers_are_on()
    {
        var limit = new Dictionary<string, string?> { ["Auth:MaxFailuresPerAddress"] = "2" };
        await using (var direct = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite, limit))
            Assert.Equal(new[] { 401, 401, 429 }, await FailedLoginsFromForgedAddressesAsync(direct));

        // Behind a trusted proxy the forwarded address is the client's: three clients, one failure each.
        await using var proxied = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite, new Dictionary<string, string?>(limit) { ["Http:ForwardedHeaders"] = "true" });
        Assert.Equal(new[] { 401, 401, 401 }, await FailedLoginsFromForgedAddressesAsync(proxied));
    }
}
