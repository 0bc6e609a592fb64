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

    [Fact]
    /// <remarks>
    /// Found with Chromium 156: <c>SetOfflineAsync(true)</c> fires <c>offline</c>, sets <c>navigator.onLine</c> false
    /// and fails new requests, but leaves an open WebSocket open (readyState 1). The widget therefore closes its socket
    /// itself on <c>offline</c>; its offline test checks through the API that nothing got through meanwhile.
    /// </remarks>
    public async Task Going_offline_is_seen_by_the_page_and_cuts_new_requests()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync("/healthz");
        // A socket opened before going offline: what happens to it is what the widget must cope with.
        await page.EvaluateAsync("""
            () => new Promise(ok => {
              window.events = [];
              addEventListener('offline', () => events.push('offline-event'));
              const ws = new WebSocket(location.origin.replace('http', 'ws') + '/v1/ws');
              ws.onopen = () => { events.push('open'); ok(); };
              ws.onclose = e => events.push('close ' + e.code);
              window.ws = ws;
            })
            """);
        await browser.SetOfflineAsync(true);
        await page.WaitForTimeoutAsync(1000);
        var events = await page.EvaluateAsync<string[]>("() => events");
        var onLine = await page.EvaluateAsync<bool>("() => navigator.onLine");
        var fetchFails = await page.EvaluateAsync<bool>("() => fetch('/healthz').then(() => false, () => true)");
        var wsState = await page.EvaluateAsync<int>("() => ws.readyState");
        TestContext.Current.TestOutputHelper?.WriteLine($"events: {string.Join(", ", events)}; onLine {onLine}; fetch fails {fetchFails}; ws state {wsState}");
        Assert.False(onLine);
        Assert.Contains("offline-event", events);
        Assert.True(fetchFails);
        await browser.SetOfflineAsync(false);
        Assert.True(await page.EvaluateAsync<bool>("() => fetch('/healthz').then(r => r.ok, () => false)"));
    }
}
