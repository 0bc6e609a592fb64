using System.IO.Compression;
using System.Text.Json;
using Microsoft.Playwright;
using StoreLink.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace StoreLink.Tests.Web;

/// <summary>
/// The staff console in Chromium against the real server: an agent serves a visitor's conversation end to end, the
/// phone layout, and a manager's settings pages. Screenshots of the key screens go to TestResults/screenshots.
/// </summary>
public sealed class ConsoleBrowserTests
{
    private static async Task<IPage> SignInAsync(BrowserSession browser, string login)
    {
        var page = browser.Page;
        await page.GotoAsync("/console");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/login"));
        await page.FillAsync("input[name=login]", login);
        await page.FillAsync("input[name=password]", "demo1234");
        await page.ClickAsync("button[type=submit]");
        await Expect(page.Locator("#connection-state")).ToHaveAttributeAsync("data-state", "online");
        return page;
    }

    /// <summary>A visitor of demo-digital with an open conversation and a first message, through the API as the widget would.</summary>
    private static async Task<(HttpClient Visitor, string ConversationId)> VisitorAsync(StoreLinkApp app, string text)
    {
        var visitor = await app.VisitorAsync("demo-digital");
        var conversation = (await visitor.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" })).Str("id");
        Assert.Equal(201, (await visitor.PostJsonAsync($"/v1/conversations/{conversation}/messages",
            new { client_msg_id = Guid.NewGuid().ToString(), kind = "text", body = new { text } })).Status);
        return (visitor, conversation);
    }

    private static async Task<List<JsonElement>> MessagesAsync(HttpClient client, string conversationId) =>
        (await client.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray().ToList();

    private static async Task<JsonElement> EventuallyAsync(Func<Task<JsonElement?>> probe)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await probe() is { } found)
                return found;
            await Task.Delay(200);
        }
        throw new TimeoutException("The expected state did not appear.");
    }

    [Fact]
    public async Task An_agent_serves_a_visitor_live_with_text_image_note_canned_reply_transfer_and_resolve()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var (visitor, conversationId) = await VisitorAsync(app, "你好，我的手机屏幕碎了，可以修吗？");
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var managerId = (await manager.GetJsonAsync("/v1/me")).Str("id");

        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop });
        var page = await SignInAsync(browser, "agent.digital@demo.local");

        // Coming online drains the backlog: the visitor's conversation is assigned to this agent and shows under "mine".
        var item = page.Locator($".inbox-item[data-id='{conversationId}']");
        await Expect(item).ToBeVisibleAsync();
        await Expect(page.Locator("[data-count=mine]").First).ToHaveTextAsync("1");
        await Expect(item.Locator(".sla")).ToContainTextAsync(new System.Text.RegularExpressions.Regex("首响剩 [45]分"));
        await browser.ScreenshotAsync("console-inbox-desktop");

        await item.Locator("button").ClickAsync();
        await Expect(page.Locator("#timeline")).ToContainTextAsync("屏幕碎了");
        await Expect(page.Locator("#customer-panel")).ToContainTextAsync("访客");

        // A new customer message arrives live, with the customer's typing shown before it.
        var customerSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(visitor));
        await customerSocket.SendRawAsync(JsonSerializer.Serialize(new { type = "typing", conversation_id = conversationId }));
        await Expect(page.Locator("#typing-line")).ToContainTextAsync("顾客正在输入");
        await customerSocket.SendMessageAsync(conversationId, "是 iPhone 15，昨天摔的");
        await Expect(page.Locator("#timeline")).ToContainTextAsync("昨天摔的");

        // Text with Enter.
        await page.FillAsync("#composer-text", "您好，可以修的，换屏大约一小时。");
        await page.PressAsync("#composer-text", "Enter");
        await EventuallyAsync(async () => (await MessagesAsync(visitor, conversationId))
            .Cast<JsonElement?>().FirstOrDefault(m => m!.Value.TryGetProperty("body", out var b) && b.TryGetProperty("text", out var t) && t.GetString() == "您好，可以修的，换屏大约一小时。"));

        // A slip recalled at once: the customer's history keeps the seq without the text.
        await page.FillAsync("#composer-text", "发错了");
        await page.PressAsync("#composer-text", "Enter");
        var slip = page.Locator(".msg.us", new() { HasText = "发错了" });
        await slip.HoverAsync();
        await slip.Locator(".recall").ClickAsync();
        await Expect(page.Locator(".msg.us.recalled")).ToHaveCountAsync(1);
        await EventuallyAsync(async () => (await MessagesAsync(visitor, conversationId)).Cast<JsonElement?>().FirstOrDefault(m => m!.Value.GetProperty("recalled").GetBoolean()));

        // The customer reads it: the agent sees 已读 under the reply.
        var last = (await MessagesAsync(visitor, conversationId)).Max(m => m.GetProperty("seq").GetInt64());
        await visitor.PostJsonAsync($"/v1/conversations/{conversationId}/read", new { seq = last });
        await Expect(page.Locator(".msg.us .read").Last).ToBeVisibleAsync();

        // An image through the file picker.
        await page.SetInputFilesAsync("#file-input", new FilePayload { Name = "screen.png", MimeType = "image/png", Buffer = Png(96, 64) });
        await Expect(page.Locator(".msg.us[data-kind=image] img")).ToHaveAttributeAsync("src", new System.Text.RegularExpressions.Regex("^blob:"));
        var image = await EventuallyAsync(async () => (await MessagesAsync(visitor, conversationId)).Cast<JsonElement?>().FirstOrDefault(m => m!.Value.GetProperty("kind").GetString() == "image"));
        Assert.Equal("image/png", image.GetProperty("body").GetProperty("content_type").GetString());

        // A canned reply: "/" opens the search, Enter takes the first match, filled in for this customer.
        await page.FillAsync("#composer-text", "/hi");
        await Expect(page.Locator("#canned-popup li").First).ToContainTextAsync("/hi");
        await page.PressAsync("#composer-text", "Enter");
        await Expect(page.Locator("#composer-text")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("数码旗舰店"));
        await page.PressAsync("#composer-text", "Enter");
        await EventuallyAsync(async () => (await MessagesAsync(visitor, conversationId)).Cast<JsonElement?>()
            .FirstOrDefault(m => m!.Value.TryGetProperty("body", out var b) && b.TryGetProperty("text", out var t) && t.GetString()!.Contains("很高兴为您服务", StringComparison.Ordinal)));

        // An internal note with an @mention of the manager: in the notes thread, never in the customer's.
        await page.ClickAsync(".modes button[data-mode=note]");
        await page.Locator("#composer-text").PressSequentiallyAsync("请 @");
        await page.ClickAsync($"#mention-popup li[data-id='{managerId}']");
        await page.Locator("#composer-text").PressSequentiallyAsync("确认一下屏幕库存");
        await page.PressAsync("#composer-text", "Enter");
        await Expect(page.Locator(".msg.note").Last).ToContainTextAsync("确认一下屏幕库存");
        var notesId = (await manager.GetJsonAsync($"/v1/conversations/{conversationId}")).Str("notes_id");
        var note = await EventuallyAsync(async () => (await MessagesAsync(manager, notesId)).Cast<JsonElement?>()
            .FirstOrDefault(m => m!.Value.TryGetProperty("body", out var b) && b.TryGetProperty("text", out var t) && t.GetString()!.Contains("屏幕库存", StringComparison.Ordinal)));
        Assert.Equal([managerId], note.GetProperty("body").GetProperty("mentions").EnumerateArray().Select(e => e.GetString()));
        Assert.DoesNotContain(await MessagesAsync(visitor, conversationId), m => m.TryGetProperty("body", out var b) && b.TryGetProperty("text", out var t) && t.GetString()!.Contains("屏幕库存", StringComparison.Ordinal));
        await page.ClickAsync(".modes button[data-mode=reply]");
        await browser.ScreenshotAsync("console-conversation-desktop");

        // Transfer to the manager, who is online, with a note the receiver sees.
        await using var managerSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(manager));
        await page.ClickAsync("#transfer-button");
        await page.SelectOptionAsync("#transfer-agent", managerId);
        await page.FillAsync("#transfer-note", "顾客要加急，请跟进");
        await browser.ScreenshotAsync("console-transfer-dialog");
        await page.ClickAsync("#transfer-submit");
        await Expect(page.Locator("#transfer-dialog")).Not.ToBeVisibleAsync();
        var transferred = await manager.GetJsonAsync($"/v1/conversations/{conversationId}");
        Assert.Equal(managerId, transferred.Str("assignee_id"));
        Assert.Contains(await MessagesAsync(manager, notesId), m => m.GetProperty("body").GetProperty("text").GetString()!.Contains("顾客要加急，请跟进", StringComparison.Ordinal));

        // Resolve: the state changes and the customer gets the rating card.
        await page.ClickAsync("#resolve-button");
        await Expect(page.Locator("#conv-state")).ToHaveTextAsync("已解决");
        Assert.Equal("resolved", (await visitor.GetJsonAsync($"/v1/conversations/{conversationId}")).Str("state"));
        await EventuallyAsync(async () => (await MessagesAsync(visitor, conversationId)).Cast<JsonElement?>().FirstOrDefault(m => m!.Value.GetProperty("kind").GetString() == "card"));
        Assert.DoesNotContain(browser.Errors, e => !e.Contains("Failed to load resource", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_composer_records_voice_takes_dropped_and_pasted_files_and_the_top_bar_switches_presence_language_and_signs_out()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var (visitor, conversationId) = await VisitorAsync(app, "能发个语音说明一下吗？");
        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop });
        var page = await SignInAsync(browser, "agent.digital@demo.local");
        var token = await page.Locator("meta[name=storelink-token]").GetAttributeAsync("content");
        await page.Locator($".inbox-item[data-id='{conversationId}'] button").ClickAsync();
        await Expect(page.Locator("#timeline")).ToContainTextAsync("语音说明");

        // A voice note from the (fake) microphone: click to record, click again to send.
        await page.ClickAsync("#voice-button");
        await Expect(page.Locator("#voice-state")).ToContainTextAsync("录音中");
        await page.WaitForTimeoutAsync(1300);
        await page.ClickAsync("#voice-button");
        var voice = await EventuallyAsync(async () => (await MessagesAsync(visitor, conversationId)).Cast<JsonElement?>().FirstOrDefault(m => m!.Value.GetProperty("kind").GetString() == "voice"));
        Assert.StartsWith("audio/", voice.GetProperty("body").GetProperty("content_type").GetString());
        Assert.InRange(voice.GetProperty("body").GetProperty("duration_ms").GetInt64(), 1000, 10_000);
        await Expect(page.Locator(".msg.us[data-kind=voice] audio")).ToHaveAttributeAsync("src", new System.Text.RegularExpressions.Regex("^blob:"));

        // A PDF dropped onto the conversation, an image pasted into the text box.
        await page.EvaluateAsync("""
            () => {
              const dt = new DataTransfer();
              dt.items.add(new File(['%PDF-1.4\n%%EOF\n'], '报价单.pdf', { type: 'application/pdf' }));
              const pane = document.getElementById('conversation');
              pane.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
              pane.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
            }
            """);
        var pdf = await EventuallyAsync(async () => (await MessagesAsync(visitor, conversationId)).Cast<JsonElement?>().FirstOrDefault(m => m!.Value.GetProperty("kind").GetString() == "file"));
        Assert.Equal("报价单.pdf", pdf.GetProperty("body").GetProperty("name").GetString());
        await page.EvaluateAsync("""
            async bytes => {
              const dt = new DataTransfer();
              dt.items.add(new File([new Uint8Array(bytes)], 'paste.png', { type: 'image/png' }));
              document.getElementById('composer-text').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
            }
            """, Png(40, 30).Select(b => (int)b).ToArray());
        await EventuallyAsync(async () => (await MessagesAsync(visitor, conversationId)).Cast<JsonElement?>().FirstOrDefault(m => m!.Value.GetProperty("kind").GetString() == "image"));
        await Expect(page.Locator(".msg.us[data-kind=file]")).ToContainTextAsync("报价单.pdf");

        // Presence: away, then online again.
        var agent = app.WithToken(token!);
        var me = (await agent.GetJsonAsync("/v1/me")).Str("id");
        await page.SelectOptionAsync("#presence-select", "away");
        await EventuallyAsync(async () => (await agent.GetJsonAsync("/v1/presence")).Json.EnumerateArray().Cast<JsonElement?>()
            .FirstOrDefault(p => p!.Value.GetProperty("user_id").GetString() == me && p.Value.GetProperty("status").GetString() == "away"));
        await page.SelectOptionAsync("#presence-select", "online");
        await EventuallyAsync(async () => (await agent.GetJsonAsync("/v1/presence")).Json.EnumerateArray().Cast<JsonElement?>()
            .FirstOrDefault(p => p!.Value.GetProperty("user_id").GetString() == me && p.Value.GetProperty("status").GetString() == "online"));

        // English, and back to Chinese; the open conversation stays open.
        await page.ClickAsync(".topbar .lang");
        await Expect(page.Locator("#resolve-button")).ToHaveTextAsync("Resolve");
        await Expect(page.Locator("#timeline")).ToContainTextAsync("语音说明");
        await browser.ScreenshotAsync("console-conversation-desktop-en");
        await page.ClickAsync(".topbar .lang");
        await Expect(page.Locator("#resolve-button")).ToHaveTextAsync("解决");

        // Sign-out ends the session: the sign-in page, and the page's token no longer works.
        await page.ClickAsync("#logout-button");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/login$"));
        Assert.Equal(401, (await agent.GetJsonAsync("/v1/me")).Status);
        await page.GotoAsync("/console");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/login"));
    }

    [Fact]
    public async Task On_a_phone_the_inbox_and_the_conversation_are_one_pane_each()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var (visitor, conversationId) = await VisitorAsync(app, "请问门店几点关门？");
        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Phone });
        var page = await SignInAsync(browser, "agent.digital@demo.local");

        var item = page.Locator($".inbox-item[data-id='{conversationId}']");
        await Expect(item).ToBeVisibleAsync();
        await Expect(page.Locator("#conversation")).Not.ToBeVisibleAsync();
        await browser.ScreenshotAsync("console-inbox-phone");

        await item.Locator("button").ClickAsync();
        await Expect(page.Locator("#inbox")).Not.ToBeVisibleAsync();
        await Expect(page.Locator("#timeline")).ToContainTextAsync("几点关门");
        await page.FillAsync("#composer-text", "晚上九点关门，欢迎光临 😊");
        await page.ClickAsync("#send-button");
        await Expect(page.Locator(".msg.us").Last).ToContainTextAsync("晚上九点关门");
        await browser.ScreenshotAsync("console-conversation-phone");

        await page.ClickAsync("#panel-button");
        await Expect(page.Locator("#customer-panel")).ToBeInViewportAsync();
        await browser.ScreenshotAsync("console-customer-panel-phone");
        await page.ClickAsync(".panel-close");
        await Expect(page.Locator("#customer-panel")).Not.ToBeInViewportAsync();

        await page.ClickAsync("#back-button");
        await Expect(page.Locator("#inbox")).ToBeVisibleAsync();
        Assert.Contains(await MessagesAsync(visitor, conversationId), m => m.TryGetProperty("body", out var b) && b.TryGetProperty("text", out var t) && t.GetString() == "晚上九点关门，欢迎光临 😊");
    }

    [Fact]
    public async Task A_manager_edits_a_queue_an_agents_capacity_and_the_business_hours()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var store = (await manager.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == "demo-digital");
        var storeId = store.GetProperty("id").GetString()!;
        var agentId = (await (await app.LoginAsync("agent.digital@demo.local")).GetJsonAsync("/v1/me")).Str("id");

        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop });
        var page = await SignInAsync(browser, "manager.digital@demo.local");
        await page.ClickAsync("#manage-link");

        // Queues: a new one with keywords and one agent, then renamed.
        await Expect(page.Locator("form[data-queue=new]")).ToBeVisibleAsync();
        var form = page.Locator("form[data-queue=new]");
        await form.Locator("input[name=name]").FillAsync("平板");
        await form.Locator("input[name=keywords]").FillAsync("iPad, 平板");
        await form.Locator("select[name=strategy]").SelectOptionAsync("round_robin");
        await form.Locator($"input[value='{agentId}']").CheckAsync();
        await form.Locator("button[type=submit]").ClickAsync();
        var queue = await EventuallyAsync(async () => (await manager.GetJsonAsync($"/v1/stores/{storeId}/queues")).Json.EnumerateArray()
            .Cast<JsonElement?>().FirstOrDefault(q => q!.Value.GetProperty("name").GetString() == "平板"));
        Assert.Equal(["iPad", "平板"], queue.GetProperty("keywords").EnumerateArray().Select(k => k.GetString()));
        Assert.Equal("round_robin", queue.GetProperty("strategy").GetString());
        Assert.Equal([agentId], queue.GetProperty("agent_ids").EnumerateArray().Select(k => k.GetString()));
        var queueForm = page.Locator($"form[data-queue='{queue.GetProperty("id").GetString()}']");
        await queueForm.Locator("input[name=name]").FillAsync("平板电脑");
        await queueForm.Locator("button[type=submit]").ClickAsync();
        await EventuallyAsync(async () => (await manager.GetJsonAsync($"/v1/stores/{storeId}/queues")).Json.EnumerateArray()
            .Cast<JsonElement?>().FirstOrDefault(q => q!.Value.GetProperty("name").GetString() == "平板电脑"));
        await browser.ScreenshotAsync("console-manage-queues", fullPage: true);

        // Capacity of the agent.
        await page.ClickAsync("a[href='/console/manage/agents']");
        var row = page.Locator($"tr[data-staff='{agentId}']");
        await row.Locator("input[name=capacity]").FillAsync("3");
        await row.Locator("button").ClickAsync();
        await EventuallyAsync(async () => (await manager.GetJsonAsync($"/v1/staff/{agentId}")).Json is var s && s.GetProperty("capacity").GetInt32() == 3 ? s : null);
        await browser.ScreenshotAsync("console-manage-agents");

        // Business hours: Monday 10:00-20:00, Sunday closed, a tighter first-response target.
        await page.ClickAsync("a[href='/console/manage/hours']");
        await page.FillAsync("input[name=mon]", "10:00-20:00");
        await page.FillAsync("input[name=sun]", "");
        await page.FillAsync("input[name=sla_first_response_minutes]", "3");
        await page.CheckAsync("input[name=customer_work_kinds][value=care_job]");
        await page.ClickAsync("#manage-content button[type=submit]");
        var hours = await EventuallyAsync(async () => (await manager.GetJsonAsync($"/v1/stores/{storeId}")).Json is var s &&
            s.GetProperty("sla_first_response_minutes").GetInt32() == 3 ? s : null);
        var monday = Assert.Single(hours.GetProperty("business_hours").GetProperty("mon").EnumerateArray());
        Assert.Equal(("10:00", "20:00"), (monday.GetProperty("open").GetString(), monday.GetProperty("close").GetString()));
        Assert.False(hours.GetProperty("business_hours").TryGetProperty("sun", out _));
        Assert.Equal(["ticket", "care_job"], hours.GetProperty("customer_work_kinds").EnumerateArray().Select(k => k.GetString()));
        await browser.ScreenshotAsync("console-manage-hours", fullPage: true);

        // Canned replies: a new one, then its text changed.
        await page.ClickAsync("a[href='/console/manage/canned']");
        var canned = page.Locator("form[data-canned=new]");
        await canned.Locator("input[name=shortcut]").FillAsync("price");
        await canned.Locator("input[name=title]").FillAsync("换屏报价");
        await canned.Locator("textarea[name=body]").FillAsync("{customer.name}您好，换屏报价 ¥899。");
        await canned.Locator("button[type=submit]").ClickAsync();
        var reply = await EventuallyAsync(async () => (await manager.GetJsonAsync($"/v1/stores/{storeId}/canned-replies?q=price")).Json.EnumerateArray()
            .Cast<JsonElement?>().FirstOrDefault(r => r!.Value.GetProperty("shortcut").GetString() == "price"));
        var edit = page.Locator($"form[data-canned='{reply.GetProperty("id").GetString()}']");
        await edit.Locator("textarea[name=body]").FillAsync("{customer.name}您好，换屏报价 ¥799。");
        await edit.Locator("button[type=submit]").ClickAsync();
        await EventuallyAsync(async () => (await manager.GetJsonAsync($"/v1/stores/{storeId}/canned-replies?q=price")).Json.EnumerateArray()
            .Cast<JsonElement?>().FirstOrDefault(r => r!.Value.GetProperty("body").GetString()!.Contains("¥799", StringComparison.Ordinal)));

        // A bad interval is refused with the server's reason, in the page's language.
        await page.ClickAsync("a[href='/console/manage/hours']");
        await Expect(page.Locator("input[name=mon]")).ToHaveValueAsync("10:00-20:00");
        await page.FillAsync("input[name=tue]", "25:00-26:00");
        await page.ClickAsync("#manage-content button[type=submit]");
        await Expect(page.Locator(".toast.error")).ToContainTextAsync("内容不正确");
    }

    /// <summary>A small valid PNG (a gradient), so the upload is a real image and the screenshot shows it.</summary>
    internal static byte[] Png(int width, int height)
    {
        var raw = new byte[(width * 3 + 1) * height];
        for (var y = 0; y < height; y++)
        {
            var row = y * (width * 3 + 1);
            for (var x = 0; x < width; x++)
            {
                raw[row + 1 + x * 3] = (byte)(x * 255 / width);
                raw[row + 2 + x * 3] = (byte)(y * 255 / height);
                raw[row + 3 + x * 3] = 200;
            }
        }
        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;
        header[9] = 2;
        Chunk(png, "IHDR", header);
        using (var compressed = new MemoryStream())
        {
            using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
                z.Write(raw);
            Chunk(png, "IDAT", compressed.ToArray());
        }
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        var length = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        png.Write(length);
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        png.Write(typed);
        var crc = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        png.Write(crc);
    }
}
