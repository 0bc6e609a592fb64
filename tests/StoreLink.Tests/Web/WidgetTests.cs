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
        await page.GetByTestId("location").ClickAsync();
        await Expect(Mine(page)).ToHaveCountAsync(4);
        await Expect(page.Locator(".sl-mine[data-id] .sl-location")).ToContainTextAsync("22.54310, 114.05790");
        await page.GetByTestId("file-input").SetInputFilesAsync(new FilePayload
        {
            Name = "发票.txt", MimeType = "text/plain", Buffer = System.Text.Encoding.UTF8.GetBytes("订单 SO-20260915-0001 发票抬头：演示公司"),
        });
        await Expect(Mine(page)).ToHaveCountAsync(5);
        await Expect(page.Locator(".sl-mine[data-id] .sl-file-name")).ToHaveTextAsync("发票.txt");

        // The agent finds the three messages, in order, as the protocol says.
        var conversationId = await ConversationIdAsync(page);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var history = await MessagesAsync(agent, conversationId);
        var customerMessages = history.Where(m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer").ToList();
        Assert.Equal(["text", "image", "voice", "location", "file"], customerMessages.Select(m => m.GetProperty("kind").GetString()));
        var location = customerMessages[3].GetProperty("body");
        Assert.Equal((22.5431, 114.0579), (Math.Round(location.GetProperty("latitude").GetDouble(), 4), Math.Round(location.GetProperty("longitude").GetDouble(), 4)));
        Assert.Equal("image/png", customerMessages[1].GetProperty("body").GetProperty("content_type").GetString());
        var voice = customerMessages[2].GetProperty("body");
        Assert.StartsWith("audio/", voice.GetProperty("content_type").GetString());
        Assert.InRange(voice.GetProperty("duration_ms").GetInt64(), 1000, 10_000);
        Assert.True(voice.GetProperty("size").GetInt64() > 500, "the fake microphone recorded sound");

        // Typing and read receipts of the agent show live; the agent's answer appears without a reload.
        await using var agentSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));
        await agentSocket.SendRawAsync(JsonSerializer.Serialize(new { type = "typing", conversation_id = conversationId }));
        await Expect(page.GetByTestId("typing")).ToBeVisibleAsync();
        var lastSeq = customerMessages[4].GetProperty("seq").GetInt64();
        await agentSocket.RequestAsync(new { type = "read", conversation_id = conversationId, seq = lastSeq });
        await Expect(page.Locator(".sl-mine[data-id] .sl-receipt").Last).ToHaveTextAsync("已读");
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/conversations/{conversationId}/messages",
            new { client_msg_id = "agent-answer-1", kind = "text", body = new { text = "您好，请问是什么型号的手机？" } })).Status / 100 * 100);
        await Expect(page.Locator(".sl-theirs .sl-text")).ToContainTextAsync(["您好，请问是什么型号的手机？"]);
        await Expect(page.GetByTestId("typing")).ToBeHiddenAsync();

        // The widget tells the store it has read the answer.
        var answerSeq = (await MessagesAsync(agent, conversationId)).Max(m => m.GetProperty("seq").GetInt64());
        await Eventually.TrueAsync(async () =>
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

        // The agent recalls the answer: the widget shows that it was recalled, not what it said.
        var answer = (await MessagesAsync(agent, conversationId)).Single(m => m.TryGetProperty("client_msg_id", out var c) && c.GetString() == "agent-answer-1");
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/messages/{answer.GetProperty("id").GetString()}/recall")).Status);
        await Expect(page.Locator(".sl-recalled")).ToHaveTextAsync("对方撤回了一条消息");
        await Expect(page.Locator(".sl-theirs .sl-text")).ToHaveCountAsync(0);
        Assert.Empty(browser.Errors);
    }

    [Fact]
    public async Task Messages_typed_offline_are_sent_once_when_back_online_and_survive_closing_the_page()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync("/chat/demo-digital");
        await SendTextAsync(page, "在线时的第一条");
        await Expect(Mine(page)).ToHaveCountAsync(1);
        var conversationId = await ConversationIdAsync(page);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        await page.WaitForFunctionAsync("() => window.storelinkWidget.realtime.ready");

        await browser.SetOfflineAsync(true);
        await Expect(page.GetByTestId("network-banner")).ToContainTextAsync("网络已断开");
        // Chromium's offline emulation leaves open sockets open (BrowserTests); the widget closes its own.
        Assert.True(await page.EvaluateAsync<bool>("() => window.storelinkWidget.realtime.socket === null"));
        await SendTextAsync(page, "离线消息一");
        await SendTextAsync(page, "离线消息二");
        await Expect(page.Locator(".sl-pending")).ToHaveCountAsync(2);
        await Expect(page.Locator(".sl-pending .sl-receipt").First).ToHaveTextAsync("等待网络");
        await browser.ScreenshotAsync("widget-phone-offline");
        await Task.Delay(1000);
        Assert.Equal(["在线时的第一条"], await CustomerTextsAsync(agent, conversationId));

        await browser.SetOfflineAsync(false);
        await Expect(page.Locator(".sl-pending")).ToHaveCountAsync(0);
        await Expect(Mine(page)).ToHaveCountAsync(3);
        await Expect(page.GetByTestId("network-banner")).ToBeHiddenAsync();
        Assert.Equal(["在线时的第一条", "离线消息一", "离线消息二"], await CustomerTextsAsync(agent, conversationId));

        // Written offline, page closed before the network came back: the next visit sends it, once.
        await browser.SetOfflineAsync(true);
        await SendTextAsync(page, "关页面前写的");
        await Expect(page.Locator(".sl-pending")).ToHaveCountAsync(1);
        await page.CloseAsync();
        await browser.SetOfflineAsync(false);
        var second = await browser.NewPageAsync();
        await second.GotoAsync("/chat/demo-digital");
        await Expect(second.Locator(".sl-mine[data-id] .sl-text")).ToHaveTextAsync(["在线时的第一条", "离线消息一", "离线消息二", "关页面前写的"]);
        await Expect(second.Locator(".sl-pending")).ToHaveCountAsync(0);
        Assert.Equal(["在线时的第一条", "离线消息一", "离线消息二", "关页面前写的"], await CustomerTextsAsync(agent, conversationId));

        // A reload with nothing pending changes nothing, on screen or on the server.
        await second.ReloadAsync();
        await Expect(second.Locator(".sl-mine[data-id] .sl-text")).ToHaveTextAsync(["在线时的第一条", "离线消息一", "离线消息二", "关页面前写的"]);
        await second.WaitForFunctionAsync("() => window.storelinkWidget.realtime.ready");
        Assert.Equal(4, (await CustomerTextsAsync(agent, conversationId)).Count);
    }

    [Fact]
    public async Task Host_page_on_another_origin_embeds_the_widget_for_its_signed_in_customer()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var identityToken = Jwt.Sign(new { sub = "C1001", name = "演示顾客一", exp = Jwt.In(TimeSpan.FromMinutes(10)) },
            "demo-retail-identity-secret-change-me-0001");
        // The shop's own page on another origin; its CSS tries hard to restyle every button.
        await using var shop = await HostPage.StartAsync($"""
            <!doctype html><html><head><meta charset="utf-8"><title>数码旗舰店官网</title>
            <style>body{"{"}font:16px serif;background:#fffbe6;margin:40px{"}"} button{"{"}background:green !important;width:300px !important{"}"}</style></head>
            <body><h1>数码旗舰店 · 官方商城</h1><p>欢迎回来，演示顾客一。</p><button>加入购物车</button>
            <script src="{app.ServerUri.ToString().TrimEnd('/')}/widget.js" data-store="demo-digital" data-identity-token="{identityToken}"></script>
            </body></html>
            """);
        Assert.NotEqual(shop.Origin, app.ServerUri.GetLeftPart(UriPartial.Authority));
        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop });
        var page = browser.Page;
        await page.GotoAsync(shop.Uri.ToString());
        var launcher = page.Locator("[data-storelink-widget] .launcher");
        await Expect(launcher).ToBeVisibleAsync();
        Assert.Equal("rgb(228, 57, 60)", await launcher.EvaluateAsync<string>("b => getComputedStyle(b).backgroundColor"));
        Assert.Equal("56px", await launcher.EvaluateAsync<string>("b => getComputedStyle(b).width"));
        await Expect(launcher).ToHaveAttributeAsync("aria-label", "在线客服");
        await launcher.ClickAsync();

        var chat = page.FrameLocator("[data-storelink-widget] iframe");
        await chat.GetByTestId("composer").FillAsync("我想查一下上次买的手机的保修");
        await chat.GetByTestId("send").ClickAsync();
        await Expect(chat.Locator(".sl-mine[data-id]")).ToHaveCountAsync(1);
        var frame = page.Frames.Single(f => f.Url.Contains("/chat/demo-digital"));
        Assert.True(await frame.EvaluateAsync<bool>("() => window.storelinkWidget.realtime.ready"), "the panel's socket is up");
        var conversationId = await frame.EvaluateAsync<string>("() => window.storelinkWidget.state.conversation.id");
        await browser.ScreenshotAsync("widget-desktop-host-page");

        // The store sees the signed-in customer C1001, not an anonymous visitor.
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var customer = (await agent.GetJsonAsync("/v1/customers?q=C1001")).Json.EnumerateArray().Single();
        var conversation = (await agent.GetJsonAsync($"/v1/conversations/{conversationId}")).Json;
        Assert.Equal(customer.GetProperty("id").GetString(), conversation.GetProperty("customer_id").GetString());
        var message = (await MessagesAsync(agent, conversationId)).Single(m => m.GetProperty("kind").GetString() == "text");
        Assert.Equal("演示顾客一", message.GetProperty("sender").GetProperty("name").GetString());

        // An agent's answer raises the launcher's unread badge while the panel is closed.
        await page.Locator("[data-storelink-widget] .launcher").ClickAsync();
        await agent.PostJsonAsync($"/v1/conversations/{conversationId}/messages",
            new { client_msg_id = "agent-host-1", kind = "text", body = new { text = "您好，保修还有 8 个月。" } });
        await Expect(page.Locator("[data-storelink-widget] .badge")).ToHaveTextAsync("1");

        // A reload of the shop's page: the same customer and conversation, history once.
        await page.ReloadAsync();
        await page.Locator("[data-storelink-widget] .launcher").ClickAsync();
        await Expect(chat.Locator(".sl-msg[data-id] .sl-text")).ToHaveTextAsync(["我想查一下上次买的手机的保修", "您好，保修还有 8 个月。"]);
        await browser.ScreenshotAsync("widget-desktop-host-page-reloaded");

        // The panel pinned the shop's origin at storelink:init: a message claiming to be its parent from another origin
        // is ignored (the customer stays signed in), the same one from the shop's origin is obeyed.
        frame = page.Frames.Single(f => f.Url.Contains("/chat/demo-digital"));
        var me = await frame.EvaluateAsync<string>("() => window.storelinkWidget.state.me.id");
        const string logoutFrom = "origin => window.dispatchEvent(new MessageEvent('message', { data: { type: 'storelink:logout' }, origin, source: window.parent }))";
        await frame.EvaluateAsync(logoutFrom, "http://evil.example");
        await page.WaitForTimeoutAsync(500);
        Assert.Equal(me, await frame.EvaluateAsync<string>("() => window.storelinkWidget.state.me.id"));
        await frame.EvaluateAsync(logoutFrom, shop.Origin);
        await frame.WaitForFunctionAsync("me => window.storelinkWidget.state.me?.id && window.storelinkWidget.state.me.id !== me", me);
        Assert.DoesNotContain(browser.Errors, e => !e.Contains("favicon"));
    }

    [Fact]
    public async Task On_a_phone_the_panel_takes_the_whole_screen_and_closes_from_its_header()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var shop = await HostPage.StartAsync($"""
            <!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>箱包批发</title></head><body><h1>箱包批发店</h1><p>新款上架</p>
            <script src="{app.ServerUri.ToString().TrimEnd('/')}/widget.js" data-store="demo-bags" data-lang="en"></script></body></html>
            """);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync(shop.Uri.ToString());
        var launcher = page.Locator("[data-storelink-widget] .launcher");
        await Expect(launcher).ToHaveAttributeAsync("aria-label", "Chat with us");
        await browser.ScreenshotAsync("widget-phone-host-page-launcher");
        await launcher.ClickAsync();
        var chat = page.FrameLocator("[data-storelink-widget] iframe");
        await Expect(chat.GetByTestId("send")).ToHaveTextAsync("Send");
        var panel = await page.Locator("[data-storelink-widget] .panel").BoundingBoxAsync();
        Assert.Equal((0, 0, 390, 844), ((int)panel!.X, (int)panel.Y, (int)panel.Width, (int)panel.Height));
        await Expect(launcher).ToBeHiddenAsync();
        await browser.ScreenshotAsync("widget-phone-host-page-open");
        await chat.Locator(".sl-close").ClickAsync();
        await Expect(page.Locator("[data-storelink-widget] .panel")).ToBeHiddenAsync();
        await Expect(launcher).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Out_of_hours_reply_opening_time_and_queue_position_are_shown()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        app.Clock.AdvanceToLocal(new TimeOnly(22, 30));
        // Another customer is waiting already.
        var other = await app.VisitorAsync("demo-digital");
        var otherConversation = (await other.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" })).Str("id");
        await other.PostJsonAsync($"/v1/conversations/{otherConversation}/messages", new { client_msg_id = "other-1", kind = "text", body = new { text = "在吗" } });

        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync("/chat/demo-digital");
        await Expect(page.GetByTestId("store-status")).ToContainTextAsync("非营业时间");
        await Expect(page.GetByTestId("store-status")).ToContainTextAsync("开门");
        await SendTextAsync(page, "晚上好，想预约明天维修");
        await Expect(page.Locator(".sl-system .sl-note")).ToContainTextAsync(["现在是非营业时间"]);
        await Expect(page.GetByTestId("queue-banner")).ToContainTextAsync("您前面还有 1 位顾客");
        await Expect(page.GetByTestId("queue-banner")).ToContainTextAsync("开门");
        await browser.ScreenshotAsync("widget-phone-out-of-hours");

        // The waiting customer ahead is served: this one moves up, live.
        await other.PostJsonAsync($"/v1/conversations/{otherConversation}/messages", new { client_msg_id = "other-2", kind = "text", body = new { text = "算了" } });
        var manager = await app.LoginAsync("manager.digital@demo.local");
        await manager.PostJsonAsync($"/v1/conversations/{otherConversation}/resolve");
        await Expect(page.GetByTestId("queue-banner")).ToContainTextAsync("您是下一位");
    }

    [Fact]
    public async Task In_english_the_server_s_texts_are_english_and_the_header_follows_the_agent_who_answers_even_one_set_to_away()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        // The agent is at the console but away: no new customers, so the header says nobody is there.
        var agent = await app.LoginAsync("agent.digital@demo.local");
        Assert.Equal(200, (await agent.PutJsonAsync("/v1/me/presence", new { status = "away" })).Status);
        await using var agentSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));
        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Locale = "en-US" });
        var page = browser.Page;
        await page.GotoAsync("/chat/demo-digital");
        await Expect(page.GetByTestId("store-status")).ToContainTextAsync("No one is online right now");
        await SendTextAsync(page, "Hello, my phone does not charge");
        await Expect(Mine(page)).ToHaveCountAsync(1);
        var conversationId = await ConversationIdAsync(page);

        // The agent answers anyway: the header agrees with the chat.
        Assert.Equal(201, (await agent.PostJsonAsync($"/v1/conversations/{conversationId}/messages",
            new { client_msg_id = "away-answer", kind = "text", body = new { text = "Hi, which model is it?" } })).Status);
        await Expect(page.Locator(".sl-theirs .sl-text")).ToContainTextAsync(["Hi, which model is it?"]);
        await Expect(page.GetByTestId("store-status")).ToContainTextAsync("Staff online");

        // Handed to the manager: the customer is told in English; resolved: the rating card is English too.
        var manager = await app.LoginAsync("manager.digital@demo.local");
        await using var managerSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(manager));
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/desk/conversations/{conversationId}/transfer",
            new { agent_id = (await manager.GetJsonAsync("/v1/me")).Str("id") })).Status);
        await Expect(page.Locator(".sl-system .sl-note").Last).ToHaveTextAsync("数码店长 is here to help you.");
        Assert.Equal(200, (await manager.PostJsonAsync($"/v1/conversations/{conversationId}/resolve")).Status);
        await Expect(page.GetByTestId("card-csat")).ToContainTextAsync("Please rate our service");
        await browser.ScreenshotAsync("widget-phone-english");
        Assert.Empty(browser.Errors);
    }

    [Fact]
    public async Task Resolved_conversation_shows_the_rating_card_and_the_rating_is_stored()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync("/chat/demo-digital");
        await SendTextAsync(page, "耳机没声音了");
        await Expect(Mine(page)).ToHaveCountAsync(1);
        var conversationId = await ConversationIdAsync(page);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        await agent.PostJsonAsync($"/v1/conversations/{conversationId}/messages",
            new { client_msg_id = "agent-csat-1", kind = "text", body = new { text = "已为您登记换新。" } });
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/conversations/{conversationId}/resolve")).Status);

        var card = page.GetByTestId("card-csat");
        await Expect(card).ToBeVisibleAsync();
        await Expect(card).ToContainTextAsync("请为本次服务打分");
        await card.GetByTestId("csat-4").ClickAsync();
        await card.GetByTestId("csat-comment").FillAsync("换得很快");
        await browser.ScreenshotAsync("widget-phone-csat-card");
        await card.GetByTestId("csat-submit").ClickAsync();
        await Expect(card.GetByTestId("csat-done")).ToContainTextAsync("4");

        var ratings = (await agent.GetJsonAsync($"/v1/conversations/{conversationId}/csat")).Json.EnumerateArray().ToList();
        Assert.Equal(4, ratings[0].GetProperty("rating").GetInt32());
        Assert.Equal("换得很快", ratings[0].GetProperty("comment").GetString());
        // The thank-you system message arrives, and after a reload the card still shows the rating given.
        await Expect(page.Locator(".sl-system .sl-note").Last).Not.ToBeEmptyAsync();
        await page.ReloadAsync();
        await Expect(page.GetByTestId("card-csat").GetByTestId("csat-done")).ToContainTextAsync("4");
    }

    [Fact]
    public async Task Work_item_card_offers_its_actions_and_the_customer_approves_a_quote_from_the_chat()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync("/chat/demo-digital");
        await SendTextAsync(page, "我的 iPhone 16 Pro 屏幕碎了，能修吗？");
        await Expect(Mine(page)).ToHaveCountAsync(1);
        var conversationId = await ConversationIdAsync(page);

        var agent = await app.LoginAsync("agent.digital@demo.local");
        var tech = await app.LoginAsync("tech.digital@demo.local");
        var draft = await agent.GetJsonAsync($"/v1/conversations/{conversationId}/work-item-draft?kind=ticket");
        var id = (await agent.PostJsonAsync("/v1/work-items", draft.Json)).Str("id");
        await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "inspecting" });
        await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "awaiting_approval", note = "屏幕总成损坏" });
        var quote = (await tech.PostJsonAsync($"/v1/work-items/{id}/requests", new { title = "更换原装屏幕", price = "899" })).Str("id");

        var approve = page.Locator($"[data-testid=card-work_item] [data-action='approve:{quote}']");
        await Expect(approve).ToBeVisibleAsync();
        var quoteCard = page.GetByTestId("card-work_item").Filter(new() { Has = page.Locator($"[data-action='approve:{quote}']") });
        await Expect(quoteCard).ToContainTextAsync("待您确认报价");
        // Only the newest card of the item offers actions; the earlier ones are its history.
        await Expect(page.Locator("[data-testid=card-work_item] .sl-actions")).ToHaveCountAsync(1);
        await browser.ScreenshotAsync("widget-phone-work-item-card");
        await approve.ClickAsync();
        await Expect(page.Locator("[data-testid=card-work_item] .sl-action-done")).ToHaveTextAsync("已提交 · 同意更换原装屏幕");

        var item = await agent.GetJsonAsync($"/v1/work-items/{id}");
        Assert.Equal("repairing", item.Str("state"));
        Assert.Equal("approved", item.Json.GetProperty("requests")[0].GetProperty("status").GetString());
        // The chat hears of it: the system answer and the next state's card arrive live.
        await Expect(page.GetByTestId("card-work_item").Last).ToContainTextAsync("维修中");
    }

    [Fact]
    public async Task Appointment_card_moves_the_booking_to_a_slot_picked_in_the_chat_and_then_cancels_it()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        app.Clock.AdvanceToLocal(new TimeOnly(9, 0));
        var identityToken = Jwt.Sign(new { sub = "C1003", exp = app.Clock.GetUtcNow().AddHours(1).ToUnixTimeSeconds() }, StoreLink.Server.Accounts.DemoSeed.RetailIdentitySecret);
        var auth = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = "demo-shoes", identity_token = identityToken });
        Assert.Equal(200, auth.Status);
        var customer = app.WithToken(auth.Json.GetProperty("access_token").GetString()!);
        await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-shoes" });
        // Tomorrow's free slots (today's may already be inside the online change cut-off): book the first, move to the third (or the fourth).
        var tomorrow = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(app.Clock.GetUtcNow(), TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai")).DateTime).AddDays(1);
        var slots = (await customer.GetJsonAsync("/v1/appointment-slots?store_key=demo-shoes&service=shoe_deep_clean")).Json.GetProperty("slots").EnumerateArray()
            .Where(s => s.GetProperty("date").GetString() == $"{tomorrow:yyyy-MM-dd}" && s.GetProperty("remaining").GetInt32() > 0).ToList();
        Assert.True(slots.Count >= 4, $"{slots.Count} free slots tomorrow");
        var (first, target) = (slots[0].GetProperty("starts_at").GetString()!, slots[2].GetProperty("starts_at").GetString()!);
        var booked = await customer.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = first, idempotency_key = "widget-1" });
        Assert.Equal(201, booked.Status);
        var id = booked.Str("id");

        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync($"/chat/demo-shoes#identity_token={identityToken}");
        var cards = page.GetByTestId("card-appointment");
        await Expect(cards.Last).ToContainTextAsync("已预约");
        await cards.Last.Locator("[data-action=reschedule]").ClickAsync();
        var picker = page.GetByTestId("apt-picker");
        await Expect(picker).ToContainTextAsync("鞋履深度清洁");
        // Only slots with places left, never the one the appointment holds.
        await Expect(picker.Locator($"[data-testid=apt-slot][data-starts-at='{target}']")).ToBeVisibleAsync();
        await Expect(picker.Locator($"[data-testid=apt-slot][data-starts-at='{first}']")).ToHaveCountAsync(0);
        await browser.ScreenshotAsync("widget-phone-appointment-picker");
        // While the customer looks, two others take the last places of the slot: the tap is refused plainly, the
        // slot leaves the list and another is picked.
        var full = target;
        foreach (var other in new[] { await app.VisitorAsync("demo-shoes"), await app.VisitorAsync("demo-shoes") })
            Assert.Equal(201, (await other.PostJsonAsync("/v1/appointments", new { store_key = "demo-shoes", service = "shoe_deep_clean", starts_at = full })).Status);
        await picker.Locator($"[data-testid=apt-slot][data-starts-at='{full}']").ClickAsync();
        await Expect(page.Locator(".sl-toast")).ToHaveTextAsync("该时段已约满，请选择其他时段。");
        await Expect(picker.Locator($"[data-testid=apt-slot][data-starts-at='{full}']")).ToHaveCountAsync(0);
        target = slots[3].GetProperty("starts_at").GetString()!;
        await picker.Locator($"[data-testid=apt-slot][data-starts-at='{target}']").ClickAsync();
        await Expect(picker).ToHaveCountAsync(0);
        await Expect(cards.Last).ToContainTextAsync("已改约");
        Assert.Equal(DateTimeOffset.Parse(target), DateTimeOffset.Parse((await customer.GetJsonAsync($"/v1/appointments/{id}")).Str("starts_at")));
        // Only the newest card of the appointment offers its actions.
        await Expect(page.Locator("[data-testid=card-appointment] .sl-actions")).ToHaveCountAsync(1);

        await cards.Last.Locator("[data-action=cancel]").ClickAsync();
        await Expect(cards.Last.GetByTestId("apt-cancel-confirm")).ToContainTextAsync("确定取消这个预约吗");
        await browser.ScreenshotAsync("widget-phone-appointment-cancel-confirm");
        await cards.Last.GetByTestId("apt-cancel-yes").ClickAsync();
        await Expect(cards.Last).ToContainTextAsync("已取消");
        await Expect(page.Locator("[data-testid=card-appointment] .sl-actions")).ToHaveCountAsync(0);
        var appointment = await customer.GetJsonAsync($"/v1/appointments/{id}");
        Assert.Equal("cancelled", appointment.Str("status"));
        var events = (await customer.GetJsonAsync($"/v1/appointments/{id}/events")).Json.EnumerateArray().Select(e => e.GetProperty("kind").GetString()).ToList();
        Assert.Equal(["booked", "moved", "cancelled"], events);

        // A card of a kind this widget does not know shows its fields but no buttons it could not carry out.
        var conversationId = await ConversationIdAsync(page);
        await page.EvaluateAsync("""
            id => window.storelinkWidget.realtime.emit("message", { type: "message", message: { id: "msg_future_card", seq: 999, conversation_id: id,
              kind: "card", sender: { id: "system", kind: "system" }, created_at: new Date().toISOString(),
              body: { title: "包裹 · 顺丰", fields: [{ label: "状态", value: "运输中" }], actions: [{ id: "track", label: "查看物流" }], ref: { type: "parcel", id: "pcl_1" } } } })
            """, conversationId);
        await Expect(page.GetByTestId("card-parcel")).ToContainTextAsync("运输中");
        await Expect(page.GetByTestId("card-parcel").Locator("button")).ToHaveCountAsync(0);
        // The browser logs the refused move (409) as a failed resource; nothing else may go wrong.
        Assert.DoesNotContain(browser.Errors, e => !e.Contains("favicon") && !e.Contains("status of 409"));
    }

    [Fact]
    public async Task A_socket_whose_pings_go_unanswered_is_replaced_and_the_chat_goes_on()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite,
            new Dictionary<string, string?> { ["Realtime:HeartbeatSeconds"] = "2" });
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        var sockets = 0;
        // The first connection loses the client's pings on the way (a dead path that never says close); later ones work.
        await page.RouteWebSocketAsync("**/v1/ws", socket =>
        {
            var silent = Interlocked.Increment(ref sockets) == 1;
            var server = socket.ConnectToServer();
            socket.OnMessage(frame =>
            {
                if (!(silent && frame.Text?.Contains("\"type\":\"ping\"", StringComparison.Ordinal) == true))
                    server.Send(frame.Text!);
            });
            server.OnMessage(frame => socket.Send(frame.Text!));
        });
        await page.GotoAsync("/chat/demo-digital");
        await page.WaitForFunctionAsync("() => window.storelinkWidget.realtime.ready");

        await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref sockets) >= 2));
        await page.WaitForFunctionAsync("() => window.storelinkWidget.realtime.ready");
        await SendTextAsync(page, "重连之后");
        await Expect(Mine(page)).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task The_page_speaks_English_when_asked_and_an_unknown_store_is_not_found()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var http = app.Anonymous();
        Assert.Equal((404, "not_found"), await StatusAsync(http.GetJsonAsync("/v1/stores/by-key/no-such-store/profile")));
        Assert.Equal(404, (int)(await http.GetAsync("/chat/no-such-store")).StatusCode);
        var page = await http.GetAsync("/chat/demo-digital");
        Assert.Contains("frame-ancestors *", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("*", (await http.GetAsync("/widget/i18n.js")).Headers.GetValues("Access-Control-Allow-Origin").Single());

        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Locale = "en-US" });
        await browser.Page.GotoAsync("/chat/demo-digital");
        await Expect(browser.Page.GetByTestId("send")).ToHaveTextAsync("Send");
        await Expect(browser.Page.GetByTestId("store-status")).ToContainTextAsync("Open now");
        Assert.Equal("en", await browser.Page.EvaluateAsync<string>("() => document.documentElement.lang"));
        // data-lang / ?lang= wins over the browser's language.
        await browser.Page.GotoAsync("/chat/demo-digital?lang=zh-CN");
        await Expect(browser.Page.GetByTestId("send")).ToHaveTextAsync("发送");
    }

    private static async Task<(int, string?)> StatusAsync(Task<ApiResponse> call)
    {
        var response = await call;
        return (response.Status, response.Code);
    }

    private static async Task<List<string>> CustomerTextsAsync(HttpClient agent, string conversationId) =>
        (await MessagesAsync(agent, conversationId))
            .Where(m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer")
            .Select(m => m.GetProperty("body").GetProperty("text").GetString()!).ToList();

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
}
