using System.Text.Json;
using Microsoft.Playwright;
using StoreLink.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace StoreLink.Tests.Web;

/// <summary>
/// The customer widget in real Chromium against the server on Kestrel (SQLite: what is tested here is the browser's
/// side; persistence runs on both databases in the API tests). The agent is played by the test over REST and WebSocket.
/// </summary>
public sealed class WidgetTests
{
    private static readonly string Photo = Path.Combine(AppContext.BaseDirectory, "Web", "Assets", "photo.png");

    [Fact]
    public async Task Visitor_sends_text_image_and_voice_and_sees_the_agent_live_with_receipts_typing_and_history()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync("/chat/demo-digital");
        await Expect(page.GetByTestId("store-status")).ToContainTextAsync("营业中");

        await SendTextAsync(page, "你好，我的手机屏幕碎了");
        await Expect(Mine(page)).ToHaveCountAsync(1);
        await page.GetByTestId("file-input").SetInputFilesAsync(Photo);
        await Expect(page.Locator(".sl-mine[data-id] img.sl-image")).ToHaveCountAsync(1);
        await Expect(page.Locator(".sl-mine[data-id] img.sl-image")).ToHaveJSPropertyAsync("complete", true);
        await page.GetByTestId("voice").ClickAsync();
        await Expect(page.GetByTestId("recording")).ToBeVisibleAsync();
        await page.WaitForTimeoutAsync(1500);
        await page.GetByTestId("voice-stop").ClickAsync();
        await Expect(Mine(page)).ToHaveCountAsync(3);

        // The agent finds the three messages, in order, as the protocol says.
        var conversationId = await ConversationIdAsync(page);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var history = await MessagesAsync(agent, conversationId);
        var customerMessages = history.Where(m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer").ToList();
        Assert.Equal(["text", "image", "voice"], customerMessages.Select(m => m.GetProperty("kind").GetString()));
        Assert.Equal("image/png", customerMessages[1].GetProperty("body").GetProperty("content_type").GetString());
        var voice = customerMessages[2].GetProperty("body");
        Assert.StartsWith("audio/", voice.GetProperty("content_type").GetString());
        Assert.InRange(voice.GetProperty("duration_ms").GetInt64(), 1000, 10_000);
        Assert.True(voice.GetProperty("size").GetInt64() > 500, "the fake microphone recorded sound");

        // Typing and read receipts of the agent show live; the agent's answer appears without a reload.
        await using var agentSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));
        await agentSocket.SendRawAsync(JsonSerializer.Serialize(new { type = "typing", conversation_id = conversationId }));
        await Expect(page.GetByTestId("typing")).ToBeVisibleAsync();
        var lastSeq = customerMessages[2].GetProperty("seq").GetInt64();
        await agentSocket.RequestAsync(new { type = "read", conversation_id = conversationId, seq = lastSeq });
        await Expect(page.Locator(".sl-mine[data-id] .sl-receipt").Last).ToHaveTextAsync("已读");
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/conversations/{conversationId}/messages",
            new { client_msg_id = "agent-answer-1", kind = "text", body = new { text = "您好，请问是什么型号的手机？" } })).Status / 100 * 100);
        await Expect(page.Locator(".sl-theirs .sl-text")).ToContainTextAsync(["您好，请问是什么型号的手机？"]);
        await Expect(page.GetByTestId("typing")).ToBeHiddenAsync();

        // The widget tells the store it has read the answer.
        var answerSeq = (await MessagesAsync(agent, conversationId)).Max(m => m.GetProperty("seq").GetInt64());
        await WaitForAsync(async () =>
        {
            var receipts = (await agent.GetJsonAsync($"/v1/conversations/{conversationId}/receipts")).Json.EnumerateArray();
            return receipts.Any(r => r.GetProperty("read_seq").GetInt64() >= answerSeq && r.GetProperty("user_id").GetString() != AgentId(agent));
        });
        await browser.ScreenshotAsync("widget-phone-conversation");

        // After a reload the same history, each message once.
        var before = await page.Locator(".sl-msg[data-id]").CountAsync();
        await page.ReloadAsync();
        await Expect(page.Locator(".sl-theirs .sl-text")).ToContainTextAsync(["您好，请问是什么型号的手机？"]);
        await Expect(page.Locator(".sl-msg[data-id]")).ToHaveCountAsync(before);
        var ids = await page.Locator(".sl-msg[data-id]").EvaluateAllAsync<string[]>("nodes => nodes.map(n => n.dataset.id)");
        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.Empty(browser.Errors);
    }

    private static ILocator Mine(IPage page) => page.Locator(".sl-mine[data-id]");

    private static async Task SendTextAsync(IPage page, string text)
    {
        await page.GetByTestId("composer").FillAsync(text);
        await page.GetByTestId("send").ClickAsync();
    }

    private static async Task<string> ConversationIdAsync(IPage page)
    {
        await page.WaitForFunctionAsync("() => window.storelinkWidget?.state.conversation?.id");
        return await page.EvaluateAsync<string>("() => window.storelinkWidget.state.conversation.id");
    }

    private static async Task<List<JsonElement>> MessagesAsync(HttpClient client, string conversationId) =>
        (await client.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray().ToList();

    private static string AgentId(HttpClient agent) => agent.GetJsonAsync("/v1/me").Result.Str("id");

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Browser.Timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("The condition did not hold in time.");
            await Task.Delay(100);
        }
    }
}
