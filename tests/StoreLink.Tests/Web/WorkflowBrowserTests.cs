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
        var console = await agentBrowser.SignInToConsoleAsync("agent.digital@demo.local");
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
        var tech = await techBrowser.SignInToConsoleAsync("tech.digital@demo.local");
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

    [Fact]
    public async Task A_visitor_reports_a_repair_with_a_photo_and_books_a_drop_off_from_the_widget()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;

        // A store that takes nothing from customers offers no entry.
        await page.GotoAsync("/chat/demo-bags");
        await Expect(page.GetByTestId("store-status")).ToContainTextAsync("营业中");
        await Expect(page.GetByTestId("send")).ToBeEnabledAsync();
        await Expect(page.GetByTestId("entries").Locator("button")).ToHaveCountAsync(0);

        await page.GotoAsync("/chat/demo-digital");
        await Expect(page.GetByTestId("entry-ticket")).ToHaveTextAsync("报修");
        await page.GetByTestId("entry-ticket").ClickAsync();
        var sheet = page.GetByTestId("work-sheet");
        await sheet.GetByTestId("work-submit").ClickAsync();
        await Expect(sheet.Locator(".sl-sheet-error")).ToHaveTextAsync("请先描述一下问题");
        await sheet.GetByTestId("work-description").FillAsync("iPad Air 掉水里了，进水后开不了机");
        await sheet.GetByTestId("work-photos").SetInputFilesAsync(Photo);
        await Expect(sheet.Locator(".sl-thumb img")).ToHaveCountAsync(1);
        await sheet.GetByTestId("work-phone").FillAsync("13900000002");
        await browser.ScreenshotAsync("widget-phone-repair-sheet");
        await sheet.GetByTestId("work-submit").ClickAsync();
        await Expect(sheet).ToHaveCountAsync(0);
        await Expect(page.Locator(".sl-toast")).ToContainTextAsync("已提交，单号 T");

        // The ticket's card comes into the chat, the photo as the customer's own image before it.
        var card = page.GetByTestId("card-work_item").Last;
        await Expect(card).ToContainTextAsync("已受理");
        await Expect(card).ToContainTextAsync("数码维修师傅");
        await Expect(page.Locator(".sl-mine[data-id] img.sl-image")).ToHaveCountAsync(1);
        var conversationId = await page.EvaluateAsync<string>("() => window.storelinkWidget.state.conversation.id");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var store = (await agent.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == "demo-digital").GetProperty("id").GetString();
        var item = Assert.Single((await agent.GetJsonAsync($"/v1/work-items?store_id={store}")).Json.EnumerateArray());
        Assert.Equal(("ticket", "water", conversationId), (item.GetProperty("kind").GetString(), item.GetProperty("category").GetString(), item.GetProperty("conversation_id").GetString()));
        Assert.Equal("13900000002", item.GetProperty("fields").GetProperty("phone").GetString());
        Assert.Single(item.GetProperty("attachment_ids").EnumerateArray());

        // 预约: a service, a slot with places left, a note, and the booking's card.
        await page.GetByTestId("entry-booking").ClickAsync();
        var booking = page.GetByTestId("booking-sheet");
        await booking.Locator("[data-service=device_drop_off]").ClickAsync();
        var slot = booking.GetByTestId("booking-slot").First;
        var startsAt = await slot.GetAttributeAsync("data-starts-at");
        await slot.ClickAsync();
        await Expect(booking.GetByTestId("booking-chosen")).ToContainTextAsync("数码送修");
        await booking.GetByTestId("booking-note").FillAsync("带上 iPad 和充电器");
        await browser.ScreenshotAsync("widget-phone-booking-sheet");
        await booking.GetByTestId("booking-submit").ClickAsync();
        await Expect(booking).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("card-appointment").Last).ToContainTextAsync("已预约");
        var visitorToken = await page.EvaluateAsync<string>("() => JSON.parse(localStorage.getItem('storelink:demo-digital:auth')).token");
        var appointment = Assert.Single((await app.WithToken(visitorToken).GetJsonAsync("/v1/appointments")).Json.EnumerateArray());
        Assert.Equal(("device_drop_off", "booked", "带上 iPad 和充电器"),
            (appointment.GetProperty("service").GetString(), appointment.GetProperty("status").GetString(), appointment.GetProperty("note").GetString()));
        Assert.Equal(DateTimeOffset.Parse(startsAt!), DateTimeOffset.Parse(appointment.GetProperty("starts_at").GetString()!));
        await browser.ScreenshotAsync("widget-phone-repair-and-booking");
        Assert.DoesNotContain(browser.Errors, e => !e.Contains("Failed to load resource", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_board_and_list_filter_by_state_category_assignee_and_overdue_and_the_template_viewer_shows_the_template()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var tech = await app.LoginAsync("tech.digital@demo.local");
        var techId = (await tech.GetJsonAsync("/v1/me")).Str("id");
        var store = (await agent.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == "demo-digital").GetProperty("id").GetString();
        var customer = (await (await app.VisitorAsync("demo-digital")).GetJsonAsync("/v1/me")).Str("id");
        async Task<string> CreateAsync(string title, object? due = null) =>
            (await agent.PostJsonAsync("/v1/work-items", new { store_id = store, kind = "ticket", customer_id = customer, title, due_at = due })).Str("id");
        var screen = await CreateAsync("屏幕碎了");
        var earphones = await CreateAsync("耳机没声音");
        var battery = await CreateAsync("电池鼓包", app.Clock.GetUtcNow().AddHours(-1));
        Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{screen}/transition", new { to = "inspecting" })).Status);

        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop });
        var page = await browser.SignInToConsoleAsync("manager.digital@demo.local");
        await page.ClickAsync("#work-link");
        await Expect(page.Locator("#work-count")).ToHaveTextAsync("共 3 项");
        await Expect(page.Locator(".column[data-state=inspecting] .wcard")).ToHaveCountAsync(1);
        await Expect(page.Locator($".column[data-state=received] .wcard[data-id='{battery}']")).ToContainTextAsync("已逾期");
        await browser.ScreenshotAsync("console-work-board-desktop");

        await page.SelectOptionAsync("#filter-category", "accessory");
        await Expect(page.Locator(".wcard")).ToHaveCountAsync(1);
        await Expect(page.Locator($".wcard[data-id='{earphones}']")).ToContainTextAsync("数码客服");
        await page.SelectOptionAsync("#filter-category", "");
        await page.SelectOptionAsync("#filter-assignee", techId);
        await Expect(page.Locator(".wcard")).ToHaveCountAsync(2);
        await page.SelectOptionAsync("#filter-assignee", "");
        await page.CheckAsync("#filter-overdue");
        await Expect(page.Locator(".wcard")).ToHaveCountAsync(1);
        await page.ClickAsync("#view-list");
        await Expect(page.Locator("#work-list tbody tr")).ToHaveCountAsync(1);
        await Expect(page.Locator($"#work-list tr[data-id='{battery}']")).ToContainTextAsync("电池鼓包");
        // The address keeps the filters: a reload shows the same.
        await page.ReloadAsync();
        await Expect(page.Locator("#filter-overdue")).ToBeCheckedAsync();
        await Expect(page.Locator("#work-list tbody tr")).ToHaveCountAsync(1);
        await browser.ScreenshotAsync("console-work-list-desktop");
        await page.UncheckAsync("#filter-overdue");
        await page.SelectOptionAsync("#filter-state", "inspecting");
        await Expect(page.Locator("#work-list tbody tr")).ToHaveCountAsync(1);
        await Expect(page.Locator($"#work-list tr[data-id='{screen}']")).ToContainTextAsync("检测中");

        // The template viewer: states with both languages, urgency, actions, transitions with roles, the cards.
        await page.ClickAsync("#templates-link");
        var states = page.Locator("#tpl-states");
        await Expect(states.Locator("tr[data-state=awaiting_approval]")).ToContainTextAsync("待您确认报价");
        await Expect(states.Locator("tr[data-state=awaiting_approval]")).ToContainTextAsync("Waiting for your approval");
        await Expect(states.Locator("tr[data-state=awaiting_approval]")).ToContainTextAsync("紧急");
        await Expect(states.Locator("tr[data-state=shipped_back]")).ToContainTextAsync("申请返修");
        await Expect(page.Locator("#tpl-transitions tr[data-from=inspecting][data-to=awaiting_approval]")).ToContainTextAsync("技师、店长");
        await Expect(page.Locator("#tpl-cards .card-preview[data-state=ready_for_pickup]")).ToContainTextAsync("确认已取件");
        await Expect(page.Locator("#tpl-categories")).ToContainTextAsync("最空闲的技师");
        await Expect(page.Locator("#version-select")).ToContainTextAsync("第 1 版（当前）");
        await browser.ScreenshotAsync("console-templates-desktop", fullPage: true);
        await page.ClickAsync("a[data-id] >> text=鞋履养护");
        await Expect(page.Locator("#tpl-states tr[data-state=ready_for_pickup]")).ToContainTextAsync("验收通过");
        await page.ClickAsync(".topbar .lang");
        await Expect(page.Locator("#tpl-states thead")).ToContainTextAsync("Customer reads (English)");
        Assert.DoesNotContain(browser.Errors, e => !e.Contains("Failed to load resource", StringComparison.Ordinal));
    }

    /// <summary>The widget's newest card of the work item showing the state first, as the customer sees it.</summary>
    private static async Task<ILocator> CardAsync(IPage widget, string state)
    {
        var card = widget.Locator("[data-testid=card-work_item]").Last;
        await Expect(card.Locator(".sl-field").First).ToContainTextAsync(state);
        return card;
    }
}
