using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StoreLink.Server.Accounts;
using StoreLink.Server.Workflows;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary>
/// Inbound hooks of a connector: what a store's system posts, signed; refusals with their codes, all logged; events
/// applied in their own order whatever the order (and the number of copies) they arrive in.
/// </summary>
public sealed class ConnectorHookTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task An_order_from_the_system_reaches_the_customer_as_cards_through_quiet_hours_and_fires_the_webhooks(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, WebhookTests.Settings());
        app.Clock.AdvanceToLocal(new TimeOnly(10, 0));
        await using var receiver = await WebhookReceiver.StartAsync();
        var admin = await app.LoginAsync("admin@demo.local");
        await WebhookTests.SubscribeAsync(admin, receiver, ["work_item.created", "work_item.state_changed"]);
        // An integration's key reads: staff tokens would expire overnight.
        var erp = app.WithToken((await admin.PostJsonAsync("/v1/api-clients",
            new { name = "reader", permissions = new[] { "work_items:read", "customers:read", "connectors:manage" } })).Str("key"));
        var (connector, secret) = await Hooks.ConnectorAsync(admin);
        // The customer chats with the store already, signed in with the id the order system knows them by.
        var (chat, conversationId) = await WebhookTests.WorkflowsCustomerAsync(app, "C-88", "demo-bags");

        var created = await Hooks.SendAsync(app, connector, secret, Hooks.Event("ext-1", "order.upserted",
            Hooks.Order("SO-1001", "UNPAID", fields: new { receiver_address = "上海市徐汇区漕溪北路 1 号", gift_wrap = true }), version: 1));
        Assert.Equal(200, created.Status);
        Assert.Equal("applied", created.Str("result"));
        var id = created.Str("work_item_id");
        var item = await erp.GetJsonAsync($"/v1/work-items/{id}");
        Assert.Equal(("unpaid", "托特包 ×1", "order"), (item.Str("state"), item.Str("title"), item.Str("kind")));
        Assert.Equal(("erp", "SO-1001"), (item.Json.GetProperty("external_ref").GetProperty("system").GetString(), item.Json.GetProperty("external_ref").GetProperty("id").GetString()));
        // Mapped fields under StoreLink's names, unmapped ones under their own.
        Assert.Equal("上海市徐汇区漕溪北路 1 号", item.Json.GetProperty("fields").GetProperty("address").GetString());
        Assert.True(item.Json.GetProperty("fields").GetProperty("gift_wrap").GetBoolean());
        Assert.Equal(await ConnectorTests.StoreIdAsync(admin, "demo-bags"), item.Str("store_id"));
        // The customer, found by the system's id (and given the name it knows), and the order in their chat.
        var customer = await erp.GetJsonAsync($"/v1/customers/{item.Str("customer_id")}");
        Assert.Equal(("C-88", "陈女士"), (customer.Str("external_id"), customer.Str("name")));
        Assert.Equal(item.Str("customer_id"), (await chat.GetJsonAsync("/v1/me")).Str("id"));
        Assert.Equal(conversationId, item.Str("conversation_id"));
        // The card names the order by the number the customer knows from the store's system.
        Assert.Equal("箱包订单 SO-1001", (await CardAsync(chat, conversationId, id, "待支付")).GetProperty("title").GetString());

        // Paid: the card follows and the webhook fires, as for a staff move.
        Assert.Equal("applied", (await Hooks.SendAsync(app, connector, secret, Hooks.Event("ext-2", "order.upserted", Hooks.Order("SO-1001", "PAID"), version: 2))).Str("result"));
        await CardAsync(chat, conversationId, id, "已支付，等待配货");
        await receiver.WaitForAsync(r => r.Accepted.Any(h => h.Type == "work_item.state_changed"));
        var moved = receiver.Accepted.Single(h => h.Type == "work_item.state_changed").Json.GetProperty("data");
        Assert.Equal(("unpaid", "paid"), (moved.GetProperty("from").GetString(), moved.GetProperty("to").GetString()));
        Assert.Contains(receiver.Accepted, h => h.Type == "work_item.created");
        var timeline = (await erp.GetJsonAsync($"/v1/work-items/{id}/timeline")).Json.EnumerateArray().ToList();
        Assert.Equal(["created", "state_changed"], timeline.Select(e => e.GetProperty("kind").GetString()));
        Assert.Equal("订单系统", timeline[1].GetProperty("actor").GetProperty("name").GetString());

        // At night the system ships it: the card waits for the end of quiet hours (21:00–08:30), then shows the latest state.
        app.Clock.AdvanceToLocal(new TimeOnly(22, 0));
        var notifier = app.Services.GetRequiredService<Notifier>();
        Assert.Equal("applied", (await Hooks.SendAsync(app, connector, secret, Hooks.Event("ext-3", "order.upserted",
            Hooks.Order("SO-1001", "SHIPPED", fields: new { tracking_no = "SF123" }), version: 3))).Str("result"));
        await notifier.DeliverDueAsync(default);
        Assert.DoesNotContain(await CardsAsync(chat, conversationId, id), c => State(c) == "已发货");
        Assert.Equal("SF123", (await erp.GetJsonAsync($"/v1/work-items/{id}")).Json.GetProperty("fields").GetProperty("tracking_no").GetString());
        app.Clock.AdvanceToLocal(new TimeOnly(8, 31));
        await notifier.DeliverDueAsync(default);
        await CardAsync(chat, conversationId, id, "已发货");

        var log = (await erp.GetJsonAsync($"/v1/connectors/{connector}/events")).Json.EnumerateArray().ToList();
        Assert.Equal(["ext-3", "ext-2", "ext-1"], log.Select(e => e.GetProperty("event_id").GetString()));
        Assert.All(log, e => Assert.Equal(("applied", "hook", id), (e.GetProperty("status").GetString(), e.GetProperty("source").GetString(),
            e.GetProperty("result").GetProperty("work_item_id").GetString())));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Unsigned_forged_stale_replayed_and_malformed_requests_are_refused_with_their_codes_and_every_one_is_logged(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?> { ["Connectors:MaxEventBytes"] = "4096" });
        var admin = await app.LoginAsync("admin@demo.local");
        var (connector, secret) = await Hooks.ConnectorAsync(admin);
        var (other, otherSecret) = await Hooks.ConnectorAsync(admin, key: "crm");
        var order = Hooks.Event("ev-1", "order.upserted", Hooks.Order("SO-2001", "PAID"), version: 1);

        Assert.Equal((401, "invalid_signature"), Result(await Hooks.SendAsync(app, connector, secret, order, sign: false)));
        Assert.Equal((401, "invalid_signature"), Result(await Hooks.SendAsync(app, connector, otherSecret, order)));
        Assert.Equal((401, "invalid_signature"), Result(await Hooks.SendAsync(app, connector, secret, order, signature: "v1,AAAA")));
        var signedForOther = Hooks.Sign(secret, "ev-1", app.Clock.GetUtcNow().ToUnixTimeSeconds(), JsonSerializer.Serialize(order));
        Assert.Equal((401, "invalid_signature"), Result(await Hooks.SendAsync(app, connector, secret,
            JsonSerializer.Serialize(order).Replace("PAID", "SHIPPED"), id: "ev-1", signature: signedForOther))); // the body was changed
        // An unknown connector answers as a wrong signature: nothing tells whether it exists.
        Assert.Equal((401, "invalid_signature"), Result(await Hooks.SendAsync(app, "con_nosuchconnector", secret, order)));
        Assert.Equal((401, "invalid_signature"), Result(await Hooks.SendAsync(app, new string('x', 300), secret, order)));
        Assert.Equal((401, "stale_timestamp"), Result(await Hooks.SendAsync(app, connector, secret, order, skew: TimeSpan.FromMinutes(-6))));
        Assert.Equal((401, "stale_timestamp"), Result(await Hooks.SendAsync(app, connector, secret, order, skew: TimeSpan.FromMinutes(6))));
        // Within 5 minutes it is fine; the same id again is a replay, applied once.
        Assert.Equal(200, (await Hooks.SendAsync(app, connector, secret, order, skew: TimeSpan.FromMinutes(4))).Status);
        Assert.Equal((409, "replayed"), Result(await Hooks.SendAsync(app, connector, secret, order)));
        Assert.Equal((409, "replayed"), Result(await Hooks.SendAsync(app, connector, secret, Hooks.Event("ev-1", "order.upserted", Hooks.Order("SO-2001", "SHIPPED"), version: 2))));
        // The same id is another event at another connector.
        Assert.Equal(200, (await Hooks.SendAsync(app, other, otherSecret, order)).Status);

        // Malformed bodies and wrong types are 400; what cannot be applied is 422; too large 413; none of them a 500.
        Assert.Equal((400, "invalid_request"), Result(await Hooks.SendAsync(app, connector, secret, "{\"id\":\"ev-x\",", id: "ev-x")));
        Assert.Equal((400, "invalid_request"), Result(await Hooks.SendAsync(app, connector, secret, "[1,2]", id: "ev-x")));
        Assert.Equal((400, "invalid_request"), Result(await Hooks.SendAsync(app, connector, secret, """{"id":"ev-x","type":"order.upserted","version":"7","data":{}}""", id: "ev-x")));
        Assert.Equal((400, "invalid_request"), Result(await Hooks.SendAsync(app, connector, secret, """{"id":"ev-y","type":"order.upserted","version":7,"data":{}}""", id: "ev-x")));
        Assert.Equal((400, "invalid_request"), Result(await Hooks.SendAsync(app, connector, secret, """{"id":"ev-x","type":"order.upserted","data":{"external_id":"A"}}""", id: "ev-x")));
        Assert.Equal((400, "invalid_request"), Result(await Hooks.SendAsync(app, connector, secret, """{"id":"ev-x","type":"order.upserted","version":1,"data":{"external_id":5}}""", id: "ev-x")));
        Assert.Equal((400, "invalid_request"), Result(await Hooks.SendAsync(app, connector, secret, """{"id":"ev-x","type":"order.upserted","version":1,"data":{"external_id":"\ud800"}}""", id: "ev-x")));
        Assert.Equal((422, "unprocessable"), Result(await Hooks.SendAsync(app, connector, secret, Hooks.Event("ev-x", "invoice.paid", new { external_id = "A" }, version: 1))));
        Assert.Equal((422, "unprocessable"), Result(await Hooks.SendAsync(app, connector, secret, Hooks.Event("ev-x", "ticket.upserted", Hooks.Order("A", "PAID"), version: 1))));
        Assert.Equal((422, "unprocessable"), Result(await Hooks.SendAsync(app, connector, secret, Hooks.Event("ev-x", "order.upserted", Hooks.Order("A", "LOST"), version: 1))));
        Assert.Equal((422, "unprocessable"), Result(await Hooks.SendAsync(app, connector, secret, Hooks.Event("ev-x", "order.upserted", Hooks.Order("A", "PAID", customer: null), version: 1))));
        Assert.Equal((422, "unprocessable"), Result(await Hooks.SendAsync(app, connector, secret, Hooks.Event("ev-x", "order.upserted",
            new { external_id = "A", status = "PAID", store_key = "demo-franchise", customer = new { external_id = "C-1" } }, version: 1)))); // another organization's store
        Assert.Equal((413, "too_large"), Result(await Hooks.SendAsync(app, connector, secret, Hooks.Event("ev-x", "order.upserted",
            Hooks.Order("A", "PAID", title: new string('包', 3000)), version: 1))));
        // A refused event does not hold its id: corrected, it is applied.
        var fixedEvent = await Hooks.SendAsync(app, connector, secret, Hooks.Event("ev-x", "order.upserted", Hooks.Order("A", "PAID"), version: 1));
        Assert.Equal(("applied", 200), (fixedEvent.Str("result"), fixedEvent.Status));

        // An inactive connector, and one whose secret was rotated, refuse what was fine before.
        Assert.Equal(200, (await admin.PatchJsonAsync($"/v1/connectors/{other}", new { active = false })).Status);
        Assert.Equal((401, "invalid_signature"), Result(await Hooks.SendAsync(app, other, otherSecret, Hooks.Event("ev-2", "order.upserted", Hooks.Order("SO-2002", "PAID"), version: 1))));
        var rotated = (await admin.PostJsonAsync($"/v1/connectors/{connector}/secret/rotate")).Str("secret");
        var next = Hooks.Event("ev-3", "order.upserted", Hooks.Order("SO-2001", "SHIPPED"), version: 2);
        Assert.Equal((401, "invalid_signature"), Result(await Hooks.SendAsync(app, connector, secret, next)));
        Assert.Equal(200, (await Hooks.SendAsync(app, connector, rotated, next)).Status);

        var log = (await admin.GetJsonAsync($"/v1/connectors/{connector}/events?limit=100")).Json.EnumerateArray().ToList();
        var refused = log.Where(e => e.GetProperty("status").GetString() == "refused").ToList();
        Assert.Equal(5, refused.Count(e => e.GetProperty("http_status").GetInt32() == 401 && e.GetProperty("reason").GetString()!.Contains("signature")));
        Assert.Equal(2, refused.Count(e => e.GetProperty("http_status").GetInt32() == 401 && e.GetProperty("reason").GetString()!.Contains("5 minutes")));
        Assert.Equal(7, refused.Count(e => e.GetProperty("http_status").GetInt32() == 400));
        Assert.Equal(5, refused.Count(e => e.GetProperty("http_status").GetInt32() == 422));
        Assert.Single(refused, e => e.GetProperty("http_status").GetInt32() == 413);
        Assert.Contains(refused, e => e.GetProperty("reason").GetString()!.Contains("LOST"));
        Assert.Equal(2, log.Count(e => e.GetProperty("status").GetString() == "replayed"));
        Assert.Equal(3, log.Count(e => e.GetProperty("status").GetString() == "applied"));
        Assert.Equal(log.Count, (await admin.GetJsonAsync($"/v1/connectors/{connector}/events?limit=100&status=refused")).Json.GetArrayLength() + 5);
        Assert.Equal(2, (await admin.GetJsonAsync($"/v1/connectors/{other}/events")).Json.GetArrayLength()); // applied, then refused while inactive
        Assert.Equal((400, "invalid_request"), Result(await admin.GetJsonAsync($"/v1/connectors/{connector}/events?status=lost")));
        Assert.Empty(app.Log.Errors);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Events_out_of_order_and_duplicated_end_in_the_newest_state_also_when_they_arrive_at_once(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var (connector, secret) = await Hooks.ConnectorAsync(admin);
        Task<ApiResponse> Send(string id, string order, string status, long version) =>
            Hooks.SendAsync(app, connector, secret, Hooks.Event(id, "order.upserted", Hooks.Order(order, status), version: version));

        // Version 3 arrives first; 1 and 2 come late and change nothing; a copy of 3 is a replay; 4 moves it on.
        var id = (await Send("a-3", "SO-3001", "SHIPPED", 3)).Str("work_item_id");
        Assert.Equal("stale", (await Send("a-1", "SO-3001", "UNPAID", 1)).Str("result"));
        Assert.Equal("stale", (await Send("a-2", "SO-3001", "PAID", 2)).Str("result"));
        Assert.Equal("stale", (await Send("a-3b", "SO-3001", "PAID", 3)).Str("result")); // the same version is not newer
        Assert.Equal((409, "replayed"), Result(await Send("a-3", "SO-3001", "SHIPPED", 3)));
        Assert.Equal("shipped", (await admin.GetJsonAsync($"/v1/work-items/{id}")).Str("state"));
        Assert.Equal("applied", (await Send("a-4", "SO-3001", "SIGNED", 4)).Str("result"));
        Assert.Equal("received", (await admin.GetJsonAsync($"/v1/work-items/{id}")).Str("state"));
        Assert.Equal(["created", "state_changed"], (await admin.GetJsonAsync($"/v1/work-items/{id}/timeline")).Json.EnumerateArray().Select(e => e.GetProperty("kind").GetString()));
        var stale = (await admin.GetJsonAsync($"/v1/connectors/{connector}/events?status=stale")).Json.EnumerateArray().ToList();
        Assert.Equal(3, stale.Count);
        Assert.Contains("not newer than version 3", stale[^1].GetProperty("reason").GetString());

        // Without a version, occurred_at orders them.
        var t0 = app.Clock.GetUtcNow();
        Task<ApiResponse> SendAt(string eventId, string status, TimeSpan at) => Hooks.SendAsync(app, connector, secret,
            Hooks.Event(eventId, "order.upserted", Hooks.Order("SO-3002", status), occurredAt: t0 + at));
        var timed = (await SendAt("b-2", "PICKING", TimeSpan.FromMinutes(2))).Str("work_item_id");
        Assert.Equal("stale", (await SendAt("b-1", "PAID", TimeSpan.FromMinutes(1))).Str("result"));
        Assert.Equal("applied", (await SendAt("b-3", "SHIPPED", TimeSpan.FromMinutes(3))).Str("result"));
        Assert.Equal("shipped", (await admin.GetJsonAsync($"/v1/work-items/{timed}")).Str("state"));

        // Two versions of each of eight new orders at the same moment, and three copies of one event: each order ends
        // in its newer state, created once; the copies apply once.
        var pairs = Enumerable.Range(0, 8).SelectMany(i => new[] { Send($"c-{i}-1", $"SO-40{i}", "PAID", 1), Send($"c-{i}-2", $"SO-40{i}", "PICKING", 2) }).ToList();
        var copies = Enumerable.Range(0, 3).Select(_ => Send("d-1", "SO-3001", "DONE", 5)).ToList();
        var answers = await Task.WhenAll(pairs.Concat(copies));
        Assert.All(answers.Take(16), a => Assert.True(a.Status == 200, a.ToString()));
        Assert.Single(answers.Skip(16), a => a.Status == 200 && a.Str("result") == "applied");
        Assert.Equal(2, answers.Skip(16).Count(a => (a.Status, a.Code) == (409, "replayed")));
        var orders = (await admin.GetJsonAsync("/v1/work-items?kind=order&limit=500")).Json.EnumerateArray()
            .Where(w => w.TryGetProperty("external_ref", out var external) && external.GetProperty("id").GetString()!.StartsWith("SO-40")).ToList();
        Assert.Equal(8, orders.Count);
        Assert.All(orders, o => Assert.Equal("picking", o.GetProperty("state").GetString()));
        Assert.Equal("completed", (await admin.GetJsonAsync($"/v1/work-items/{id}")).Str("state"));
        Assert.Empty(app.Log.Errors);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Customer_upserts_and_stock_alerts_from_the_system_land_as_the_rest_api_would_put_them(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var (connector, secret) = await Hooks.ConnectorAsync(admin);
        var bags = await ConnectorTests.StoreIdAsync(admin, "demo-bags");

        var upserted = await Hooks.SendAsync(app, connector, secret, Hooks.Event("cu-2", "customer.upserted", new
        {
            external_id = "C-77", name = "王先生", phone = "13900139000", vip_level = 3, attributes = new { language = "en" },
            purchases = new[] { new { order_no = "SO-0901", item = "旅行箱 24 寸", amount = "699.00", currency = "CNY", purchased_at = "2026-09-01T10:00:00Z", store_id = bags } },
        }, version: 2));
        Assert.Equal("applied", upserted.Str("result"));
        var customerId = upserted.Str("customer_id");
        Assert.Equal("stale", (await Hooks.SendAsync(app, connector, secret, Hooks.Event("cu-1", "customer.upserted",
            new { external_id = "C-77", name = "旧名字", vip_level = 0 }, version: 1))).Str("result"));
        var customer = await admin.GetJsonAsync($"/v1/customers/{customerId}");
        Assert.Equal(("王先生", 3, "C-77"), (customer.Str("name"), customer.Json.GetProperty("vip_level").GetInt32(), customer.Str("external_id")));
        Assert.Equal("SO-0901", customer.Json.GetProperty("purchases")[0].GetProperty("order_no").GetString());
        Assert.Equal((400, "invalid_request"), Result(await Hooks.SendAsync(app, connector, secret, Hooks.Event("cu-3", "customer.upserted",
            new { external_id = "C-77", vip_level = 99 }, version: 3))));

        // A stock alert goes to the store's staff group, once however often it is applied.
        var alert = Hooks.Event("st-1", "stock.alerted", new { sku = "BAG-24-BLK", name = "旅行箱 24 寸 黑色", quantity = 2, threshold = 5 });
        var posted = await Hooks.SendAsync(app, connector, secret, alert);
        Assert.Equal("applied", posted.Str("result"));
        var agent = await app.LoginAsync("agent.bags@demo.local");
        var group = (await agent.GetJsonAsync("/v1/conversations")).Json.EnumerateArray().Single(c => c.TryGetProperty("name", out var name) && name.GetString() == "库存预警 · 箱包批发店");
        var messages = (await agent.GetJsonAsync($"/v1/conversations/{group.GetProperty("id").GetString()}/messages")).Json.EnumerateArray().ToList();
        Assert.Contains("旅行箱 24 寸 黑色（BAG-24-BLK）剩余 2 件", Assert.Single(messages).GetProperty("body").GetProperty("text").GetString());
        Assert.Equal(posted.Str("message_id"), messages[0].GetProperty("id").GetString());
        Assert.Equal((409, "replayed"), Result(await Hooks.SendAsync(app, connector, secret, alert)));
        Assert.Equal((422, "unprocessable"), Result(await Hooks.SendAsync(app, connector, secret,
            Hooks.Event("st-2", "stock.alerted", new { sku = "X", name = "X", quantity = 1, store_key = "nowhere" }))));
    }

    internal static (int, string?) Result(ApiResponse response) => (response.Status, response.Code);

    internal static string State(JsonElement card) => card.GetProperty("fields")[0].GetProperty("value").GetString()!;

    internal static async Task<List<JsonElement>> CardsAsync(HttpClient customer, string conversationId, string workItemId) =>
        (await customer.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray()
            .Where(m => m.GetProperty("kind").GetString() == "card" && m.GetProperty("body").GetProperty("ref").GetProperty("id").GetString() == workItemId)
            .Select(m => m.GetProperty("body")).ToList();

    /// <summary>Waits (the notifier delivers after the change commits) for a card of the item showing the customer-facing state.</summary>
    internal static async Task<JsonElement> CardAsync(HttpClient customer, string conversationId, string workItemId, string state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var match = (await CardsAsync(customer, conversationId, workItemId)).LastOrDefault(c => State(c) == state);
            if (match.ValueKind == JsonValueKind.Object)
                return match;
            Assert.True(DateTime.UtcNow < deadline, $"No card showing {state}.");
            await Task.Delay(50);
        }
    }
}
