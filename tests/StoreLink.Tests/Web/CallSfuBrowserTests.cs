using System.Text.Json;
using Microsoft.Playwright;
using StoreLink.Tests.Calls;
using StoreLink.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace StoreLink.Tests.Web;

/// <summary>
/// Issue 15's third browser test: a call of three through Janus (the MediaEngines fixture's), with a snapshot onto the
/// care job and a recording that lands in the chat as playable files. SQLite: the API tests cover both databases.
/// </summary>
public sealed class CallSfuBrowserTests
{
    private static readonly BrowserViewport ConsoleScreen = new(1440, 900, false, 1);
    private const string Widget = "window.storelinkWidget.calls";
    private const string ConsolePage = "window.storelinkConsole.calls";

    [Fact]
    public async Task The_agent_adds_a_technician_the_call_moves_to_janus_all_three_see_each_other_and_the_snapshot_and_recording_land_in_the_chat()
    {
        var janus = await MediaEngines.JanusAsync();
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, janus.Settings());
        var managerApi = await app.LoginAsync("manager.digital@demo.local");
        var agentApi = await app.LoginAsync("agent.digital@demo.local");
        var storeId = (await managerApi.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == "demo-digital").GetProperty("id").GetString();
        Assert.Equal(200, (await managerApi.PatchJsonAsync($"/v1/stores/{storeId}", new { calls_recording = true })).Status);

        await using var agentBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = ConsoleScreen });
        await using var technicianBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = ConsoleScreen });
        await using var customerBrowser = await Browser.NewSessionAsync(app.ServerUri);
        var agent = await agentBrowser.SignInToConsoleAsync("agent.digital@demo.local");
        var (widget, conversationId) = await CallBrowserTests.CustomerWritesAndAgentOpensAsync(customerBrowser, agent);
        // The conversation has an open care job: the snapshot goes onto its timeline.
        var customerId = (await agentApi.GetJsonAsync($"/v1/conversations/{conversationId}")).Json.GetProperty("customer_id").GetString();
        var job = await agentApi.PostJsonAsync("/v1/work-items", new { store_id = storeId, kind = "care_job", customer_id = customerId, title = "手机壳清洁", conversation_id = conversationId });
        Assert.True(job.Status == 201, job.ToString());
        var technician = await technicianBrowser.SignInToConsoleAsync("tech.digital@demo.local");

        await agent.ClickAsync("#call-video-button");
        await widget.GetByTestId("call-accept-video").ClickAsync();
        await widget.WaitForFunctionAsync($"() => {Widget}.phase === 'active'");

        // The agent asks the technician in. A third participant with Janus configured: the call moves into its room, and everyone receives both others.
        await agent.GetByTestId("call-invite").ClickAsync();
        await agent.GetByTestId("call-invite-select").SelectOptionAsync(new SelectOptionValue { Label = "数码维修师傅" });
        await agent.GetByTestId("call-invite-send").ClickAsync();
        await Expect(technician.GetByTestId("call-ringing")).ToBeVisibleAsync();
        await technician.GetByTestId("call-accept-video").ClickAsync();
        foreach (var (page, engine) in new[] { (technician, ConsolePage), (agent, ConsolePage), (widget, Widget) })
        {
            await page.WaitForFunctionAsync($"() => {engine}.call?.mode === 'sfu' && {engine}.room && {engine}.peers.size === 0");
            await CallBrowserTests.ExpectMediaFlowingAsync(page, engine, remotes: 2);
        }
        await technicianBrowser.ScreenshotAsync("call-console-three-sfu", technician);

        // The snapshot of the customer's picture lands in the chat and on the care job's timeline.
        await agent.GetByTestId("call-snapshot").ClickAsync();
        await Expect(widget.Locator(".sl-theirs img.sl-image")).ToHaveCountAsync(1);
        await Eventually.TrueAsync(async () => (await agentApi.GetJsonAsync($"/v1/work-items/{job.Str("id")}/timeline")).Json.EnumerateArray()
            .Any(e => e.GetProperty("kind").GetString() == "call_snapshot"), what: "the snapshot on the care job's timeline");

        // Recording: the customer is told and sees the indicator, as does the console.
        await Expect(widget.GetByTestId("call-recording")).ToBeHiddenAsync();
        await agent.GetByTestId("call-record").ClickAsync();
        await Expect(widget.Locator(".sl-msg.sl-system", new() { HasText = "本次通话将被录音录像" })).ToHaveCountAsync(1);
        await Expect(widget.GetByTestId("call-recording")).ToBeVisibleAsync();
        await Expect(widget.GetByTestId("call-recording")).ToHaveTextAsync("录制中");
        await Expect(agent.GetByTestId("call-recording")).ToBeVisibleAsync();
        await customerBrowser.ScreenshotAsync("call-widget-recording", widget);
        // Three seconds of the customer's audio go out while it records (20 ms a packet).
        await widget.UntilAsync($$"""
            async () => {
              const pc = {{Widget}}.room.connections[0];
              const audio = [...(await pc.getStats()).values()].find(s => s.type === 'outbound-rtp' && s.kind === 'audio');
              window.sentAtRecording ??= audio.packetsSent;
              return audio.packetsSent - window.sentAtRecording >= 150;
            }
            """, "three seconds of audio recorded");

        await agent.GetByTestId("call-hangup").ClickAsync();
        await technician.GetByTestId("call-hangup").ClickAsync();
        await Expect(widget.GetByTestId("call-ended")).ToBeVisibleAsync();
        await Expect(widget.GetByTestId("call-recording")).ToBeHiddenAsync();

        // The recording: one file per participant and track, in the chat, playable (Ogg audio, WebM video).
        List<JsonElement> recorded = [];
        await Eventually.TrueAsync(async () => (recorded = (await agentApi.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json
            .EnumerateArray().Where(m => m.GetProperty("kind").GetString() is "voice" or "video").ToList()).Count >= 6, what: "six recorded tracks in the chat");
        Assert.Equal(3, recorded.Count(m => m.GetProperty("kind").GetString() == "video"));
        foreach (var message in recorded)
        {
            var id = message.GetProperty("body").GetProperty("attachment_id").GetString();
            using var response = await agentApi.GetAsync($"/v1/attachments/{id}", TestContext.Current.CancellationToken);
            var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            Assert.True(bytes.Length > 1000, $"{id}: {bytes.Length} bytes");
            var expected = message.GetProperty("kind").GetString() == "video" ? new byte[] { 0x1A, 0x45, 0xDF, 0xA3 } : "OggS"u8.ToArray();
            Assert.Equal(expected, bytes[..4]);
        }
        Assert.DoesNotContain(new[] { agentBrowser, technicianBrowser, customerBrowser }.SelectMany(s => s.Errors), e => e.StartsWith("page error", StringComparison.Ordinal));
    }
}
