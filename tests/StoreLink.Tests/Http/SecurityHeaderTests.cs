using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Http;

/// <summary>What every answer carries: JSON is never sniffed, and nothing under /v1 (tokens, personal data) is cached.</summary>
public sealed class SecurityHeaderTests
{
    [Fact]
    public async Task Every_v1_answer_is_nosniff_and_no_store_and_static_assets_keep_their_caching()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var anonymous = app.Anonymous();
        var customer = await app.VisitorAsync("demo-digital");
        var uploaded = await AttachmentTests.UploadAsync(customer, AttachmentTests.Png, "a.png", "image/png");

        var answers = new Dictionary<string, HttpResponseMessage>
        {
            ["login"] = await anonymous.PostAsync("/v1/auth/login", Json("{\"login\":\"admin@demo.local\",\"password\":\"demo1234\"}")),
            ["failed login"] = await anonymous.PostAsync("/v1/auth/login", Json("{\"login\":\"admin@demo.local\",\"password\":\"wrong\"}")),
            ["visitor"] = await anonymous.PostAsync("/v1/auth/visitor", Json("{\"store_key\":\"demo-digital\"}")),
            ["me"] = await customer.GetAsync("/v1/me"),
            ["unauthorized"] = await anonymous.GetAsync("/v1/me"),
            ["conversations"] = await customer.GetAsync("/v1/conversations"),
            ["unknown route"] = await anonymous.GetAsync("/v1/no-such-thing"),
            ["malformed"] = await anonymous.PostAsync("/v1/auth/login", Json("{")),
            ["attachment"] = await customer.GetAsync($"/v1/attachments/{uploaded.Str("id")}"),
        };
        foreach (var (what, answer) in answers)
        {
            Assert.True(answer.Headers.TryGetValues("X-Content-Type-Options", out var nosniff) && nosniff.Single() == "nosniff", $"{what}: nosniff");
            Assert.True(answer.Headers.CacheControl is { NoStore: true, Private: false, MaxAge: null }, $"{what}: {answer.Headers.CacheControl}");
        }

        using var health = await anonymous.GetAsync("/healthz");
        Assert.Equal("nosniff", health.Headers.GetValues("X-Content-Type-Options").Single());
        using var widget = await anonymous.GetAsync("/widget.js");
        Assert.True(widget.Headers.CacheControl is { NoCache: true, NoStore: false });
        Assert.Empty(app.Log.Errors);
    }

    private static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");
}
