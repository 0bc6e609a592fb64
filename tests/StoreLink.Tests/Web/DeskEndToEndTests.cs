using System.Text.Json;
using Microsoft.Playwright;
using StoreLink.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace StoreLink.Tests.Web;

/// <summary>
/// Issue 4 end to end, in real Chromium on both sides: a customer in the widget, the agent and the manager in the
/// staff console, the server on Kestrel. Nothing is played by the test but the clicks and keys of the three people.
/// </summary>
public sealed class DeskEndToEndTests
{
    private static readonly string Photo = Path.Combine(AppContext.BaseDirectory, "Web", "Assets", "photo.png");

    private static async Task SendAsync(IPage widget, string text)
    {
        await widget.GetByTestId("composer").FillAsync(text);
        await widget.GetByTestId("send").ClickAsync();
    }

    private static ILocator Timeline(IPage console, string text) => console.Locator("#timeline .msg", new() { HasText = text });

    [Fact]
    public async Task A_customer_in_the_widget_is_served_live_in_the_console_through_transfer_notes_offline_resolve_and_rating()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var agentBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop });
        await using var customerBrowser = await Browser.NewSessionAsync(app.ServerUri);
        var agent = await agentBrowser.SignInToConsoleAsync("agent.digital@demo.local");

        // The customer writes text, a photo and a voice note in the widget.
        var widget = customerBrowser.Page;
        await widget.GotoAsync("/chat/demo-digital");
        await SendAsync(widget, "你好，我的笔记本开不了机");
        await widget.WaitForFunctionAsync("() => window.storelinkWidget?.state.conversation?.id");
        var conversationId = await widget.EvaluateAsync<string>("() => window.storelinkWidget.state.conversation.id");

        // The only online agent gets it; it appears in "mine" and opens with the first message.
        var item = agent.Locator($".inbox-item[data-id='{conversationId}']");
        await Expect(item).ToBeVisibleAsync();
        await item.Locator("button").ClickAsync();
        await Expect(Timeline(agent, "开不了机")).ToHaveCountAsync(1);

        await widget.GetByTestId("file-input").SetInputFilesAsync(Photo);
        await widget.GetByTestId("voice").ClickAsync();
        await Expect(widget.GetByTestId("recording")).ToBeVisibleAsync();
        await widget.WaitForTimeoutAsync(1500);
        await widget.GetByTestId("voice-stop").ClickAsync();

        // The agent sees both arrive live, playable.
        await Expect(agent.Locator(".msg.them[data-kind=image] img")).ToHaveAttributeAsync("src", new System.Text.RegularExpressions.Regex("^blob:"));
        await Expect(agent.Locator(".msg.them[data-kind=voice] audio")).ToHaveAttributeAsync("src", new System.Text.RegularExpressions.Regex("^blob:"));
        Assert.True(await agent.Locator(".msg.them[data-kind=image] img").EvaluateAsync<bool>("img => img.complete && img.naturalWidth > 0"));

        // The customer sees the agent typing; the answer appears in the widget; a note with it never does.
        await agent.FillAsync("#composer-text", "您好，请问是什么型号？我们先帮您看看。");
        await Expect(widget.GetByTestId("typing")).ToBeVisibleAsync();
        await agent.PressAsync("#composer-text", "Enter");
        await Expect(widget.Locator(".sl-theirs .sl-text", new() { HasText = "什么型号" })).ToHaveCountAsync(1);
        await agent.ClickAsync(".modes button[data-mode=note]");
        await agent.FillAsync("#composer-text", "内部：可能是主板问题，先别报价");
        await agent.PressAsync("#composer-text", "Enter");
        await Expect(agent.Locator(".msg.note", new() { HasText = "先别报价" })).ToHaveCountAsync(1);
        await agent.ClickAsync(".modes button[data-mode=reply]");

        // The widget goes offline; what the customer types then arrives once when it is back.
        await customerBrowser.SetOfflineAsync(true);
        await Expect(widget.GetByTestId("network-banner")).ToBeVisibleAsync();
        await SendAsync(widget, "型号是 ThinkPad X1");
        await SendAsync(widget, "昨天进过水");
        await Expect(widget.Locator(".sl-pending")).ToHaveCountAsync(2);
        await customerBrowser.SetOfflineAsync(false);
        await Expect(widget.Locator(".sl-pending")).ToHaveCountAsync(0);
        await Expect(Timeline(agent, "ThinkPad X1")).ToHaveCountAsync(1);
        await Expect(Timeline(agent, "昨天进过水")).ToHaveCountAsync(1);
        await customerBrowser.ScreenshotAsync("e2e-widget-phone");
        await agentBrowser.ScreenshotAsync("e2e-console-agent-desktop");

        // The manager comes online; the agent transfers to them with a note the manager sees and the customer does not.
        await using var managerBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop });
        var manager = await managerBrowser.SignInToConsoleAsync("manager.digital@demo.local");
        var managerId = await manager.EvaluateAsync<string>("async () => (await (await fetch('/v1/me', { headers: { authorization: 'Bearer ' + document.querySelector('meta[name=storelink-token]').content } })).json()).id");
        // The manager looks in (the agent sees who is viewing) and is asked in a note with an @mention.
        await manager.ClickAsync("#views button[data-view=all]");
        await manager.Locator($".inbox-item[data-id='{conversationId}'] button").ClickAsync();
        await Expect(agent.Locator("#conv-viewers")).ToContainTextAsync("数码店长");
        await agent.ClickAsync(".modes button[data-mode=note]");
        await agent.Locator("#composer-text").PressSequentiallyAsync("@");
        await agent.ClickAsync($"#mention-popup li[data-id='{managerId}']");
        await agent.Locator("#composer-text").PressSequentiallyAsync("进水的机器能修吗？");
        await agent.PressAsync("#composer-text", "Enter");
        await Expect(manager.Locator(".toast", new() { HasText = "提到了你" })).ToBeVisibleAsync();
        await Expect(manager.Locator(".msg.note", new() { HasText = "进水的机器能修吗" })).ToHaveCountAsync(1);
        await agent.ClickAsync(".modes button[data-mode=reply]");

        await agent.ClickAsync("#transfer-button");
        await agent.SelectOptionAsync("#transfer-agent", managerId);
        await agent.FillAsync("#transfer-note", "进水机器，请店长亲自跟进");
        await agent.ClickAsync("#transfer-submit");
        await manager.ClickAsync("#views button[data-view=mine]");
        var managerItem = manager.Locator($".inbox-item[data-id='{conversationId}']");
        await Expect(managerItem).ToBeVisibleAsync();
        await Expect(manager.Locator("#conv-meta")).ToContainTextAsync("数码店长");
        await Expect(manager.Locator(".msg.note", new() { HasText = "请店长亲自跟进" })).ToHaveCountAsync(1);
        await Expect(manager.Locator(".msg.note", new() { HasText = "先别报价" })).ToHaveCountAsync(1);

        // The manager answers and resolves; the customer rates.
        await manager.FillAsync("#composer-text", "您好，我是店长，进水机器我们优先处理。");
        await manager.PressAsync("#composer-text", "Enter");
        await Expect(widget.Locator(".sl-theirs .sl-text", new() { HasText = "我是店长" })).ToHaveCountAsync(1);
        await manager.ClickAsync("#resolve-button");
        await Expect(manager.Locator("#conv-state")).ToHaveTextAsync("已解决");
        var card = widget.GetByTestId("card-csat");
        await Expect(card).ToBeVisibleAsync();
        await card.GetByTestId("csat-5").ClickAsync();
        await card.GetByTestId("csat-comment").FillAsync("店长很专业");
        await card.GetByTestId("csat-submit").ClickAsync();
        await Expect(card.GetByTestId("csat-done")).ToContainTextAsync("5");
        await Expect(manager.Locator(".toast", new() { HasText = "5 分" })).ToBeVisibleAsync();
        await managerBrowser.ScreenshotAsync("e2e-console-manager-desktop");

        // What the customer saw, as the server keeps it: every customer message once, in order, and no note.
        var staff = await app.LoginAsync("manager.digital@demo.local");
        var messages = (await staff.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray().ToList();
        Assert.Equal(["text", "image", "voice", "text", "text"], messages.Where(m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer").Select(m => m.GetProperty("kind").GetString()));
        Assert.Equal(messages.Count, messages.Select(m => m.GetProperty("seq").GetInt64()).Distinct().Count());
        Assert.DoesNotContain(messages, m => m.GetProperty("body").TryGetProperty("text", out var t) && (t.GetString()!.Contains("先别报价", StringComparison.Ordinal) || t.GetString()!.Contains("亲自跟进", StringComparison.Ordinal)));
        Assert.Equal(0, await widget.Locator(".sl-msg", new() { HasText = "先别报价" }).CountAsync());
        var rating = Assert.Single((await staff.GetJsonAsync($"/v1/conversations/{conversationId}/csat")).Json.EnumerateArray());
        Assert.Equal((5, managerId), (rating.GetProperty("rating").GetInt32(), rating.GetProperty("agent_id").GetString()));
        Assert.DoesNotContain(agentBrowser.Errors.Concat(managerBrowser.Errors), e => !e.Contains("Failed to load resource", StringComparison.Ordinal));
    }
}
