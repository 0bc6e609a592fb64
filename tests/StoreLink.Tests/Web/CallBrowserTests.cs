using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using StoreLink.Tests.Calls;
using StoreLink.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace StoreLink.Tests.Web;

/// <summary>
/// Issue 15 in the browser: a customer in the widget (phone) and an agent in the console (desktop) call each other in
/// real Chromium with its fake camera and microphone (a test pattern and a beep), the server on Kestrel. Media goes
/// peer to peer on loopback; what is asserted is what each person would notice — the other's picture moving, sound
/// arriving, the icons, the end and its reason, the summary in the chat. SQLite: the call record's persistence runs
/// on both databases in the API tests.
/// </summary>
public sealed class CallBrowserTests
{
    private static readonly BrowserViewport ConsoleScreen = new(1440, 900, false, 1);

    [Fact]
    public async Task A_customer_calls_from_the_widget_the_agent_answers_in_the_console_both_see_and_hear_each_other_and_the_summary_lands_in_both_languages()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var agentBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = ConsoleScreen, Locale = "en-GB" });
        await using var customerBrowser = await Browser.NewSessionAsync(app.ServerUri);
        var agent = await SignInInEnglishAsync(agentBrowser);
        var (widget, conversationId) = await CustomerWritesAndAgentOpensAsync(customerBrowser, agent);

        await widget.GetByTestId("call-video").ClickAsync();
        await Expect(widget.GetByTestId("call-status")).ToHaveTextAsync("呼叫中…");
        await Expect(agent.GetByTestId("call-ringing")).ToBeVisibleAsync();
        await Expect(agent.GetByTestId("call-ringing-title")).ToContainTextAsync("video");
        await agentBrowser.ScreenshotAsync("call-console-ringing", agent);
        await agent.GetByTestId("call-accept-video").ClickAsync();
        await Expect(agent.GetByTestId("call-ringing")).ToBeHiddenAsync();

        // Each sees the other's picture move and receives audio and video.
        await ExpectMediaFlowingAsync(widget, Widget);
        await ExpectMediaFlowingAsync(agent, ConsolePage);
        await Expect(widget.GetByTestId("call-timer")).ToHaveTextAsync(new Regex(@"^\d\d:\d\d$"));
        // The customer started the call with a tap, so the store's voice plays aloud (no "tap for sound").
        Assert.False(await widget.GetByTestId("call-remote-video").EvaluateAsync<bool>("v => v.muted"));
        await customerBrowser.ScreenshotAsync("call-widget-phone-screen", widget);
        await agentBrowser.ScreenshotAsync("call-console-view", agent);

        // Mute and camera-off reach the other side.
        await widget.GetByTestId("call-mute").ClickAsync();
        await Expect(agent.GetByTestId("call-remote-note")).ToContainTextAsync("muted");
        await agent.GetByTestId("call-camera").ClickAsync();
        await Expect(widget.GetByTestId("call-remote-note")).ToContainTextAsync("对方已关闭摄像头");
        await widget.GetByTestId("call-mute").ClickAsync();
        await Expect(agent.GetByTestId("call-remote-note")).ToBeHiddenAsync();

        // The customer's socket drops and comes back (a phone between networks): the call goes on, media and all.
        await customerBrowser.SetOfflineAsync(true);
        await Expect(widget.GetByTestId("network-banner")).ToBeVisibleAsync();
        await customerBrowser.SetOfflineAsync(false);
        await Expect(widget.GetByTestId("network-banner")).ToBeHiddenAsync();
        await ExpectMediaFlowingAsync(widget, Widget);
        await ExpectMediaFlowingAsync(agent, ConsolePage);
        await Expect(widget.GetByTestId("call-status")).ToHaveTextAsync("视频通话");

        var callId = await widget.EvaluateAsync<string>("() => window.storelinkWidget.calls.call.id");
        await agent.GetByTestId("call-hangup").ClickAsync();
        await Expect(widget.GetByTestId("call-ended")).ToHaveTextAsync("通话已结束");
        await Expect(agent.GetByTestId("call-ended")).ToHaveTextAsync("Call ended");

        // The summary, once, in each reader's language.
        await Expect(widget.GetByTestId("call-summary")).ToHaveCountAsync(1);
        await Expect(widget.GetByTestId("call-summary")).ToHaveTextAsync(new Regex(@"^视频通话 (\d+分)?\d+秒$"));
        await Expect(agent.Locator("#timeline [data-testid=call-summary]")).ToHaveCountAsync(1);
        await Expect(agent.Locator("#timeline [data-testid=call-summary]")).ToHaveTextAsync(new Regex(@"^Video call (\d+ min )?\d+ s$"));

        var staff = await app.LoginAsync("agent.digital@demo.local");
        var call = (await staff.GetJsonAsync($"/v1/calls/{callId}")).Json;
        Assert.Equal(("ended", "completed", "video"), (call.GetProperty("state").GetString(), call.GetProperty("end_reason").GetString(), call.GetProperty("media").GetString()));
        Assert.True(call.GetProperty("duration_ms").GetInt64() > 0);
        // Both browsers reported quality: samples, the setup time from the first frames, a round trip on loopback, no TURN.
        var quality = call.GetProperty("quality");
        Assert.True(quality.GetProperty("samples").GetInt64() >= 2, quality.ToString());
        Assert.Equal(JsonValueKind.Number, quality.GetProperty("setup_ms").ValueKind);
        Assert.Equal(JsonValueKind.Number, quality.GetProperty("rtt_mean_ms").ValueKind);
        Assert.False(quality.GetProperty("relay").GetBoolean());
        var summary = Assert.Single((await staff.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray(),
            m => m.GetProperty("kind").GetString() == "call");
        Assert.Equal((callId, "completed"), (summary.GetProperty("body").GetProperty("call_id").GetString(), summary.GetProperty("body").GetProperty("result").GetString()));
        AssertNoPageErrors(agentBrowser, customerBrowser);
    }

    [Fact]
    public async Task The_agent_calls_the_customer_who_reloads_mid_call_and_when_the_agents_page_closes_the_customer_sees_the_call_end_as_lost()
    {
        var lostAfter = TimeSpan.FromSeconds(10); // long enough for a reload on a busy machine, short for the test
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite,
            new Dictionary<string, string?> { ["Calls:LostAfter"] = lostAfter.ToString() });
        await using var agentBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = ConsoleScreen });
        await using var customerBrowser = await Browser.NewSessionAsync(app.ServerUri);
        var agent = await agentBrowser.SignInToConsoleAsync("agent.digital@demo.local");
        var (widget, _) = await CustomerWritesAndAgentOpensAsync(customerBrowser, agent);

        await agent.ClickAsync("#call-video-button");
        await Expect(widget.GetByTestId("call-ringing")).ToBeVisibleAsync();
        await Expect(widget.GetByTestId("call-ringing-title")).ToContainTextAsync("邀请你视频通话");
        await customerBrowser.ScreenshotAsync("call-widget-ringing-card", widget);
        await widget.GetByTestId("call-accept-video").ClickAsync();
        await ExpectMediaFlowingAsync(widget, Widget);
        await ExpectMediaFlowingAsync(agent, ConsolePage);
        var callId = await widget.EvaluateAsync<string>("() => window.storelinkWidget.calls.call.id");

        // The customer reloads the page mid-call: it picks the call up again (same device id) and the agent's side
        // starts the connection afresh when asked with `restart`.
        await widget.ReloadAsync();
        await ExpectMediaFlowingAsync(widget, Widget);
        await ExpectMediaFlowingAsync(agent, ConsolePage);
        Assert.Equal(callId, await widget.EvaluateAsync<string>("() => window.storelinkWidget.calls.call.id"));

        // The page goes away without hanging up (a closed tab, a crashed browser): nobody tells the server.
        await agent.CloseAsync(new PageCloseOptions { RunBeforeUnload = false });
        var ended = widget.GetByTestId("call-ended");
        await Expect(ended).ToHaveTextAsync("通话中断", new() { Timeout = (float)(lostAfter + TimeSpan.FromSeconds(15)).TotalMilliseconds });
        await Expect(widget.GetByTestId("call-remote-video")).ToHaveCountAsync(0);

        var staff = await app.LoginAsync("agent.digital@demo.local");
        // Whichever noticed first (the server's sweep, or the customer's browser hanging up with reason lost), it ended lost.
        await Eventually.TrueAsync(async () => (await staff.GetJsonAsync($"/v1/calls/{callId}")).Json.GetProperty("state").GetString() == "ended");
        var call = (await staff.GetJsonAsync($"/v1/calls/{callId}")).Json;
        Assert.Equal(("ended", "lost"), (call.GetProperty("state").GetString(), call.GetProperty("end_reason").GetString()));
        await Expect(widget.GetByTestId("call-summary")).ToHaveTextAsync("视频通话 · 通话中断");
        AssertNoPageErrors(customerBrowser);
    }

    [Fact]
    public async Task The_agent_adds_the_manager_to_a_running_call_all_three_see_each_other_and_a_snapshot_lands_in_the_chat()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var agentBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = ConsoleScreen });
        await using var managerBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = ConsoleScreen });
        await using var customerBrowser = await Browser.NewSessionAsync(app.ServerUri);
        var agent = await agentBrowser.SignInToConsoleAsync("agent.digital@demo.local");
        var (widget, conversationId) = await CustomerWritesAndAgentOpensAsync(customerBrowser, agent);
        var manager = await managerBrowser.SignInToConsoleAsync("manager.digital@demo.local");

        await agent.ClickAsync("#call-video-button");
        await widget.GetByTestId("call-accept-video").ClickAsync();
        await ExpectMediaFlowingAsync(agent, ConsolePage);

        // Without Janus a third participant makes a mesh: the one who joins last offers to both.
        await agent.GetByTestId("call-invite").ClickAsync();
        await agent.GetByTestId("call-invite-select").SelectOptionAsync(new SelectOptionValue { Label = "数码店长" });
        await agent.GetByTestId("call-invite-send").ClickAsync();
        await Expect(manager.GetByTestId("call-ringing")).ToBeVisibleAsync();
        await manager.GetByTestId("call-accept-video").ClickAsync();
        await ExpectMediaFlowingAsync(manager, ConsolePage, remotes: 2);
        await ExpectMediaFlowingAsync(agent, ConsolePage, remotes: 2);
        await ExpectMediaFlowingAsync(widget, Widget, remotes: 2);
        await customerBrowser.ScreenshotAsync("call-widget-phone-three", widget);
        await managerBrowser.ScreenshotAsync("call-console-three", manager);

        // The snapshot is of the customer's picture and arrives in the chat as an image.
        await agent.GetByTestId("call-snapshot").ClickAsync();
        await Expect(widget.Locator(".sl-theirs img.sl-image")).ToHaveCountAsync(1);
        // An <img> whose picture is still being fetched (no src yet) is already "complete": wait for real pixels.
        await widget.WaitForFunctionAsync("() => { const img = document.querySelector('.sl-theirs img.sl-image'); return !!img && img.complete && img.naturalWidth > 0; }");

        // The agent leaves; the customer and the manager go on; the manager hangs up and it ends for everyone.
        await agent.GetByTestId("call-hangup").ClickAsync();
        await ExpectMediaFlowingAsync(widget, Widget);
        await manager.GetByTestId("call-hangup").ClickAsync();
        await Expect(widget.GetByTestId("call-ended")).ToHaveTextAsync("通话已结束");
        await Expect(widget.GetByTestId("call-summary")).ToHaveCountAsync(1);
        var staff = await app.LoginAsync("manager.digital@demo.local");
        var calls = (await staff.GetJsonAsync($"/v1/conversations/{conversationId}/calls")).Json;
        var call = Assert.Single(calls.EnumerateArray());
        Assert.Equal(("ended", "completed", 3), (call.GetProperty("state").GetString(), call.GetProperty("end_reason").GetString(),
            call.GetProperty("participants").EnumerateArray().Count(p => p.GetProperty("joined_at").ValueKind != JsonValueKind.Null)));
        AssertNoPageErrors(agentBrowser, managerBrowser, customerBrowser);
    }

    [Fact]
    public async Task A_call_to_a_customer_whose_widget_panel_is_closed_opens_the_panel_on_the_ringing_card()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var shop = await HostPage.StartAsync($"""
            <!doctype html><html><head><meta charset="utf-8"><title>数码旗舰店官网</title></head>
            <body><h1>数码旗舰店 · 官方商城</h1>
            <script src="{app.ServerUri.ToString().TrimEnd('/')}/widget.js" data-store="demo-digital"></script>
            </body></html>
            """);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop, Origins = [shop.Origin] });
        var page = browser.Page;
        await page.GotoAsync(shop.Uri.ToString());
        var launcher = page.Locator("[data-storelink-widget] .launcher");
        var panel = page.Locator("[data-storelink-widget] .panel");
        await launcher.ClickAsync();
        var chat = page.FrameLocator("[data-storelink-widget] iframe");
        await chat.GetByTestId("composer").FillAsync("在吗？");
        await chat.GetByTestId("send").ClickAsync();
        await Expect(chat.Locator(".sl-mine[data-id]")).ToHaveCountAsync(1);
        var frame = page.Frames.Single(f => f.Url.Contains("/chat/demo-digital", StringComparison.Ordinal));
        var conversationId = await frame.EvaluateAsync<string>("() => window.storelinkWidget.state.conversation.id");
        await launcher.ClickAsync();
        await Expect(panel).Not.ToHaveClassAsync(new Regex("open"));

        var agent = await app.LoginAsync("agent.digital@demo.local");
        var started = await agent.PostJsonAsync($"/v1/conversations/{conversationId}/calls", new { media = "video", device_id = "agent-desk-1" });
        Assert.Equal(201, started.Status);
        await Expect(panel).ToHaveClassAsync(new Regex("open"));
        await Expect(chat.GetByTestId("call-ringing")).ToBeVisibleAsync();
        await browser.ScreenshotAsync("call-widget-desktop-host-ringing");
        await chat.GetByTestId("call-decline").ClickAsync();
        await Expect(chat.GetByTestId("call-ringing")).ToBeHiddenAsync();
        // The card goes at once; the decline reaches the server just after.
        await Eventually.TrueAsync(async () => (await agent.GetJsonAsync($"/v1/calls/{started.Str("id")}")).Json.GetProperty("end_reason").ValueKind != JsonValueKind.Null);
        var call = (await agent.GetJsonAsync($"/v1/calls/{started.Str("id")}")).Json;
        Assert.Equal(("ended", "declined"), (call.GetProperty("state").GetString(), call.GetProperty("end_reason").GetString()));
        AssertNoPageErrors(browser);
    }

    private const string Widget = "window.storelinkWidget.calls";
    private const string ConsolePage = "window.storelinkConsole.calls";

    private static async Task<IPage> SignInInEnglishAsync(BrowserSession session)
    {
        var page = await session.SignInToConsoleAsync("agent.digital@demo.local");
        await page.GotoAsync("/console/language?to=en&return_url=%2Fconsole");
        await Expect(page.Locator("#connection-state")).ToHaveAttributeAsync("data-state", "online");
        return page;
    }

    // The customer writes first, so the conversation is served by the only online agent (who then rings for it).
    internal static async Task<(IPage Widget, string ConversationId)> CustomerWritesAndAgentOpensAsync(BrowserSession customer, IPage agent)
    {
        var widget = customer.Page;
        await widget.GotoAsync("/chat/demo-digital");
        await widget.GetByTestId("composer").FillAsync("能视频看一下我的手机吗？");
        await widget.GetByTestId("send").ClickAsync();
        await widget.WaitForFunctionAsync("() => window.storelinkWidget?.state.conversation?.id");
        var conversationId = await widget.EvaluateAsync<string>("() => window.storelinkWidget.state.conversation.id");
        await agent.Locator($".inbox-item[data-id='{conversationId}'] button").ClickAsync();
        await Expect(agent.Locator("#timeline .msg", new() { HasText = "能视频看一下" })).ToHaveCountAsync(1);
        return (widget, conversationId);
    }

    // Every remote <video> shows frames (a size, a clock that advances) and every connection's inbound RTP of audio and
    // of video grows.
    internal static async Task ExpectMediaFlowingAsync(IPage page, string engine, int remotes = 1)
    {
        var videos = page.GetByTestId("call-remote-video");
        await Expect(videos).ToHaveCountAsync(remotes);
        for (var i = 0; i < remotes; i++)
        {
            var video = await videos.Nth(i).ElementHandleAsync();
            await page.WaitForFunctionAsync("v => v.videoWidth > 0 && v.currentTime > 0", video);
            var at = await video.EvaluateAsync<double>("v => v.currentTime");
            await page.WaitForFunctionAsync("([v, at]) => v.currentTime > at", new object[] { video, at });
        }
        await page.UntilAsync(InboundGrowing(engine, remotes), $"audio and video arriving from {remotes} participant(s)");
    }

    // True once every one of the `remotes` connections received more audio and more video bytes than when first seen
    // all together (WaitForFunctionAsync cannot wait for getStats: it takes the promise as true; PageWaits polls).
    private static string InboundGrowing(string engine, int remotes) => $$"""
        (() => {
          let first = null;
          const received = async () => {
            const all = {};
            for (const { key, pc } of {{engine}}.remoteConnections) {
              all[key] = { audio: 0, video: 0 };
              for (const s of (await pc.getStats()).values())
                if (s.type === 'inbound-rtp') all[key][s.kind] += s.bytesReceived ?? 0;
            }
            return all;
          };
          return async () => {
            const now = await received();
            if (Object.keys(now).length !== {{remotes}}) return false;
            if (!first || Object.keys(now).some(key => !first[key])) {
              first = now;
              return false;
            }
            return Object.entries(now).every(([key, bytes]) => bytes.audio > first[key].audio && bytes.video > first[key].video);
          };
        })()
        """;

    private static void AssertNoPageErrors(params BrowserSession[] sessions) =>
        Assert.DoesNotContain(sessions.SelectMany(s => s.Errors), e => e.StartsWith("page error", StringComparison.Ordinal));
}
