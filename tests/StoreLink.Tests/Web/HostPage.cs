using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace StoreLink.Tests.Web;

/// <summary>
/// A third-party site for embedding tests: one HTML page on its own Kestrel at a loopback port, so it is another
/// origin than the server under test. (A made-up public host name would not do: Chromium's Private Network Access
/// blocks a non-secure public page from loading scripts from loopback.)
/// </summary>
public sealed class HostPage : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HostPage(WebApplication app, Uri uri)
    {
        _app = app;
        Uri = uri;
    }

    /// <summary>The page's address; <c>localhost</c> rather than <c>127.0.0.1</c>, so even the host name differs.</summary>
    public Uri Uri { get; }

    public string Origin => Uri.GetLeftPart(UriPartial.Authority);

    public static async Task<HostPage> StartAsync(string html)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/{**path}", () => Results.Content(html, "text/html; charset=utf-8"));
        await app.StartAsync();
        var address = new Uri(app.Urls.First());
        return new HostPage(app, new UriBuilder(address) { Host = "localhost", Path = "/shop/product/42" }.Uri);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
