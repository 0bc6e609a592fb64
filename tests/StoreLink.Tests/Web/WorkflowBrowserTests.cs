using System.Text.RegularExpressions;
using Microsoft.Playwright;
using StoreLink.Server.Accounts;
using StoreLink.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace StoreLink.Tests.Web;

/// <summary>
/// Store workflows in Chromium: one electronics repair walked through the widget (the customer), the console on a
/// desk (the agent) and the console on a phone (the technician); the work list and board with their filters; the
/// template viewer. Each step waits for what its user would see on screen.
/// </summary>
public sealed class WorkflowBrowserTests
{
    private static readonly string Photo = Path.Combine(AppContext.BaseDirectory, "Web", "Assets", "photo.png");

    [Fact]
    public async Task A_broken_screen_goes_from_the_widget_to_a_ticket_in_the_console_and_the_customer_approves_the_quote_from_its_card()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var identityToken = Jwt.Sign(new { sub = "C1001", name = "演示顾客一", exp = Jwt.In(TimeSpan.FromHours(1)) }, DemoSeed.RetailIdentitySecret);

        // The customer writes from the widget on a phone: the screen is broken, with a photo.
        await using var customerBrowser = await Browser.NewSessionAsync(app.ServerUri);
        var widget = customerBrowser.Page;
        await widget.GotoAsync($"/chat/demo-digital#identity_token={identityToken}");
        await widget.GetByTestId("composer").FillAsync("你好，我的 iPhone 16 Pro 摔了一下，屏幕碎了，触摸也失灵。电话 13800000001");
        await widget.GetByTestId("send").ClickAsync();
        await Expect(widget.Locator(".sl-mine[data-id]")).ToHaveCountAsync(1);
        await widget.GetByTestId("file-input").SetInputFilesAsync(Photo);
        await Expect(widget.Locator(".sl-mine[data-id] img.sl-image")).ToHaveCountAsync(1);
        await widget.WaitForFunctionAsync("() => window.storelinkWidget?.state.conversation?.id");
        var conversationId = await widget.EvaluateAsync<string>("() => window.storelinkWidget.state.conversation.id");

