using Microsoft.Playwright;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Web;

/// <summary>The browser fixture itself: Chromium starts, reaches the server on Kestrel, has its fake devices.</summary>
public sealed class BrowserTests
{
    [Fact]
    public async Task Chromium_reaches_the_server_with_a_fake_microphone_and_location()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;

        var response = await page.GotoAsync("/healthz");
        Assert.Equal(200, response!.Status);
        Assert.Contains("ok", await page.ContentAsync());

        // The fake microphone records without a prompt; geolocation answers with the session's position.
        var audioTracks = await page.EvaluateAsync<int>(
            "async () => (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks().length");
        Assert.Equal(1, audioTracks);
        var latitude = await page.EvaluateAsync<double>(
            "() => new Promise((ok, fail) => navigator.geolocation.getCurrentPosition(p => ok(p.coords.latitude), fail))");
        Assert.Equal(22.5431, latitude, 3);

        var path = await browser.ScreenshotAsync("browser-fixture-healthz");
        Assert.True(new FileInfo(path).Length > 0);
    }
}
