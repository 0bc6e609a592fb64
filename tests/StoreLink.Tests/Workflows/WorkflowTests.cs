using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StoreLink.Server.Accounts;
using StoreLink.Server.Workflows;
using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Workflows;

/// <summary>The three store scenarios end to end through the API, quiet hours with the test clock, and templates as data.</summary>
public sealed class WorkflowTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static readonly TimeOnly Morning = new(10, 0);

    [Theory, MemberData(nameof(Databases))]
    public async Task A_ticket_made_from_a_chat_is_assigned_by_category_and_the_customer_approves_the_quote_from_the_card(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        app.Clock.AdvanceToLocal(Morning);
        var (customer, conversationId) = await CustomerAsync(app, "C1001", "demo-digital");
        var photo = (await AttachmentTests.UploadAsync(customer, AttachmentTests.Png, "屏幕.png", "image/png")).Str("id");
        await MessagingTests.SendAsync(customer, conversationId, "你好，我的 iPhone 16 Pro 屏幕碎了，订单号 SO-20260915-0001，电话 13800000001");
        await customer.PostJsonAsync($"/v1/conversations/{conversationId}/messages",
            new { client_msg_id = "photo-1", kind = "image", body = new { attachment_id = photo } });
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var tech = await app.LoginAsync("tech.digital@demo.local");
        var techId = (await tech.GetJsonAsync("/v1/me")).Str("id");
        await using var customerSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        await using var techSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(tech));

        var draft = await agent.GetJsonAsync($"/v1/conversations/{conversationId}/work-item-draft?kind=ticket");
        Assert.Equal(200, draft.Status);
        var fields = draft.Json.GetProperty("fields");
        Assert.Equal(["13800000001"], fields.GetProperty("phones").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(["SO-20260915-0001"], fields.GetProperty("order_numbers").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(("Apple", "iPhone 16 Pro"), (fields.GetProperty("device_brand").GetString(), fields.GetProperty("device_model").GetString()));
        Assert.Equal("screen", draft.Str("category"));
        Assert.Contains("屏幕碎了", draft.Str("description"));
        Assert.Equal([photo], draft.Json.GetProperty("attachment_ids").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(1, draft.Json.GetProperty("transcript_from").GetInt64());

        var created = await agent.PostJsonAsync("/v1/work-items", draft.Json);
        Assert.Equal(201, created.Status);
        var id = created.Str("id");
        Assert.Equal(("received", techId, "technician"), (created.Str("state"), created.Str("assignee_id"), created.Str("team")));
        Assert.Matches(@"^T\d{6}-001$", created.Str("number"));
        Assert.Equal("数码维修师傅", created.Str("assignee_name"));

        var card = await CardAsync(customer, conversationId, id, "已受理");
        Assert.Contains(card.GetProperty("fields").EnumerateArray(), f => f.GetProperty("label").GetString() == "负责人" && f.GetProperty("value").GetString() == "数码维修师傅");

        // The template says who may make each move.
        Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "inspecting" })).Status);
        await CardAsync(customer, conversationId, id, "检测中"); // each card goes out before the next change (else they merge)
        Assert.Equal((403, "forbidden"), await StatusAsync(agent.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "awaiting_approval" })));
        Assert.Equal((409, "conflict"), await StatusAsync(tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "completed" })));
        Assert.Equal((400, "invalid_request"), await StatusAsync(tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "nowhere" })));
        Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "awaiting_approval", note = "屏幕总成损坏" })).Status);
        var quote = await tech.PostJsonAsync($"/v1/work-items/{id}/requests", new { title = "更换原装屏幕", price = "899" });
        Assert.Equal(201, quote.Status);
        var quoteCard = await CardAsync(customer, conversationId, id, "待您确认报价", c => c.GetProperty("actions").GetArrayLength() > 0);
        Assert.Equal([$"approve:{quote.Str("id")}", $"decline:{quote.Str("id")}"], quoteCard.GetProperty("actions").EnumerateArray().Select(a => a.GetProperty("id").GetString()));
        // The customer's socket got the cards live, in order, the quote's once and with its actions.
        var live = new List<JsonElement>();
        while (live.Count == 0 || live[^1].GetProperty("fields")[0].GetProperty("value").GetString() != "待您确认报价")
            live.Add((await customerSocket.NextAsync(f => f.GetProperty("type").GetString() == "message" && f.GetProperty("message").GetProperty("kind").GetString() == "card"))
                .GetProperty("message").GetProperty("body"));
        Assert.Equal(["已受理", "检测中", "待您确认报价"], live.Select(c => c.GetProperty("fields")[0].GetProperty("value").GetString()));
        Assert.Equal(2, live[^1].GetProperty("actions").GetArrayLength());

        // Only the item's own customer acts, and a double tap does one thing.
        var stranger = await app.VisitorAsync("demo-digital");
        Assert.Equal((404, "not_found"), await StatusAsync(stranger.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = $"approve:{quote.Str("id")}" })));
        Assert.Equal((403, "forbidden"), await StatusAsync(agent.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = $"approve:{quote.Str("id")}" })));
        var taps = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = $"approve:{quote.Str("id")}" })));
        Assert.All(taps, t => Assert.Equal(200, t.Status));
        // The assignee follows the item: the customer's decision reaches the technician's socket at once.
        var decided = await techSocket.NextAsync(f => f.GetProperty("type").GetString() == "work_item" && f.GetProperty("event").GetProperty("kind").GetString() == "customer_action");
        Assert.Equal(("repairing", "customer"), (decided.GetProperty("work_item").GetProperty("state").GetString(), decided.GetProperty("event").GetProperty("actor").GetProperty("kind").GetString()));
        var approved = await customer.GetJsonAsync($"/v1/work-items/{id}");
        Assert.Equal(("repairing", "维修中"), (approved.Str("state"), approved.Str("customer_state_label")));
        Assert.Equal("approved", approved.Json.GetProperty("requests")[0].GetProperty("status").GetString());
        Assert.False(approved.Json.TryGetProperty("transitions", out _)); // staff moves are not the customer's business

        await CardAsync(customer, conversationId, id, "维修中");
        Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "ready_for_pickup" })).Status);
        await CardAsync(customer, conversationId, id, "待取件");
        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = "confirm_pickup" })).Status);
        var done = await agent.GetJsonAsync($"/v1/work-items/{id}");
        Assert.True(done.Json.GetProperty("terminal").GetBoolean());
        Assert.Equal((409, "conflict"), await StatusAsync(customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = "accept" })));

        var timeline = (await agent.GetJsonAsync($"/v1/work-items/{id}/timeline")).Json.EnumerateArray().ToList();
        Assert.Equal(["created", "state_changed", "state_changed", "request_created", "customer_action", "state_changed", "customer_action"],
            timeline.Select(e => e.GetProperty("kind").GetString()));
        Assert.Equal(Enumerable.Range(1, timeline.Count).Select(i => (long)i), timeline.Select(e => e.GetProperty("seq").GetInt64()));
        Assert.Equal("customer", timeline[4].GetProperty("actor").GetProperty("kind").GetString());

        // The answer to the approval is in the chat, once, and so is each state's card.
        var history = await Messages(customer, conversationId);
        Assert.Single(history, m => m.GetProperty("kind").GetString() == "system" && m.GetProperty("body").GetProperty("text").GetString()!.StartsWith("已同意「更换原装屏幕 ¥899」"));
        await CardAsync(customer, conversationId, id, "已完成");
        Assert.Equal(["已受理", "检测中", "待您确认报价", "维修中", "待取件", "已完成"],
            (await CardsAsync(customer, conversationId, id)).Select(c => c.GetProperty("fields")[0].GetProperty("value").GetString()));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_order_address_changes_before_shipping_notifies_followers_and_is_refused_after(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        app.Clock.AdvanceToLocal(Morning);
        var (customer, _) = await CustomerAsync(app, "C1002", "demo-bags");
        var agent = await app.LoginAsync("agent.bags@demo.local");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
        var store = await StoreIdAsync(agent, "demo-bags");
        await using var agentSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));

        var created = await agent.PostJsonAsync("/v1/work-items", new
        {
            store_id = store, kind = "order", customer_id = customerId, title = "商务双肩包 × 20",
            fields = new { address = "上海市黄浦区南京东路 1 号" }, external_ref = new { system = "erp", id = "SO-20261122-0001" },
        });
        Assert.Equal(201, created.Status);
        var id = created.Str("id");
        Assert.Equal("unpaid", created.Str("state"));
        Assert.Equal((409, "conflict"), await StatusAsync(agent.PostJsonAsync("/v1/work-items", new
        {
            store_id = store, kind = "order", customer_id = customerId, title = "again", external_ref = new { system = "erp", id = "SO-20261122-0001" },
        })));
        agentSocket.Drain();

        Assert.Equal(400, (await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = "change_address" })).Status);
        var changed = await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = "change_address", address = "上海市徐汇区漕溪北路 2 号" });
        Assert.Equal(200, changed.Status);
        Assert.Equal("上海市徐汇区漕溪北路 2 号", changed.Json.GetProperty("fields").GetProperty("address").GetString());
        // The agent who created the order follows it and hears at once.
        var pushed = await agentSocket.NextAsync(f => f.GetProperty("type").GetString() == "work_item"
            && f.GetProperty("event").GetProperty("kind").GetString() == "customer_action");
        Assert.Equal("上海市徐汇区漕溪北路 2 号", pushed.GetProperty("event").GetProperty("data").GetProperty("address").GetString());

        foreach (var to in new[] { "paid", "picking", "shipped" })
            Assert.Equal(200, (await agent.PostJsonAsync($"/v1/work-items/{id}/transition", new { to })).Status);
        var refused = await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = "change_address", address = "北京市" });
        Assert.Equal((409, "conflict"), (refused.Status, refused.Code));
        Assert.Contains("已发货", refused.Json.GetProperty("title").GetString());
        Assert.Equal("上海市徐汇区漕溪北路 2 号", (await agent.GetJsonAsync($"/v1/work-items/{id}")).Json.GetProperty("fields").GetProperty("address").GetString());

        // Another organization's staff and customers cannot see it.
        var franchise = await app.LoginAsync("agent@franchise.demo.local");
        Assert.Equal(404, (await franchise.GetJsonAsync($"/v1/work-items/{id}")).Status);
        Assert.Empty((await franchise.GetJsonAsync("/v1/work-items")).Json.EnumerateArray());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_care_job_gets_extra_work_approved_rework_and_pickup(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        app.Clock.AdvanceToLocal(Morning);
        var (customer, conversationId) = await CustomerAsync(app, "C1003", "demo-shoes");
        var agent = await app.LoginAsync("agent.shoes@demo.local");
        var tech = await app.LoginAsync("tech.shoes@demo.local");
        var store = await StoreIdAsync(agent, "demo-shoes");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
        await using var techSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(tech));

        var created = await agent.PostJsonAsync("/v1/work-items", new { store_id = store, kind = "care_job", customer_id = customerId, description = "真皮皮鞋鞋面有划痕，需要深度护理" });
        Assert.True(created.Status == 201, created.ToString());
        var id = created.Str("id");
        Assert.Equal(("leather", "鞋履养护师傅"), (created.Str("category"), created.Str("assignee_name")));
        Assert.Equal(conversationId, created.Str("conversation_id"));

        await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "deep_cleaning" });
        var photo = (await AttachmentTests.UploadAsync(tech, AttachmentTests.Png, "鞋面.png", "image/png")).Str("id");
        var extra = await tech.PostJsonAsync($"/v1/work-items/{id}/requests", new { title = "追加防水处理", price = "30", attachment_ids = new[] { photo } });
        Assert.Equal(201, extra.Status);
        var card = await CardAsync(customer, conversationId, id, "深度清洁中", c => c.GetProperty("actions").GetArrayLength() > 0);
        Assert.Contains(card.GetProperty("fields").EnumerateArray(), f => f.GetProperty("value").GetString() == "追加防水处理 ¥30");
        // The technician's photo reached the chat, and the customer may open it.
        var photoMessage = (await Messages(customer, conversationId)).Single(m => m.GetProperty("kind").GetString() == "image");
        Assert.Equal("staff", photoMessage.GetProperty("sender").GetProperty("kind").GetString());
        Assert.Equal(System.Net.HttpStatusCode.OK, (await customer.GetAsync($"/v1/attachments/{photo}")).StatusCode);

        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = $"approve:{extra.Str("id")}", action_id = "tap-1" })).Status);
        var afterApproval = await tech.GetJsonAsync($"/v1/work-items/{id}");
        Assert.Equal(("deep_cleaning", "approved"), (afterApproval.Str("state"), afterApproval.Json.GetProperty("requests")[0].GetProperty("status").GetString()));
        Assert.Equal((409, "conflict"), await StatusAsync(customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = $"decline:{extra.Str("id")}" })));

        foreach (var to in new[] { "conditioning", "ready_for_pickup" })
            Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to })).Status);
        var noNote = await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = "rework" });
        Assert.Equal((400, "invalid_request"), (noNote.Status, noNote.Code));
        var rework = await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = "rework", note = "鞋头还有一块污渍" });
        Assert.Equal(("deep_cleaning", 200), (rework.Str("state"), rework.Status));
        // The technician, assigned by the category's rule, hears of the rework on the socket at once, note and all.
        var pushed = await techSocket.NextAsync(f => f.GetProperty("type").GetString() == "work_item"
            && f.GetProperty("event").GetProperty("kind").GetString() == "customer_action" && f.GetProperty("event").GetProperty("data").GetProperty("action").GetString() == "rework");
        Assert.Equal(("deep_cleaning", "鞋头还有一块污渍"),
            (pushed.GetProperty("work_item").GetProperty("state").GetString(), pushed.GetProperty("event").GetProperty("data").GetProperty("note").GetString()));

        foreach (var to in new[] { "conditioning", "ready_for_pickup" })
            await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to });
        Assert.Equal("ready_for_pickup", (await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = "accept" })).Str("state"));
        Assert.Equal("picked_up", (await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = "confirm_pickup" })).Str("state"));
        var actions = (await tech.GetJsonAsync($"/v1/work-items/{id}/timeline")).Json.EnumerateArray()
            .Where(e => e.GetProperty("kind").GetString() == "customer_action").Select(e => e.GetProperty("data").GetProperty("action").GetString());
        Assert.Equal([$"approve:{extra.Str("id")}", "rework", "accept", "confirm_pickup"], actions);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task During_quiet_hours_cards_wait_for_the_morning_merged_into_one_and_urgent_ones_go_at_once(string db)
    {
        var database = await TestDatabases.CreateAsync(db);
        string id, conversationId;
        DateTimeOffset night;
        await using (var evening = new StoreLinkApp(database, keepDatabase: true))
        {
            evening.Start();
            evening.Clock.AdvanceToLocal(new TimeOnly(20, 0));
            var (customer, conversation) = await CustomerAsync(evening, "C1001", "demo-digital");
            conversationId = conversation;
            var agent = await evening.LoginAsync("agent.digital@demo.local");
            var tech = await evening.LoginAsync("tech.digital@demo.local");
            var store = await StoreIdAsync(agent, "demo-digital");
            var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
            evening.Clock.AdvanceToLocal(new TimeOnly(22, 0)); // quiet hours of the demo stores: 21:00–08:30
            night = evening.Clock.GetUtcNow();

            id = (await agent.PostJsonAsync("/v1/work-items", new { store_id = store, kind = "ticket", customer_id = customerId, title = "电池鼓包" })).Str("id");
            await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "inspecting" });
            await evening.Services.GetRequiredService<Notifier>().DeliverDueAsync(default);
            Assert.Empty(await CardsAsync(customer, conversationId, id));
        }

        // The server restarts overnight; in the morning the two changes arrive as one card with the latest state.
        await using var morning = new StoreLinkApp(database);
        morning.Start();
        morning.Clock.Advance(night - morning.Clock.GetUtcNow());
        morning.Clock.AdvanceToLocal(new TimeOnly(8, 31));
        var notifier = morning.Services.GetRequiredService<Notifier>();
        await notifier.DeliverDueAsync(default);
        await notifier.DeliverDueAsync(default);
        var customerAgain = (await CustomerAsync(morning, "C1001", "demo-digital")).Customer;
        var cards = await CardsAsync(customerAgain, conversationId, id);
        Assert.Equal("检测中", Assert.Single(cards).GetProperty("fields")[0].GetProperty("value").GetString());

        // That night an urgent change (a quote to approve) goes out at once.
        morning.Clock.AdvanceToLocal(new TimeOnly(23, 0));
        var tech2 = await morning.LoginAsync("tech.digital@demo.local");
        Assert.Equal(200, (await tech2.PostJsonAsync($"/v1/work-items/{id}/transition",
            new { to = "awaiting_approval", request = new { title = "更换电池", price = "299" } })).Status);
        await CardAsync(customerAgain, conversationId, id, "待您确认报价", c => c.GetProperty("actions").GetArrayLength() == 2);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_unpaid_order_reminds_the_customer_once_and_not_after_payment(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(Morning);
        var (customer, conversationId) = await CustomerAsync(app, "C1002", "demo-bags");
        var agent = await app.LoginAsync("agent.bags@demo.local");
        var store = await StoreIdAsync(agent, "demo-bags");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
        var notifier = app.Services.GetRequiredService<Notifier>();
        var unpaid = (await agent.PostJsonAsync("/v1/work-items", new { store_id = store, kind = "order", customer_id = customerId, title = "旅行箱 × 2" }));
        var paidSoon = (await agent.PostJsonAsync("/v1/work-items", new { store_id = store, kind = "order", customer_id = customerId, title = "钱包 × 5" })).Str("id");
        await agent.PostJsonAsync($"/v1/work-items/{paidSoon}/transition", new { to = "paid" });

        app.Clock.Advance(TimeSpan.FromMinutes(29));
        await notifier.DeliverDueAsync(default);
        Assert.Empty(Reminders(await Messages(customer, conversationId)));
        app.Clock.Advance(TimeSpan.FromMinutes(2));
        await notifier.DeliverDueAsync(default);
        await notifier.DeliverDueAsync(default);
        var reminder = Assert.Single(Reminders(await Messages(customer, conversationId)));
        Assert.Contains(unpaid.Str("number"), reminder);

        static IEnumerable<string> Reminders(IEnumerable<JsonElement> messages) => messages
            .Where(m => m.GetProperty("kind").GetString() == "system").Select(m => m.GetProperty("body").GetProperty("text").GetString()!)
            .Where(t => t.Contains("还未支付"));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_unpaid_order_from_the_store_system_is_reminded_by_the_number_on_the_customers_receipt(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(Morning);
        var (customer, conversationId) = await CustomerAsync(app, "C1002", "demo-bags");
        var agent = await app.LoginAsync("agent.bags@demo.local");
        var created = await agent.PostJsonAsync("/v1/work-items", new
        {
            store_id = await StoreIdAsync(agent, "demo-bags"), kind = "order", customer_id = (await customer.GetJsonAsync("/v1/me")).Str("id"),
            title = "旅行箱 × 2", external_ref = new { system = "erp", id = "SO-20261207-0042" },
        });
        Assert.Equal(201, created.Status);
        // The card already names the order by the system's number; the reminder says the same number.
        Assert.Equal("箱包订单 SO-20261207-0042", (await CardAsync(customer, conversationId, created.Str("id"), "待支付")).GetProperty("title").GetString());

        app.Clock.Advance(TimeSpan.FromMinutes(31));
        await app.Services.GetRequiredService<Notifier>().DeliverDueAsync(default);
        var reminder = Assert.Single((await Messages(customer, conversationId)).Where(m => m.GetProperty("kind").GetString() == "system")
            .Select(m => m.GetProperty("body").GetProperty("text").GetString()!), t => t.Contains("还未支付"));
        Assert.Equal("您的订单 SO-20261207-0042 还未支付，请尽快完成支付，以免影响发货。", reminder);
        Assert.DoesNotContain(created.Str("number"), reminder);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_changed_template_is_a_new_version_and_items_in_flight_keep_theirs_until_migrated(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(Morning);
        var admin = await app.LoginAsync("admin@demo.local");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var (customer, _) = await CustomerAsync(app, "C1001", "demo-digital");
        var store = await StoreIdAsync(agent, "demo-digital");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");

        var templates = (await agent.GetJsonAsync("/v1/workflow-templates")).Json.EnumerateArray().ToList();
        Assert.Equal(["数码售后工单", "箱包订单", "鞋履养护"], templates.Select(t => t.GetProperty("name").GetString()).Order());
        var copy = await admin.PostJsonAsync("/v1/workflow-templates", new { preset = "electronics_repair", name = "数码售后（门店版）", is_default = true });
        Assert.Equal(201, copy.Status);
        Assert.Equal((403, "forbidden"), await StatusAsync(agent.PostJsonAsync("/v1/workflow-templates", new { preset = "shoe_care" })));
        var templateId = copy.Str("id");
        var inFlight = (await agent.PostJsonAsync("/v1/work-items", new { store_id = store, kind = "ticket", customer_id = customerId, title = "开不了机" })).Str("id");

        var definition = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(copy.Json.GetProperty("definition").GetRawText())!;
        var states = definition["states"].EnumerateArray().Select(s => JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(s.GetRawText())!).ToList();
        states.RemoveAll(s => s["key"].GetString() == "received");
        states.Insert(0, new Dictionary<string, JsonElement>
        {
            ["key"] = JsonSerializer.SerializeToElement("registered"), ["label"] = JsonSerializer.SerializeToElement("已登记"),
            ["customer_label"] = JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["zh-CN"] = "已登记", ["en"] = "Registered" }),
        });
        definition["states"] = JsonSerializer.SerializeToElement(states);
        definition["initial"] = JsonSerializer.SerializeToElement("registered");
        definition["transitions"] = JsonSerializer.SerializeToElement(new[]
        {
            new { from = "registered", to = "inspecting", roles = new[] { "technician", "agent" } },
            new { from = "*", to = "cancelled", roles = new[] { "agent", "manager" } },
        });
        var broken = new Dictionary<string, JsonElement>(definition) { ["initial"] = JsonSerializer.SerializeToElement("nowhere") };
        var invalid = await admin.PutJsonAsync($"/v1/workflow-templates/{templateId}", new { definition = broken });
        Assert.Equal((400, "invalid_request"), (invalid.Status, invalid.Code));
        Assert.True(invalid.Json.GetProperty("errors").TryGetProperty("initial", out _));

        var v2 = await admin.PutJsonAsync($"/v1/workflow-templates/{templateId}", new { definition });
        Assert.Equal((200, 2), (v2.Status, v2.Json.GetProperty("version").GetInt32()));
        var item = await agent.GetJsonAsync($"/v1/work-items/{inFlight}");
        Assert.Equal((1, "received"), (item.Json.GetProperty("template_version").GetInt32(), item.Str("state")));
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/work-items/{inFlight}/transition", new { to = "inspecting" })).Status);
        var fresh = await agent.PostJsonAsync("/v1/work-items", new { store_id = store, kind = "ticket", customer_id = customerId, title = "听筒没声音" });
        Assert.Equal((2, "registered"), (fresh.Json.GetProperty("template_version").GetInt32(), fresh.Str("state")));
        Assert.Equal("received", (await agent.GetJsonAsync($"/v1/workflow-templates/{templateId}?version=1")).Json.GetProperty("definition").GetProperty("initial").GetString());

        // Migrating explicitly: only to a version that has the item's state, and only by a manager.
        Assert.Equal((403, "forbidden"), await StatusAsync(agent.PostJsonAsync($"/v1/work-items/{inFlight}/migrate", new { version = 2 })));
        var migrated = await manager.PostJsonAsync($"/v1/work-items/{inFlight}/migrate", new { version = 2 });
        Assert.Equal((200, 2), (migrated.Status, migrated.Json.GetProperty("template_version").GetInt32()));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Low_stock_alerts_reach_the_store_staff_group_once_per_alert_id(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var agent = await app.LoginAsync("agent.bags@demo.local");
        var store = await StoreIdAsync(agent, "demo-bags");
        await using var socket = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));
        var alert = new { sku = "BP-001", name = "商务双肩包", quantity = 3, threshold = 10, alert_id = "erp-77" };
        var first = await agent.PostJsonAsync($"/v1/stores/{store}/stock-alerts", alert);
        Assert.Equal(200, first.Status);
        Assert.Equal("库存预警：商务双肩包（BP-001）剩余 3 件，低于预警线 10 件，请及时补货。", first.Json.GetProperty("body").GetProperty("text").GetString());
        var pushed = await socket.NextAsync(f => f.GetProperty("type").GetString() == "message");
        Assert.Equal(first.Str("conversation_id"), pushed.GetProperty("message").GetProperty("conversation_id").GetString());
        Assert.Equal(first.Str("id"), (await agent.PostJsonAsync($"/v1/stores/{store}/stock-alerts", alert)).Str("id"));

        var group = await agent.GetJsonAsync($"/v1/conversations/{first.Str("conversation_id")}");
        Assert.Equal(("group", "库存预警 · 箱包批发店"), (group.Str("kind"), group.Str("name")));
        Assert.Single((await agent.GetJsonAsync($"/v1/conversations/{group.Str("id")}/messages")).Json.EnumerateArray());
        Assert.Equal(404, (await (await app.LoginAsync("agent.shoes@demo.local")).GetJsonAsync($"/v1/conversations/{group.Str("id")}")).Status);
        Assert.Equal(400, (await agent.PostJsonAsync($"/v1/stores/{store}/stock-alerts", new { sku = "x" })).Status);
        Assert.Equal(404, (await (await app.VisitorAsync("demo-bags")).PostJsonAsync($"/v1/stores/{store}/stock-alerts", alert)).Status); // customers do not see stores by id
    }

    internal static async Task<(HttpClient Customer, string ConversationId)> CustomerAsync(StoreLinkApp app, string sub, string storeKey)
    {
        var token = Jwt.Sign(new { sub, exp = TestClock.Now.AddYears(1).ToUnixTimeSeconds() }, DemoSeed.RetailIdentitySecret);
        var auth = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = storeKey, identity_token = token });
        Assert.Equal(200, auth.Status);
        var customer = app.WithToken(auth.Json.GetProperty("access_token").GetString()!);
        var opened = await customer.PostJsonAsync("/v1/conversations", new { store_key = storeKey });
        return (customer, opened.Str("id"));
    }

    internal static async Task<string> StoreIdAsync(HttpClient staff, string key) =>
        (await staff.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == key).GetProperty("id").GetString()!;

    internal static async Task<List<JsonElement>> Messages(HttpClient client, string conversationId) =>
        (await client.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray().ToList();

    internal static async Task<List<JsonElement>> CardsAsync(HttpClient customer, string conversationId, string workItemId) =>
        (await Messages(customer, conversationId)).Where(m => m.GetProperty("kind").GetString() == "card"
            && m.GetProperty("body").GetProperty("ref").GetProperty("id").GetString() == workItemId).Select(m => m.GetProperty("body")).ToList();

    /// <summary>Waits (the notifier delivers after the change commits) for a card of the item showing the customer-facing state.</summary>
    internal static async Task<JsonElement> CardAsync(HttpClient customer, string conversationId, string workItemId, string state, Func<JsonElement, bool>? also = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var match = (await CardsAsync(customer, conversationId, workItemId)).LastOrDefault(c => c.GetProperty("fields")[0].GetProperty("value").GetString() == state && (also?.Invoke(c) ?? true));
            if (match.ValueKind == JsonValueKind.Object)
                return match;
            Assert.True(DateTime.UtcNow < deadline, $"No card showing {state}.");
            await Task.Delay(50);
        }
    }

    internal static async Task<(int, string?)> StatusAsync(Task<ApiResponse> call)
    {
        var response = await call;
        return (response.Status, response.Code);
    }
}