        // The agent, at a desk, turns the chat into a ticket: the form comes prefilled from what the customer wrote.
        await using var agentBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop });
        var console = await ConsoleBrowserTests.SignInAsync(agentBrowser, "agent.digital@demo.local");
        await console.Locator($".inbox-item[data-id='{conversationId}'] button").ClickAsync();
        await Expect(console.Locator("#timeline")).ToContainTextAsync("屏幕碎了");
        await console.ClickAsync("#workitem-button");
        var dialog = console.Locator("#workitem-dialog");
        await Expect(dialog.Locator("#workitem-category")).ToHaveValueAsync("screen");
        await Expect(dialog.Locator("#workitem-phones")).ToHaveValueAsync("13800000001");
        await Expect(dialog.Locator("#workitem-brand")).ToHaveValueAsync("Apple");
        await Expect(dialog.Locator("#workitem-model")).ToHaveValueAsync("iPhone 16 Pro");
        await Expect(dialog.Locator("#workitem-description")).ToHaveValueAsync(new Regex("触摸也失灵"));
        await Expect(dialog.Locator("#workitem-attachments input:checked")).ToHaveCountAsync(1);
        await Expect(dialog.Locator("#workitem-transcript")).ToContainTextAsync("#1");
        await agentBrowser.ScreenshotAsync("console-workitem-from-chat");
        await console.ClickAsync("#workitem-submit");
        await Expect(dialog).Not.ToBeVisibleAsync();
        // The new ticket shows beside the chat, assigned by its category to the technician.
        var beside = console.Locator("#panel-work li.new");
        await Expect(beside).ToContainTextAsync("已受理");
        await Expect(beside).ToContainTextAsync("数码维修师傅");
        var itemId = await beside.GetAttributeAsync("data-id");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var created = await agent.GetJsonAsync($"/v1/work-items/{itemId}");
        Assert.Equal(("screen", "technician", conversationId), (created.Str("category"), created.Str("team"), created.Str("conversation_id")));
        Assert.Single(created.Json.GetProperty("attachment_ids").EnumerateArray());
        var number = created.Str("number");
        await CardAsync(widget, "已受理");
        await agentBrowser.ScreenshotAsync("console-conversation-with-work-item");

        // The technician, on a phone, finds it on the board and moves it along.
        await using var techBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Phone });
        var tech = await ConsoleBrowserTests.SignInAsync(techBrowser, "tech.digital@demo.local");
        await tech.ClickAsync("#work-link");
        var onBoard = tech.Locator($".column[data-state=received] .wcard[data-id='{itemId}']");
        await Expect(onBoard).ToContainTextAsync(number);
        await techBrowser.ScreenshotAsync("console-work-board-phone");
        await onBoard.ClickAsync();
        await Expect(tech.Locator(".wi-head")).ToContainTextAsync(number);
        await Expect(tech.Locator("#wi-fields [data-field=device_model]")).ToHaveTextAsync("iPhone 16 Pro");
        await tech.ClickAsync("button[data-to=inspecting]");
        await Expect(tech.Locator(".wi-status .wstate")).ToHaveTextAsync("检测中");
        await CardAsync(widget, "检测中");

        // 待客户确认报价 takes a price: the move and the quote are one step, and the customer gets one card for it.
        await tech.ClickAsync("button[data-to=awaiting_approval]");
        var quote = tech.Locator("#request-dialog");
        await quote.Locator("#request-what").FillAsync("更换原装屏幕");
        await quote.Locator("#request-price").FillAsync("899");
        await quote.Locator("#request-photos").SetInputFilesAsync(Photo);
        await techBrowser.ScreenshotAsync("console-work-item-quote-phone");
        await quote.Locator("#request-submit").ClickAsync();
        await Expect(quote).Not.ToBeVisibleAsync();
        await Expect(tech.Locator(".wi-status .wstate")).ToHaveTextAsync("待客户确认报价");
        await Expect(tech.Locator("#wi-requests .request")).ToContainTextAsync("待确认");

        await CardAsync(widget, "待您确认报价");
        var quoteCard = widget.Locator("[data-testid=card-work_item]", new() { HasText = "待您确认报价" });
        await Expect(quoteCard).ToHaveCountAsync(1);
        await Expect(quoteCard).ToContainTextAsync("更换原装屏幕 ¥899");
        await quoteCard.ScrollIntoViewIfNeededAsync();
        await customerBrowser.ScreenshotAsync("widget-phone-quote-card");
        await quoteCard.Locator("button", new() { HasText = "同意更换原装屏幕" }).ClickAsync();
        await Expect(quoteCard.Locator(".sl-action-done")).ToContainTextAsync("同意更换原装屏幕");

        // The technician's page follows at once: the customer's decision, on the timeline.
        await Expect(tech.Locator(".wi-status .wstate")).ToHaveTextAsync("维修中");
        await Expect(tech.Locator("#wi-requests .request")).ToContainTextAsync("已同意");
        await Expect(tech.Locator("#wi-timeline")).ToContainTextAsync("顾客同意了「更换原装屏幕 ¥899」");
        await CardAsync(widget, "维修中");
        await tech.ClickAsync("button[data-to=ready_for_pickup]");
        await Expect(tech.Locator(".wi-status .wstate")).ToHaveTextAsync("待取件");
        await CardAsync(widget, "待取件");
        await tech.ClickAsync("button[data-to=completed]");
        await Expect(tech.Locator(".wi-status .wstate")).ToHaveTextAsync("已完成");
        await Expect(tech.Locator("#wi-moves")).ToContainTextAsync("此工单已结束");
        await techBrowser.ScreenshotAsync("console-work-item-phone", fullPage: true);

        // The customer saw every step, each as one card; only the newest could still act.
        await CardAsync(widget, "已完成");
        var states = await widget.Locator("[data-testid=card-work_item] .sl-field:first-child .sl-value").AllTextContentsAsync();
        Assert.Equal(["已受理", "检测中", "待您确认报价", "维修中", "待取件", "已完成"], states);
        await customerBrowser.ScreenshotAsync("widget-phone-work-item-cards");
        var timeline = (await agent.GetJsonAsync($"/v1/work-items/{itemId}/timeline")).Json.EnumerateArray().Select(e => e.GetProperty("kind").GetString());
        Assert.Equal(["created", "state_changed", "state_changed", "customer_action", "state_changed", "state_changed"], timeline);
        foreach (var session in new[] { customerBrowser, agentBrowser, techBrowser })
            Assert.DoesNotContain(session.Errors, e => !e.Contains("Failed to load resource", StringComparison.Ordinal));
    }

    /// <summary>The widget's newest card of the work item showing the state first, as the customer sees it.</summary>
    private static async Task<ILocator> CardAsync(IPage widget, string state)
    {
        var card = widget.Locator("[data-testid=card-work_item]").Last;
        await Expect(card.Locator(".sl-field").First).ToContainTextAsync(state);
        return card;
    }
}
