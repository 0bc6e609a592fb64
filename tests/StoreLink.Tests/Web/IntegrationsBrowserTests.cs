using Microsoft.Playwright;
using StoreLink.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace StoreLink.Tests.Web;

/// <summary>The console's integrations pages in Chromium: webhook subscriptions and redelivery, API keys, connectors and their logs.</summary>
public sealed class IntegrationsBrowserTests
{
    // Loopback receivers are allowed; a failed delivery waits ten minutes for its retry, so only a redelivery sends it again.
    private static readonly Dictionary<string, string?> Settings = new() { ["Webhooks:AllowPrivateTargets"] = "true", ["Webhooks:FirstRetryDelay"] = "00:10:00" };

    /// <summary>Reloads the subscription's deliveries, as the admin would, until a row of the status shows.</summary>
    private static async Task<ILocator> DeliveryAsync(ILocator card, string status)
    {
        var row = card.Locator($"tr[data-status={status}]");
        for (var i = 0; i < 60 && await row.CountAsync() == 0; i++)
        {
            await card.Locator("button", new() { HasText = "投递记录" }).ClickAsync();
            await Task.Delay(500);
        }
        await Expect(row).ToBeVisibleAsync();
        return row;
    }

    [Fact]
    public async Task An_org_admin_subscribes_a_webhook_sees_a_failed_delivery_and_redelivers_it()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, Settings);
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Behaviour = n => (n == 1 ? 500 : 204, TimeSpan.Zero); // the first attempt fails
        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop });
        var page = await browser.SignInToConsoleAsync("admin@demo.local");

        await page.ClickAsync("#integrations-link");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/integrations/webhooks$"));
        var form = page.Locator("form[data-webhook=new]");
        await form.Locator("input[name=url]").FillAsync(receiver.Url.ToString());
        await form.Locator("input[name=description]").FillAsync("ERP 测试");
        await form.Locator("label.check", new() { HasText = "工单状态变化" }).Locator("input").CheckAsync();
        await form.Locator("button[type=submit]").ClickAsync();

        // The secret is shown once, and it is the one the receiver can verify with.
        var secret = (await page.Locator(".secret code").First.TextContentAsync())!;
        Assert.StartsWith("whsec_", secret);
        receiver.Secret = secret;
        var card = page.Locator("[data-webhook]:not([data-webhook=new])");
        await Expect(card).ToContainTextAsync(receiver.Url.ToString());
        await Expect(card).ToContainTextAsync("工单状态变化");

        // A test event: its first attempt fails (500), so it waits for a retry; the admin redelivers it at once.
        await card.Locator("button", new() { HasText = "发送测试事件" }).ClickAsync();
        var failed = await DeliveryAsync(card, "failed");
        await Expect(failed).ToContainTextAsync("500");
        await browser.ScreenshotAsync("console-integrations-webhooks");
        await failed.Locator("button", new() { HasText = "重新投递" }).ClickAsync();
        await DeliveryAsync(card, "succeeded");
        var attempts = receiver.Received.Where(r => r.Type == "webhook.ping").ToList();
        Assert.True(attempts.Count >= 2 && attempts.All(r => r.SignatureValid) && attempts.Select(r => r.Id).Distinct().Count() == 1,
            string.Join("; ", attempts.Select(r => $"{r.Id} {r.Answered} {r.SignatureValid}")));

        // The attempt log of the delivery shows both tries.
        await card.Locator("tr[data-status=succeeded] button", new() { HasText = "详情" }).ClickAsync();
        await Expect(card.Locator("tr.details table tr")).ToHaveCountAsync(attempts.Count);
        await Expect(card.Locator("tr.details pre")).ToContainTextAsync("webhook.ping");

        // Paused, it says so.
        await card.Locator("button", new() { HasText = "暂停" }).ClickAsync();
        await Expect(page.Locator("[data-webhook]:not([data-webhook=new])")).ToContainTextAsync("已暂停");
    }

    [Fact]
    public async Task An_org_admin_creates_and_revokes_an_api_key_and_an_agent_does_not_see_the_page()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, Settings);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Phone });
        var page = await browser.SignInToConsoleAsync("admin@demo.local");
        await page.GotoAsync("/console/integrations/keys");
        var form = page.Locator("form[data-key=new]");
        await form.Locator("input[name=name]").FillAsync("售后系统");
        await form.Locator("select[name=store_id]").SelectOptionAsync(new SelectOptionValue { Label = "数码旗舰店" });
        await form.Locator("label.check", new() { HasText = "work_items:write" }).Locator("input").CheckAsync();
        await form.Locator("button[type=submit]").ClickAsync();
        var key = (await page.Locator(".secret code").TextContentAsync())!;
        Assert.StartsWith("slk_", key);
        await Expect(page.Locator("table.keys")).ToContainTextAsync("售后系统");
        await Expect(page.Locator("table.keys")).ToContainTextAsync("写入工单");
        await browser.ScreenshotAsync("console-integrations-keys-phone");

        // The key works until it is revoked on the page.
        Assert.Equal(200, (await app.WithToken(key).GetJsonAsync("/v1/me")).Status);
        page.Dialog += (_, dialog) => dialog.AcceptAsync();
        await page.Locator("table.keys tr", new() { HasText = "售后系统" }).Locator("button", new() { HasText = "吊销" }).ClickAsync();
        await Expect(page.Locator("table.keys tr", new() { HasText = "售后系统" })).ToContainTextAsync("已吊销");
        Assert.Equal(401, (await app.WithToken(key).GetJsonAsync("/v1/me")).Status);

        // An agent has no link to it, and the page itself says who may use it.
        await using var agentBrowser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop, Locale = "en-US" });
        var agentPage = await agentBrowser.SignInToConsoleAsync("agent.digital@demo.local");
        await Expect(agentPage.Locator("#integrations-link")).ToBeHiddenAsync();
        await agentPage.GotoAsync("/console/integrations/webhooks");
        await Expect(agentPage.Locator("#manage-content")).ToContainTextAsync("只有组织管理员可以管理集成");
    }

    [Fact]
    public async Task An_org_admin_connects_an_order_system_and_reads_its_inbound_log()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, Settings);
        await using var browser = await Browser.NewSessionAsync(app.ServerUri, new BrowserSessionOptions { Viewport = BrowserViewport.Desktop });
        var page = await browser.SignInToConsoleAsync("admin@demo.local");
        await page.GotoAsync("/console/integrations/connectors");

        var form = page.Locator("form[data-connector=new]");
        await form.Locator("input[name=key]").FillAsync("erp");
        await form.Locator("input[name=name]").FillAsync("订单系统");
        await form.Locator("input[name=base_url]").FillAsync("http://127.0.0.1:9/storelink/");
        await form.Locator("select[name=kind]").SelectOptionAsync("order");
        await form.Locator("select[name=store_id]").SelectOptionAsync(new SelectOptionValue { Label = "箱包批发店" });
        await form.Locator("textarea[name=status_map]").FillAsync("UNPAID = unpaid\nPAID = paid\nSHIPPED = shipped");
        await form.Locator("textarea[name=field_map]").FillAsync("receiver_address = address");
        await form.Locator("input[name=commands]").CheckAsync();
        await form.Locator("button[type=submit]").ClickAsync();
        var secret = (await page.Locator(".secret code").First.TextContentAsync())!;
        Assert.StartsWith("whsec_", secret);

        var card = page.Locator("[data-connector]:not([data-connector=new])").First;
        await Expect(card).ToContainTextAsync("订单系统 (erp)");
        await Expect(card).ToContainTextAsync("箱包批发店");
        var connectorId = (await card.GetAttributeAsync("data-connector"))!;
        var admin = await app.LoginAsync("admin@demo.local");
        var stored = (await admin.GetJsonAsync($"/v1/connectors/{connectorId}")).Json;
        Assert.Equal("shipped", stored.GetProperty("status_map").GetProperty("SHIPPED").GetString());
        Assert.True(stored.GetProperty("commands").GetBoolean());

        // The system posts an order with the secret the page showed, and a forged one; the log shows both outcomes.
        var order = Integrations.Hooks.Event("evt-1", "order.upserted", Integrations.Hooks.Order("SO-1", "PAID", customer: "C1002"), version: 1);
        Assert.Equal(200, (await Integrations.Hooks.SendAsync(app, connectorId, secret, order)).Status);
        Assert.Equal(401, (await Integrations.Hooks.SendAsync(app, connectorId, "whsec_" + Convert.ToBase64String(new byte[32]), Integrations.Hooks.Event("evt-2", "order.upserted", Integrations.Hooks.Order("SO-1", "SHIPPED"), version: 2))).Status);
        await card.Locator("button", new() { HasText = "收到的事件" }).ClickAsync();
        await Expect(card.Locator("tr[data-event=evt-1]")).ToContainTextAsync("SO-1");
        await Expect(card.Locator("tr[data-event=evt-1] .badge")).ToHaveTextAsync("已应用");
        await Expect(card.Locator("tr[data-event=evt-2] .badge")).ToHaveTextAsync("已拒绝");
        await browser.ScreenshotAsync("console-integrations-connectors");

        // Editing keeps the key and changes the rest.
        await card.Locator("button", new() { HasText = "编辑" }).ClickAsync();
        var edit = card.Locator($"form[data-connector={connectorId}]");
        await edit.Locator("input[name=name]").FillAsync("ERP 订单");
        await edit.Locator("button[type=submit]").ClickAsync();
        await Expect(page.Locator($"[data-connector={connectorId}] h3").First).ToHaveTextAsync("ERP 订单 (erp)");

        // The customer changes the order's address; the command cannot reach the system (nothing listens on port 9), and
        // the order's timeline tells staff so in words, under the connector's new name.
        var (customer, _) = await Integrations.WebhookTests.WorkflowsCustomerAsync(app, "C1002", "demo-bags");
        var itemId = (await admin.GetJsonAsync("/v1/work-items/ext:erp:SO-1")).Str("id");
        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/work-items/{itemId}/actions", new { action = "change_address", address = "上海市徐汇区漕溪北路 2 号" })).Status);
        await page.GotoAsync($"/console/work/{itemId}");
        await Expect(page.Locator(".wtimeline li[data-kind=command_delayed]")).ToContainTextAsync("顾客的操作「修改收货地址」发往ERP 订单未成功，正在重试", new() { Timeout = 30_000 });
    }
}
