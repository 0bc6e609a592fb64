using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
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
        var summary = Assert.Single((await staff.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray(),
            m => m.GetProperty("kind").GetString() == "call");
        Assert.Equal((callId, "completed"), (summary.GetProperty("body").GetProperty("call_id").GetString(), summary.GetProperty("body").GetProperty("result").GetString()));
        AssertNoPageErrors(agentBrowser, customerBrowser);
    }

    [Fact]
    public async Task The_agent_calls_the_customer_and_when_the_agents_page_closes_mid_call_the_customer_sees_the_call_end_as_lost()
    {
        var lostAfter = TimeSpan.FromSeconds(4);
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

        // The page goes away without hanging up (a closed tab, a crashed browser): nobody tells the server.
        await agent.CloseAsync(new PageCloseOptions { RunBeforeUnload = false });
        var ended = widget.GetByTestId("call-ended");
        await Expect(ended).ToHaveTextAsync("通话中断", new() { Timeout = (float)(lostAfter + TimeSpan.FromSeconds(15)).TotalMilliseconds });
        await Expect(widget.GetByTestId("call-remote-video")).ToHaveCountAsync(0);

        var staff = await app.LoginAsync("agent.digital@demo.local");
        var call = (await staff.GetJsonAsync($"/v1/calls/{callId}")).Json;
        Assert.Equal(("ended", "lost"), (call.GetProperty("state").GetString(), call.GetProperty("end_reason").GetString()));
        await Expect(widget.GetByTestId("call-summary")).ToHaveTextAsync("视频通话 · 通话中断");
        AssertNoPageErrors(customerBrowser);
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
    private static async Task<(IPage Widget, string ConversationId)> CustomerWritesAndAgentOpensAsync(BrowserSession customer, IPage agent)
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

    // The remote <video> shows frames (a size, a clock that advances) and inbound RTP of audio and of video grows.
    private static async Task ExpectMediaFlowingAsync(IPage page, string engine)
    {
        var video = page.GetByTestId("call-remote-video");
        await Expect(video).ToHaveCountAsync(1);
        await page.WaitForFunctionAsync("v => v.videoWidth > 0 && v.currentTime > 0", await video.ElementHandleAsync());
        var at = await video.EvaluateAsync<double>("v => v.currentTime");
        await page.WaitForFunctionAsync("([v, at]) => v.currentTime > at", new object[] { await video.ElementHandleAsync(), at });
        var before = await InboundBytesAsync(page, engine, new { audio = 0.0, video = 0.0 });
        await InboundBytesAsync(page, engine, new { audio = before.GetProperty("audio").GetDouble(), video = before.GetProperty("video").GetDouble() });
    }

    private static async Task<JsonElement> InboundBytesAsync(IPage page, string engine, object before)
    {
        var totals = await page.WaitForFunctionAsync(InboundBytes(engine), before, new PageWaitForFunctionOptions { PollingInterval = 250 });
        return await totals.JsonValueAsync<JsonElement>();
    }

    // Bytes received per kind over the engine's connections, when both grew beyond `before` (else false: keep waiting).
    private static string InboundBytes(string engine) => $$"""
        async before => {
          const totals = { audio: 0, video: 0 };
          for (const peer of {{engine}}.peers.values())
            for (const s of (await peer.pc.getStats()).values())
              if (s.type === 'inbound-rtp') totals[s.kind] += s.bytesReceived ?? 0;
          return totals.audio > before.audio && totals.video > before.video ? totals : false;
        }
        """;

    private static void AssertNoPageErrors(params BrowserSession[] sessions) =>
        Assert.DoesNotContain(sessions.SelectMany(s => s.Errors), e => e.StartsWith("page error", StringComparison.Ordinal));
}
