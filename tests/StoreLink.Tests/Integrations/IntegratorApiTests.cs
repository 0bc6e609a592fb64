using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StoreLink.Server.Workflows;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary>
/// What a store's system does with an API key besides work items: read service conversations and transcripts, post
/// into them as the store, and send templated notifications that wait for the end of quiet hours.
/// </summary>
public sealed class IntegratorApiTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static async Task<HttpClient> KeyAsync(StoreLinkApp app, HttpClient admin, string name, string[] permissions, string? storeId = null)
    {
        var created = await admin.PostJsonAsync("/v1/api-clients", new { name, store_id = storeId, permissions });
        Assert.Equal(201, created.Status);
        return app.WithToken(created.Str("key"));
    }

    private static async Task<Dictionary<string, string>> StoresAsync(HttpClient admin) =>
        (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray()
            .ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);

    /// <summary>A visitor of the store with an open service conversation holding one message.</summary>
    private static async Task<(HttpClient Visitor, string ConversationId, string CustomerId)> VisitorChatAsync(StoreLinkApp app, string storeKey, string text)
    {
        var visitor = await app.VisitorAsync(storeKey);
        var conversation = await visitor.PostJsonAsync("/v1/conversations", new { store_key = storeKey });
        var id = conversation.Str("id");
        Assert.Equal(201, (await visitor.PostJsonAsync($"/v1/conversations/{id}/messages", new { client_msg_id = "m1", kind = "text", body = new { text } })).Status);
        return (visitor, id, (await visitor.GetJsonAsync("/v1/me")).Str("id"));
    }

    private static async Task<List<JsonElement>> MessagesAsync(HttpClient client, string conversationId) =>
        (await client.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray().ToList();

    [Theory, MemberData(nameof(Databases))]
    public async Task A_key_reads_service_conversations_of_its_scope_and_their_transcripts(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var stores = await StoresAsync(admin);
        var (_, digital, digitalCustomer) = await VisitorChatAsync(app, "demo-digital", "手机屏幕碎了");
        var (_, bags, _) = await VisitorChatAsync(app, "demo-bags", "托特包还有货吗");

        var reader = await KeyAsync(app, admin, "客服质检", ["conversations:read"]);
        var all = (await reader.GetJsonAsync("/v1/conversations")).Json.EnumerateArray().Select(c => c.GetProperty("id").GetString()).ToList();
        Assert.Contains(digital, all);
        Assert.Contains(bags, all);
        var byCustomer = (await reader.GetJsonAsync($"/v1/conversations?customer_id={digitalCustomer}")).Json;
        Assert.Equal(digital, Assert.Single(byCustomer.EnumerateArray()).GetProperty("id").GetString());
        var byStore = (await reader.GetJsonAsync($"/v1/conversations?store_id={stores["demo-bags"]}")).Json;
        Assert.Equal(bags, Assert.Single(byStore.EnumerateArray()).GetProperty("id").GetString());

        var one = await reader.GetJsonAsync($"/v1/conversations/{digital}");
        Assert.Equal((200, "service"), (one.Status, one.Str("kind")));
        Assert.False(one.Json.TryGetProperty("notes_id", out var notes) && notes.ValueKind == JsonValueKind.String);
        var transcript = await MessagesAsync(reader, digital);
        Assert.Equal("手机屏幕碎了", transcript.Single(m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer").GetProperty("body").GetProperty("text").GetString());

        // A key scoped to the bag store sees that store only; the other store's conversation does not exist for it.
        var scoped = await KeyAsync(app, admin, "箱包 ERP", ["conversations:read"], stores["demo-bags"]);
        Assert.Equal(bags, Assert.Single((await scoped.GetJsonAsync("/v1/conversations")).Json.EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal((404, "not_found"), await StatusAsync(scoped.GetJsonAsync($"/v1/conversations/{digital}")));
        Assert.Equal((404, "not_found"), await StatusAsync(scoped.GetJsonAsync($"/v1/conversations/{digital}/messages")));

        // Without the permission: forbidden. Notes threads and staff chats never leave the staff.
        var other = await KeyAsync(app, admin, "会员系统", ["customers:read"]);
        Assert.Equal((403, "forbidden"), await StatusAsync(other.GetJsonAsync("/v1/conversations")));
        Assert.Equal((403, "forbidden"), await StatusAsync(other.GetJsonAsync($"/v1/conversations/{digital}/messages")));
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var notesId = (await agent.GetJsonAsync($"/v1/conversations/{digital}")).Str("notes_id");
        Assert.Equal((404, "not_found"), await StatusAsync(reader.GetJsonAsync($"/v1/conversations/{notesId}/messages")));
        var manager = (await app.LoginAsync("manager.digital@demo.local"));
        var managerId = (await manager.GetJsonAsync("/v1/me")).Str("id");
        var direct = await agent.PostJsonAsync("/v1/conversations", new { kind = "direct", user_id = managerId });
        Assert.Equal((404, "not_found"), await StatusAsync(reader.GetJsonAsync($"/v1/conversations/{direct.Str("id")}")));

        // Another organization's key sees none of them.
        var franchiseConversation = (await VisitorChatAsync(app, "demo-franchise", "你好")).ConversationId;
        Assert.Equal((404, "not_found"), await StatusAsync(reader.GetJsonAsync($"/v1/conversations/{franchiseConversation}/messages")));
        Assert.DoesNotContain(franchiseConversation, (await reader.GetJsonAsync("/v1/conversations")).Body);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_key_posts_as_the_store_once_per_client_msg_id_and_the_customer_sees_it_live(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var (visitor, conversationId, _) = await VisitorChatAsync(app, "demo-digital", "我的订单到哪了");
        await using var socket = await app.ConnectAsync(StoreLinkApp.TokenOf(visitor));
        var erp = await KeyAsync(app, admin, "订单系统", ["messages:write", "conversations:read"]);

        var body = new { client_msg_id = "erp-1", kind = "text", body = new { text = "您的订单已发货，顺丰 SF123" } };
        var sent = await erp.PostJsonAsync($"/v1/conversations/{conversationId}/messages", body);
        Assert.Equal(201, sent.Status);
        Assert.Equal(("bot", "订单系统"), (sent.Json.GetProperty("sender").GetProperty("kind").GetString(), sent.Json.GetProperty("sender").GetProperty("name").GetString()));
        var again = await erp.PostJsonAsync($"/v1/conversations/{conversationId}/messages", body);
        Assert.Equal((200, sent.Str("id")), (again.Status, again.Str("id")));

        var pushed = await socket.NextAsync(f => f.GetProperty("type").GetString() == "message"
            && f.GetProperty("message").GetProperty("sender").GetProperty("kind").GetString() == "bot");
        Assert.Equal("您的订单已发货，顺丰 SF123", pushed.GetProperty("message").GetProperty("body").GetProperty("text").GetString());
        Assert.Single(await MessagesAsync(visitor, conversationId), m => m.GetProperty("sender").GetProperty("kind").GetString() == "bot");

        // Keys post text and location only; server-only kinds and files are refused; reading needs its own permission.
        var image = await erp.PostJsonAsync($"/v1/conversations/{conversationId}/messages", new { client_msg_id = "erp-2", kind = "image", body = new { attachment_id = "att_x" } });
        Assert.Equal((400, "invalid_request"), (image.Status, image.Code));
        var card = await erp.PostJsonAsync($"/v1/conversations/{conversationId}/messages", new { client_msg_id = "erp-3", kind = "card", body = new { title = "x" } });
        Assert.Equal((400, "invalid_request"), (card.Status, card.Code));
        var location = await erp.PostJsonAsync($"/v1/conversations/{conversationId}/messages",
            new { client_msg_id = "erp-4", kind = "location", body = new { latitude = 31.23, longitude = 121.47, label = "门店" } });
        Assert.Equal(201, location.Status);
        var readOnly = await KeyAsync(app, admin, "质检", ["conversations:read"]);
        Assert.Equal((403, "forbidden"), await StatusAsync(readOnly.PostJsonAsync($"/v1/conversations/{conversationId}/messages", new { client_msg_id = "q", kind = "text", body = new { text = "x" } })));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Notification_templates_are_managed_by_admins_and_org_wide_keys_with_clear_errors(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var stores = await StoresAsync(admin);
        var template = new { name = "到店取件", text = new Dictionary<string, string> { ["zh-CN"] = "{customer.name}，您的订单 {order_no} 已到{store.name}，取件码 {code}。", ["en"] = "Your order {order_no} is ready at {store.name}. Pickup code {code}." } };

        var put = await admin.PutJsonAsync("/v1/notification-templates/pickup_ready", template);
        Assert.Equal(200, put.Status);
        Assert.Equal(("pickup_ready", false), (put.Str("key"), put.Json.GetProperty("urgent").GetBoolean()));
        var key = await KeyAsync(app, admin, "订单系统", ["messages:write"]);
        Assert.Equal(200, (await key.PutJsonAsync("/v1/notification-templates/pickup_ready", template with { name = "到店取件通知" })).Status);
        var listed = Assert.Single((await key.GetJsonAsync("/v1/notification-templates")).Json.EnumerateArray());
        Assert.Equal("到店取件通知", listed.GetProperty("name").GetString());

        var scoped = await KeyAsync(app, admin, "门店系统", ["messages:write"], stores["demo-digital"]);
        Assert.Equal((403, "forbidden"), await StatusAsync(scoped.PutJsonAsync("/v1/notification-templates/x", template)));
        var manager = await app.LoginAsync("manager.digital@demo.local");
        Assert.Equal((403, "forbidden"), await StatusAsync(manager.PutJsonAsync("/v1/notification-templates/x", template)));
        var noPermission = await KeyAsync(app, admin, "会员", ["customers:read"]);
        Assert.Equal((403, "forbidden"), await StatusAsync(noPermission.GetJsonAsync("/v1/notification-templates")));

        var bad = await admin.PutJsonAsync("/v1/notification-templates/Bad%20Key", new { name = "", text = new Dictionary<string, string> { ["fr"] = "x" } });
        Assert.Equal((400, "invalid_request"), (bad.Status, bad.Code));
        var errors = bad.Json.GetProperty("errors");
        Assert.True(errors.TryGetProperty("key", out _) && errors.TryGetProperty("name", out _) && errors.TryGetProperty("text", out _), bad.Body);
        var wrongType = await admin.SendRawAsync(HttpMethod.Put, "/v1/notification-templates/x", """{"name":"x","text":{"zh-CN":"x"},"urgent":"yes"}""");
        Assert.Equal((400, "invalid_request"), (wrongType.Status, wrongType.Code));

        Assert.Equal(204, (await admin.DeleteJsonAsync("/v1/notification-templates/pickup_ready")).Status);
        Assert.Equal((404, "not_found"), await StatusAsync(admin.DeleteJsonAsync("/v1/notification-templates/pickup_ready")));
        var franchise = await app.LoginAsync("agent@franchise.demo.local");
        Assert.Equal(0, (await franchise.GetJsonAsync("/v1/notification-templates")).Json.GetArrayLength());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_notification_waits_for_the_end_of_quiet_hours_renders_in_the_customers_language_and_goes_once(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var stores = await StoresAsync(admin);
        var erp = await KeyAsync(app, admin, "订单系统", ["messages:write", "customers:write", "customers:read", "conversations:read"]);
        await erp.PutJsonAsync("/v1/notification-templates/pickup_ready", new
        {
            name = "到店取件",
            text = new Dictionary<string, string> { ["zh-CN"] = "{customer.name}，您的订单 {order_no} 已到{store.name}，取件码 {code}。", ["en"] = "Your order {order_no} is ready at {store.name}. Pickup code {code}." },
        });
        Assert.Equal(201, (await erp.PostJsonAsync("/v1/customers", new { external_id = "ERP-7", name = "王先生", attributes = new { language = "en" } })).Status);
        var notifier = app.Services.GetRequiredService<Notifier>();

        // 22:00 in Shanghai: the demo store's quiet hours (21:00–08:30). The notification waits for 08:30.
        app.Clock.AdvanceToLocal(new TimeOnly(22, 0));
        var send = new { store_id = stores["demo-bags"], customer_external_id = "C1002", template = "pickup_ready", variables = new { order_no = "SO-1001", code = 4821 } };
        var scheduled = await erp.PostJsonAsync("/v1/notifications", send);
        Assert.Equal(202, scheduled.Status);
        Assert.Equal("scheduled", scheduled.Str("status"));
        var expectedText = $"{await CustomerNameAsync(erp, "C1002")}，您的订单 SO-1001 已到箱包批发店，取件码 4821。";
        Assert.Equal(expectedText, scheduled.Str("text"));
        var due = scheduled.Json.GetProperty("due_at").GetDateTimeOffset();
        var shanghai = TimeZoneInfo.ConvertTime(due, TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai"));
        Assert.Equal(new TimeOnly(8, 30), TimeOnly.FromDateTime(shanghai.DateTime));
        await notifier.DeliverDueAsync(default);
        Assert.Equal("scheduled", (await erp.GetJsonAsync($"/v1/notifications/{scheduled.Str("id")}")).Str("status"));

        // An urgent one goes out at once, in the customer's own language.
        var urgent = await erp.PostJsonAsync("/v1/notifications", new { store_id = stores["demo-bags"], customer_external_id = "ERP-7", template = "pickup_ready", urgent = true, variables = new { order_no = "SO-2002", code = "0007" } });
        Assert.Equal(202, urgent.Status);
        Assert.Equal("Your order SO-2002 is ready at 箱包批发店. Pickup code 0007.", urgent.Str("text"));
        await notifier.DeliverDueAsync(default);
        var urgentNow = await erp.GetJsonAsync($"/v1/notifications/{urgent.Str("id")}");
        Assert.Equal("delivered", urgentNow.Str("status"));
        var englishChat = await MessagesAsync(erp, urgentNow.Str("conversation_id"));
        Assert.Equal("Your order SO-2002 is ready at 箱包批发店. Pickup code 0007.", Assert.Single(englishChat, m => m.GetProperty("kind").GetString() == "system").GetProperty("body").GetProperty("text").GetString());

        // In the morning the waiting one is posted once, however often the notifier runs.
        app.Clock.AdvanceToLocal(new TimeOnly(8, 31));
        await notifier.DeliverDueAsync(default);
        await notifier.DeliverDueAsync(default);
        var delivered = await erp.GetJsonAsync($"/v1/notifications/{scheduled.Str("id")}");
        Assert.Equal("delivered", delivered.Str("status"));
        var chat = await MessagesAsync(erp, delivered.Str("conversation_id"));
        var posted = Assert.Single(chat, m => m.GetProperty("kind").GetString() == "system" && m.GetProperty("body").GetProperty("text").GetString() == expectedText);
        Assert.Equal(delivered.Str("message_id"), posted.GetProperty("id").GetString());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_notification_is_refused_before_anything_is_scheduled_when_it_cannot_be_sent_right(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var stores = await StoresAsync(admin);
        await admin.PutJsonAsync("/v1/notification-templates/pickup_ready", new { name = "到店取件", text = new Dictionary<string, string> { ["zh-CN"] = "订单 {order_no} 已到店" } });
        // Addressing a customer needs customers:read beside messages:write.
        var writeOnly = await KeyAsync(app, admin, "只写", ["messages:write"]);
        Assert.Equal((403, "forbidden"), await StatusAsync(writeOnly.PostJsonAsync("/v1/notifications", new { store_id = stores["demo-bags"], customer_external_id = "C1002", template = "pickup_ready", variables = new { order_no = "1" } })));
        var erp = await KeyAsync(app, admin, "订单系统", ["messages:write", "customers:read"]);
        var customers = (await admin.GetJsonAsync("/v1/customers")).Json.EnumerateArray().ToDictionary(c => c.GetProperty("external_id").GetString()!, c => c.GetProperty("id").GetString()!);

        var missing = await erp.PostJsonAsync("/v1/notifications", new { store_id = stores["demo-bags"], customer_id = customers["C1002"], template = "pickup_ready" });
        Assert.Equal((422, "unprocessable"), (missing.Status, missing.Code));
        Assert.Equal("order_no", missing.Json.GetProperty("errors").GetProperty("variables")[0].GetString());
        var both = await erp.PostJsonAsync("/v1/notifications", new { store_id = stores["demo-bags"], customer_id = customers["C1002"], customer_external_id = "C1002", template = "pickup_ready" });
        Assert.Equal((400, "invalid_request"), (both.Status, both.Code));
        Assert.Equal((404, "not_found"), await StatusAsync(erp.PostJsonAsync("/v1/notifications", new { store_id = stores["demo-bags"], customer_external_id = "nobody", template = "pickup_ready", variables = new { order_no = "1" } })));
        Assert.Equal((404, "not_found"), await StatusAsync(erp.PostJsonAsync("/v1/notifications", new { store_id = stores["demo-bags"], customer_external_id = "C1002", template = "no_such", variables = new { order_no = "1" } })));
        var wrongType = await erp.SendRawAsync(HttpMethod.Post, "/v1/notifications", $$"""{"store_id":"{{stores["demo-bags"]}}","customer_external_id":"C1002","template":"pickup_ready","variables":[1]}""");
        Assert.Equal((400, "invalid_request"), (wrongType.Status, wrongType.Code));

        // Another organization's customer and store do not exist for this key; agents and customers do not send.
        var franchise = await app.LoginAsync("agent@franchise.demo.local");
        var franchiseStore = (await franchise.GetJsonAsync("/v1/stores")).Json[0].GetProperty("id").GetString()!;
        var franchiseCustomer = (await franchise.GetJsonAsync("/v1/customers")).Json[0].GetProperty("id").GetString()!;
        Assert.Equal((404, "not_found"), await StatusAsync(erp.PostJsonAsync("/v1/notifications", new { store_id = franchiseStore, customer_external_id = "C1002", template = "pickup_ready", variables = new { order_no = "1" } })));
        Assert.Equal((404, "not_found"), await StatusAsync(erp.PostJsonAsync("/v1/notifications", new { store_id = stores["demo-bags"], customer_id = franchiseCustomer, template = "pickup_ready", variables = new { order_no = "1" } })));
        var agent = await app.LoginAsync("agent.bags@demo.local");
        Assert.Equal((403, "forbidden"), await StatusAsync(agent.PostJsonAsync("/v1/notifications", new { store_id = stores["demo-bags"], customer_external_id = "C1002", template = "pickup_ready", variables = new { order_no = "1" } })));
        var visitor = await app.VisitorAsync("demo-bags");
        Assert.Equal((403, "forbidden"), await StatusAsync(visitor.PostJsonAsync("/v1/notifications", new { store_id = stores["demo-bags"], customer_external_id = "C1002", template = "pickup_ready" })));

        // A retried send with the same Idempotency-Key schedules one notification.
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/notifications")
        {
            Content = JsonContent(new { store_id = stores["demo-bags"], customer_external_id = "C1002", template = "pickup_ready", variables = new { order_no = "SO-9" } }),
        };
        request.Headers.Add("Idempotency-Key", "erp-ntf-SO-9");
        var first = await erp.SendJsonAsync(request);
        var retry = new HttpRequestMessage(HttpMethod.Post, "/v1/notifications") { Content = JsonContent(new { store_id = stores["demo-bags"], customer_external_id = "C1002", template = "pickup_ready", variables = new { order_no = "SO-9" } }) };
        retry.Headers.Add("Idempotency-Key", "erp-ntf-SO-9");
        var second = await erp.SendJsonAsync(retry);
        Assert.Equal((202, 202, first.Str("id")), (first.Status, second.Status, second.Str("id")));

        // The notification itself is visible to the organization's staff of that store, not to others.
        Assert.Equal(200, (await agent.GetJsonAsync($"/v1/notifications/{first.Str("id")}")).Status);
        Assert.Equal((404, "not_found"), await StatusAsync(franchise.GetJsonAsync($"/v1/notifications/{first.Str("id")}")));
        Assert.Equal((404, "not_found"), await StatusAsync((await app.LoginAsync("agent.shoes@demo.local")).GetJsonAsync($"/v1/notifications/{first.Str("id")}")));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_key_reads_changes_and_moves_a_work_item_by_the_reference_its_system_gave_it(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var stores = await StoresAsync(admin);
        var customers = (await admin.GetJsonAsync("/v1/customers")).Json.EnumerateArray().ToDictionary(c => c.GetProperty("external_id").GetString()!, c => c.GetProperty("id").GetString()!);
        var erp = await KeyAsync(app, admin, "订单系统", ["work_items:read", "work_items:write", "customers:read"]);
        var created = await erp.PostJsonAsync("/v1/work-items", new
        {
            store_id = stores["demo-bags"], customer_id = customers["C1002"], kind = "order", title = "托特包 ×1",
            external_ref = new { system = "erp", id = "SO:2026/11-0042" },
        });
        Assert.Equal(201, created.Status);

        var byRef = "/v1/work-items/" + Uri.EscapeDataString("ext:erp:SO:2026/11-0042");
        var read = await erp.GetJsonAsync(byRef);
        Assert.Equal((200, created.Str("id")), (read.Status, read.Str("id")));
        Assert.Equal("托特包 ×2", (await erp.PatchJsonAsync(byRef, new { title = "托特包 ×2" })).Str("title"));
        Assert.Equal("paid", (await erp.PostJsonAsync(byRef + "/transition", new { to = "paid" })).Str("state"));
        Assert.Contains((await erp.GetJsonAsync(byRef + "/timeline")).Json.EnumerateArray(), e => e.GetProperty("kind").GetString() == "state_changed");
        Assert.Equal("paid", (await erp.GetJsonAsync($"/v1/work-items/{created.Str("id")}")).Str("state"));

        // Another system's reference, a reference of another organization, a malformed one: not found.
        Assert.Equal((404, "not_found"), await StatusAsync(erp.GetJsonAsync("/v1/work-items/" + Uri.EscapeDataString("ext:crm:SO:2026/11-0042"))));
        Assert.Equal((404, "not_found"), await StatusAsync(erp.GetJsonAsync("/v1/work-items/ext:erp:")));
        Assert.Equal((404, "not_found"), await StatusAsync(erp.GetJsonAsync("/v1/work-items/ext:" + new string('x', 300))));
        var franchise = await app.LoginAsync("agent@franchise.demo.local");
        Assert.Equal((404, "not_found"), await StatusAsync(franchise.GetJsonAsync(byRef)));
        // A key scoped to another store does not see it either.
        var digitalKey = await KeyAsync(app, admin, "数码 ERP", ["work_items:read"], stores["demo-digital"]);
        Assert.Equal((404, "not_found"), await StatusAsync(digitalKey.GetJsonAsync(byRef)));
    }

    private static StringContent JsonContent(object body) => new(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");

    private static async Task<string> CustomerNameAsync(HttpClient client, string externalId)
    {
        var customers = await client.GetJsonAsync("/v1/customers");
        return customers.Json.EnumerateArray().Single(c => c.GetProperty("external_id").GetString() == externalId).GetProperty("name").GetString()!;
    }

    private static async Task<(int, string?)> StatusAsync(Task<ApiResponse> call)
    {
        var response = await call;
        return (response.Status, response.Code);
    }
}
