using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StoreLink.Server.Accounts;
using StoreLink.Server.Integrations;
using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary>
/// Outbound webhooks against real receivers on loopback: every event of the catalogue, signatures checked
/// independently, filters, a flaky receiver, backoff and dead letters on the test clock, redelivery, isolation, SSRF.
/// </summary>
public sealed class WebhookTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    /// <summary>The tests' receivers are on loopback, which only an operator's setting allows.</summary>
    public static Dictionary<string, string?> Settings(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Webhooks:AllowPrivateTargets"] = "true",
            ["Webhooks:PollInterval"] = "00:00:00.200",
            ["Webhooks:Timeout"] = "00:00:01",
        };
        foreach (var (key, value) in more)
            settings[key] = value;
        return settings;
    }

    public static async Task<(string Id, string Secret)> SubscribeAsync(HttpClient admin, WebhookReceiver receiver, string[]? events = null, bool active = true)
    {
        var created = await admin.PostJsonAsync("/v1/webhooks", new { url = receiver.Url.ToString(), events, description = "ERP", active });
        Assert.Equal(201, created.Status);
        var secret = created.Str("secret");
        Assert.StartsWith("whsec_", secret);
        receiver.Secret ??= secret;
        return (created.Json.GetProperty("subscription").GetProperty("id").GetString()!, secret);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Every_event_reaches_its_subscribers_signed_with_the_object_as_the_api_shows_it_and_filters_hold(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, Settings());
        await using var everything = await WebhookReceiver.StartAsync();
        await using var states = await WebhookReceiver.StartAsync();
        await using var paused = await WebhookReceiver.StartAsync();
        var admin = await app.LoginAsync("admin@demo.local");
        var (allId, _) = await SubscribeAsync(admin, everything);
        await SubscribeAsync(admin, states, ["work_item.state_changed"]);
        await SubscribeAsync(admin, paused, active: false);
        var orgId = (await admin.GetJsonAsync("/v1/organization")).Str("id");
        var stores = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);

        // A chat: the customer writes, an agent answers (and takes it), resolves it, the customer rates it.
        var (customer, conversationId) = await WorkflowsCustomerAsync(app, "C1001", "demo-digital");
        var sent = await MessagingTests.SendAsync(customer, conversationId, "耳机没声音了");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        Assert.Equal(201, (await MessagingTests.SendAsync(agent, conversationId, "您好，我来看看")).Status);
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/conversations/{conversationId}/resolve")).Status);
        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/conversations/{conversationId}/csat", new { rating = 5, comment = "很快" })).Status);

        // An order made by an integration's key, moved on, and the customer's address change from the card.
        var key = (await admin.PostJsonAsync("/v1/api-clients", new { name = "ERP", permissions = new[] { "work_items:write", "work_items:read", "customers:read" } })).Str("key");
        var erp = app.WithToken(key);
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
        var order = await erp.PostJsonAsync("/v1/work-items", new { store_id = stores["demo-bags"], customer_id = customerId, kind = "order", title = "托特包 ×2" });
        Assert.Equal(201, order.Status);
        var orderId = order.Str("id");
        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/work-items/{orderId}/actions", new { action = "change_address", address = "上海市徐汇区漕溪北路 2 号" })).Status);
        Assert.Equal(200, (await erp.PostJsonAsync($"/v1/work-items/{orderId}/transition", new { to = "paid" })).Status);

        await everything.WaitForAsync(r => new[] { "conversation.assigned", "conversation.resolved", "csat.given", "work_item.created", "customer_action.taken", "work_item.state_changed" }
            .All(t => r.Accepted.Any(h => h.Type == t)));
        await states.WaitForAsync(r => r.Accepted.Count >= 1);
        await Task.Delay(500); // anything that should not come would have come by now

        var hooks = everything.Accepted;
        Assert.All(everything.Received, h => Assert.True(h.SignatureValid, $"bad signature on {h.Id}"));
        Assert.All(hooks, h => Assert.True(Math.Abs(h.Timestamp - DateTimeOffset.UtcNow.ToUnixTimeSeconds() - (long)TestClock.RunOffset.TotalSeconds) < 300));
        Assert.All(hooks, h =>
        {
            Assert.Equal(h.Id, h.Json.GetProperty("id").GetString()); // webhook-id is the event's id
            Assert.StartsWith("evt_", h.Id);
            Assert.Equal(orgId, h.Json.GetProperty("org_id").GetString());
            Assert.True(h.Json.TryGetProperty("created_at", out _));
        });
        Assert.Equal(hooks.Count, hooks.Select(h => h.Id).Distinct().Count());

        var messages = hooks.Where(h => h.Type == "message.created").Select(h => h.Json.GetProperty("data").GetProperty("message")).ToList();
        var first = messages.Single(m => m.GetProperty("id").GetString() == sent.Str("id"));
        Assert.Equal(JsonSerializer.Serialize(sent.Json), JsonSerializer.Serialize(first)); // exactly as the REST API answered the send
        Assert.Contains(messages, m => m.GetProperty("sender").GetProperty("kind").GetString() == "staff");
        Assert.Contains(messages, m => m.GetProperty("kind").GetString() == "card"); // the rating card
        Assert.All(hooks.Where(h => h.Type.StartsWith("conversation.") || h.Type == "csat.given"
                || h.Type == "message.created" && h.Json.GetProperty("data").GetProperty("message").GetProperty("conversation_id").GetString() == conversationId),
            h => Assert.Equal(stores["demo-digital"], h.Json.GetProperty("store_id").GetString()));

        var assigned = hooks.Single(h => h.Type == "conversation.assigned").Json.GetProperty("data").GetProperty("conversation");
        Assert.Equal((conversationId, (await agent.GetJsonAsync("/v1/me")).Str("id")), (assigned.GetProperty("id").GetString(), assigned.GetProperty("assignee_id").GetString()));
        Assert.Equal("resolved", hooks.Single(h => h.Type == "conversation.resolved").Json.GetProperty("data").GetProperty("conversation").GetProperty("state").GetString());
        var rating = hooks.Single(h => h.Type == "csat.given").Json.GetProperty("data").GetProperty("rating");
        Assert.Equal((5, "很快"), (rating.GetProperty("rating").GetInt32(), rating.GetProperty("comment").GetString()));

        var created = hooks.Single(h => h.Type == "work_item.created").Json;
        Assert.Equal((orderId, "unpaid"), (created.GetProperty("data").GetProperty("work_item").GetProperty("id").GetString(), created.GetProperty("data").GetProperty("work_item").GetProperty("state").GetString()));
        Assert.Equal(stores["demo-bags"], created.GetProperty("store_id").GetString());
        var action = hooks.Single(h => h.Type == "customer_action.taken").Json.GetProperty("data");
        Assert.Equal("change_address", action.GetProperty("action").GetProperty("action").GetString());
        Assert.Equal("上海市徐汇区漕溪北路 2 号", action.GetProperty("work_item").GetProperty("fields").GetProperty("address").GetString());
        var moved = hooks.Single(h => h.Type == "work_item.state_changed").Json.GetProperty("data");
        Assert.Equal(("unpaid", "paid", "paid"), (moved.GetProperty("from").GetString(), moved.GetProperty("to").GetString(), moved.GetProperty("work_item").GetProperty("state").GetString()));

        // Filters: the state-change subscriber got only that; the paused one nothing.
        Assert.Equal(["work_item.state_changed"], states.Accepted.Select(h => h.Type));
        Assert.Empty(paused.Received);

        // The delivery log shows each of them as succeeded, with one attempt and its status.
        var deliveries = await admin.GetJsonAsync($"/v1/webhooks/{allId}/deliveries?limit=500");
        Assert.Equal(hooks.Count, deliveries.Json.GetArrayLength());
        Assert.All(deliveries.Json.EnumerateArray(), d => Assert.Equal("succeeded", d.GetProperty("status").GetString()));
        var one = await admin.GetJsonAsync($"/v1/webhooks/{allId}/deliveries/{hooks[0].Id}");
        Assert.Equal(204, one.Json.GetProperty("attempt_log")[0].GetProperty("status_code").GetInt32());
        Assert.Equal(hooks[0].Body, JsonSerializer.Serialize(one.Json.GetProperty("payload"), new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_customer_approval_is_sent_with_the_item_as_the_approval_left_it(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, Settings());
        app.Clock.AdvanceToLocal(new TimeOnly(10, 0));
        await using var receiver = await WebhookReceiver.StartAsync();
        var admin = await app.LoginAsync("admin@demo.local");
        await SubscribeAsync(admin, receiver, ["customer_action.taken", "work_item.state_changed"]);
        // The address is stored as given, escapes kept.
        var escaped = await admin.PostJsonAsync("/v1/webhooks", new { url = receiver.Url + "/a%20b?to=x%2Fy", active = false });
        Assert.Equal((201, receiver.Url + "/a%20b?to=x%2Fy"), (escaped.Status, escaped.Json.GetProperty("subscription").GetProperty("url").GetString()));
        var (customer, conversationId) = await WorkflowsCustomerAsync(app, "C1001", "demo-digital");
        await MessagingTests.SendAsync(customer, conversationId, "屏幕碎了");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var tech = await app.LoginAsync("tech.digital@demo.local");
        var draft = await agent.GetJsonAsync($"/v1/conversations/{conversationId}/work-item-draft?kind=ticket");
        var id = (await agent.PostJsonAsync("/v1/work-items", draft.Json)).Str("id");
        Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "inspecting" })).Status);
        Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "awaiting_approval" })).Status);
        var quote = (await tech.PostJsonAsync($"/v1/work-items/{id}/requests", new { title = "更换原装屏幕", price = "899" })).Str("id");
        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = $"approve:{quote}" })).Status);

        await receiver.WaitForAsync(r => r.Accepted.Any(h => h.Type == "customer_action.taken")
            && r.Accepted.Any(h => h.Type == "work_item.state_changed" && h.Json.GetProperty("data").GetProperty("to").GetString() == "repairing"));
        var taken = receiver.Accepted.Single(h => h.Type == "customer_action.taken").Json.GetProperty("data").GetProperty("work_item");
        var moved = receiver.Accepted.Single(h => h.Type == "work_item.state_changed" && h.Json.GetProperty("data").GetProperty("to").GetString() == "repairing")
            .Json.GetProperty("data").GetProperty("work_item");
        foreach (var item in new[] { taken, moved })
        {
            Assert.Equal("repairing", item.GetProperty("state").GetString());
            Assert.Equal("approved", item.GetProperty("requests")[0].GetProperty("status").GetString());
            Assert.DoesNotContain(item.GetProperty("customer_actions").EnumerateArray(), a => a.GetProperty("id").GetString()!.StartsWith("approve:"));
        }
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_flaky_receiver_gets_every_event_exactly_once_after_deduplication(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, Settings(("Webhooks:FirstRetryDelay", "00:00:01")));
        await using var receiver = await WebhookReceiver.StartAsync();
        // Fails, times out (after processing: the answer comes too late), answers slowly but in time, succeeds.
        receiver.Behaviour = n => (n % 4) switch
        {
            1 => (500, TimeSpan.Zero),
            2 => (204, TimeSpan.FromSeconds(2)),
            3 => (200, TimeSpan.FromMilliseconds(400)),
            _ => (503, TimeSpan.Zero),
        };
        var admin = await app.LoginAsync("admin@demo.local");
        var (subscription, _) = await SubscribeAsync(admin, receiver, ["message.created"]);
        var (customer, conversationId) = await WorkflowsCustomerAsync(app, "C1002", "demo-digital");
        var sent = new List<string>();
        for (var i = 0; i < 12; i++)
            sent.Add((await MessagingTests.SendAsync(customer, conversationId, $"第 {i} 条")).Str("id"));

        // Retries come due as the clock moves on.
        await receiver.WaitForAsync(r => sent.All(id => r.Accepted.Any(h => h.Json.GetProperty("data").GetProperty("message").GetProperty("id").GetString() == id)),
            TimeSpan.FromSeconds(60), () => app.Clock.Advance(TimeSpan.FromSeconds(30)));

        var accepted = receiver.Accepted.Where(h => sent.Contains(h.Json.GetProperty("data").GetProperty("message").GetProperty("id").GetString()!)).ToList();
        Assert.Equal(sent.Count, accepted.Count);
        Assert.Equal(sent.Order(), accepted.Select(h => h.Json.GetProperty("data").GetProperty("message").GetProperty("id").GetString()!).Order());
        Assert.True(receiver.Received.Count > accepted.Count, "the receiver failed some attempts, so there were retries");
        // Every copy of one webhook-id carries the same body: a receiver can de-duplicate on the id alone.
        Assert.All(receiver.Received.GroupBy(r => r.Id), g => Assert.Single(g.Select(r => r.Body).Distinct()));
        Assert.All(receiver.Received, r => Assert.True(r.SignatureValid));

        var failedOnce = await admin.GetJsonAsync($"/v1/webhooks/{subscription}/deliveries?limit=100");
        Assert.Contains(failedOnce.Json.EnumerateArray(), d => d.GetProperty("attempts").GetInt32() > 1);
        var log = failedOnce.Json.EnumerateArray().First(d => d.GetProperty("attempts").GetInt32() > 1);
        var attempts = (await admin.GetJsonAsync($"/v1/webhooks/{subscription}/deliveries/{log.GetProperty("event_id").GetString()}")).Json.GetProperty("attempt_log");
        Assert.Contains(attempts.EnumerateArray(), a => !a.GetProperty("succeeded").GetBoolean() && (a.TryGetProperty("status_code", out _) || a.TryGetProperty("error", out _)));
        Assert.All(attempts.EnumerateArray(), a => Assert.True(a.GetProperty("duration_ms").GetInt64() >= 0));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Failures_back_off_exponentially_for_72_hours_then_the_delivery_is_dead_and_can_be_redelivered_with_the_same_id(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, Settings());
        await using var receiver = await WebhookReceiver.StartAsync();
        var failing = true;
        receiver.Behaviour = _ => (failing ? 500 : 204, TimeSpan.Zero);
        // An integration's key: staff tokens expire long before the 72 hours this test moves through.
        var admin = app.WithToken((await (await app.LoginAsync("admin@demo.local")).PostJsonAsync("/v1/api-clients",
            new { name = "ops", permissions = new[] { "webhooks:manage" } })).Str("key"));
        var (subscription, _) = await SubscribeAsync(admin, receiver);

        var ping = await admin.PostJsonAsync($"/v1/webhooks/{subscription}/ping");
        Assert.Equal(202, ping.Status);
        var eventId = ping.Str("event_id");
        var start = app.Clock.GetUtcNow();
        var delays = new List<TimeSpan>();
        JsonElement delivery;
        for (var attempts = 1; ; attempts++)
        {
            await receiver.WaitForAsync(r => r.Received.Count >= attempts);
            delivery = await WaitForDeliveryAsync(admin, subscription, eventId, d => d.GetProperty("attempts").GetInt32() == attempts);
            if (delivery.GetProperty("status").GetString() == "dead")
                break;
            Assert.Equal("pending", delivery.GetProperty("status").GetString());
            var next = delivery.GetProperty("next_attempt_at").GetDateTimeOffset();
            delays.Add(next - app.Clock.GetUtcNow());
            app.Clock.Advance(next - app.Clock.GetUtcNow() + TimeSpan.FromMilliseconds(10));
            Assert.True(attempts < 60, "never dead");
        }

        // Doubling from 5 s with ±25 % jitter, capped at 6 h; dead at the first failure 72 h after the event, not before.
        Assert.InRange(delays[0].TotalSeconds, 3.5, 6.5);
        Assert.InRange(delays[3].TotalSeconds, 29, 51);
        Assert.True(delays.Max() <= TimeSpan.FromHours(7.5) && delays.Max() >= TimeSpan.FromHours(4));
        Assert.True(app.Clock.GetUtcNow() - start >= TimeSpan.FromHours(72));
        Assert.True(app.Clock.GetUtcNow() - start < TimeSpan.FromHours(72) + delays.Last() + TimeSpan.FromMinutes(1));
        Assert.Equal(delays.Count + 1, receiver.Received.Count);
        Assert.Single(receiver.Received.Select(r => r.Id).Distinct());
        var dead = await admin.GetJsonAsync($"/v1/webhooks/{subscription}/deliveries?status=dead");
        Assert.Equal([eventId], dead.Json.EnumerateArray().Select(d => d.GetProperty("event_id").GetString()));
        Assert.Empty((await admin.GetJsonAsync($"/v1/webhooks/{subscription}/deliveries?status=pending")).Json.EnumerateArray());
        Assert.Equal(receiver.Received.Count, delivery.GetProperty("attempt_log").GetArrayLength());
        Assert.All(delivery.GetProperty("attempt_log").EnumerateArray(), a => Assert.Equal(500, a.GetProperty("status_code").GetInt32()));

        // The receiver is fixed: the dead delivery goes again with the same webhook-id and the same body.
        failing = false;
        Assert.Equal(202, (await admin.PostJsonAsync($"/v1/webhooks/{subscription}/deliveries/{eventId}/redeliver")).Status);
        await receiver.WaitForAsync(r => r.Accepted.Count == 1);
        Assert.Equal(eventId, receiver.Accepted[0].Id);
        Assert.Single(receiver.Received.Select(r => r.Body).Distinct());
        var succeeded = await WaitForDeliveryAsync(admin, subscription, eventId, d => d.GetProperty("status").GetString() == "succeeded");
        Assert.Equal(receiver.Received.Count, succeeded.GetProperty("attempts").GetInt32());

        // Any past delivery can be sent again too; the receiver sees the id it already has.
        Assert.Equal(202, (await admin.PostJsonAsync($"/v1/webhooks/{subscription}/deliveries/{eventId}/redeliver")).Status);
        await receiver.WaitForAsync(r => r.Received.Count(h => h.Answered == 204) == 2);
        Assert.Single(receiver.Accepted);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Subscriptions_belong_to_their_organization_and_to_those_allowed_to_manage_them(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, Settings());
        await using var receiver = await WebhookReceiver.StartAsync();
        var admin = await app.LoginAsync("admin@demo.local");
        var (subscription, secret) = await SubscribeAsync(admin, receiver);
        var ping = (await admin.PostJsonAsync($"/v1/webhooks/{subscription}/ping")).Str("event_id");
        await receiver.WaitForAsync(r => r.Accepted.Count == 1);
        Assert.Equal("webhook.ping", receiver.Accepted[0].Type);

        // The secret is shown at creation and to admins on request; never in the subscription itself.
        var shown = await admin.GetJsonAsync($"/v1/webhooks/{subscription}");
        Assert.False(shown.Json.TryGetProperty("secret", out _));
        Assert.Equal(secret, (await admin.GetJsonAsync($"/v1/webhooks/{subscription}/secret")).Str("secret"));

        // Another organization's admin finds nothing, whatever the call.
        var franchiseAdmin = await FranchiseAdminAsync(app);
        foreach (var path in new[] { $"/v1/webhooks/{subscription}", $"/v1/webhooks/{subscription}/secret", $"/v1/webhooks/{subscription}/deliveries", $"/v1/webhooks/{subscription}/deliveries/{ping}" })
            Assert.Equal((404, "not_found"), ((await franchiseAdmin.GetJsonAsync(path)).Status, (await franchiseAdmin.GetJsonAsync(path)).Code));
        Assert.Equal(404, (await franchiseAdmin.PostJsonAsync($"/v1/webhooks/{subscription}/deliveries/{ping}/redeliver")).Status);
        Assert.Equal(404, (await franchiseAdmin.PostJsonAsync($"/v1/webhooks/{subscription}/ping")).Status);
        Assert.Equal(404, (await franchiseAdmin.PatchJsonAsync($"/v1/webhooks/{subscription}", new { active = false })).Status);
        Assert.Equal(404, (await franchiseAdmin.DeleteJsonAsync($"/v1/webhooks/{subscription}")).Status);
        Assert.Empty((await franchiseAdmin.GetJsonAsync("/v1/webhooks")).Json.EnumerateArray());

        // Staff who are not org admins, and keys without webhooks:manage or scoped to a store, may not.
        var manager = await app.LoginAsync("manager.digital@demo.local");
        Assert.Equal((403, "forbidden"), await Result(manager.GetJsonAsync("/v1/webhooks")));
        var store = (await admin.GetJsonAsync("/v1/stores")).Json[0].GetProperty("id").GetString();
        var plain = app.WithToken((await admin.PostJsonAsync("/v1/api-clients", new { name = "x", permissions = new[] { "customers:read" } })).Str("key"));
        Assert.Equal((403, "forbidden"), await Result(plain.GetJsonAsync("/v1/webhooks")));
        var scoped = app.WithToken((await admin.PostJsonAsync("/v1/api-clients", new { name = "y", store_id = store, permissions = new[] { "webhooks:manage" } })).Str("key"));
        Assert.Equal((403, "forbidden"), await Result(scoped.GetJsonAsync("/v1/webhooks")));
        var key = app.WithToken((await admin.PostJsonAsync("/v1/api-clients", new { name = "z", permissions = new[] { "webhooks:manage" } })).Str("key"));
        Assert.Single((await key.GetJsonAsync("/v1/webhooks")).Json.EnumerateArray());
        var patched = await key.PatchJsonAsync($"/v1/webhooks/{subscription}", new { events = new[] { "csat.given", "message.created" }, description = "对账" });
        Assert.Equal(200, patched.Status);
        Assert.Equal(["csat.given", "message.created"], patched.Json.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        var rotated = (await key.PostJsonAsync($"/v1/webhooks/{subscription}/secret/rotate")).Str("secret");
        Assert.NotEqual(secret, rotated);

        // A paused subscription keeps its deliveries waiting; they go on, signed with the new secret, when it is resumed.
        Assert.Equal(200, (await key.PatchJsonAsync($"/v1/webhooks/{subscription}", new { active = false })).Status);
        var waiting = (await key.PostJsonAsync($"/v1/webhooks/{subscription}/ping")).Str("event_id");
        await Task.Delay(800);
        Assert.DoesNotContain(receiver.Received, r => r.Id == waiting);
        Assert.Equal("pending", (await key.GetJsonAsync($"/v1/webhooks/{subscription}/deliveries/{waiting}")).Str("status"));
        receiver.Secret = rotated;
        Assert.Equal(200, (await key.PatchJsonAsync($"/v1/webhooks/{subscription}", new { active = true })).Status);
        await receiver.WaitForAsync(r => r.Accepted.Any(h => h.Id == waiting));
        Assert.True(receiver.Received.Single(r => r.Id == waiting).SignatureValid);

        // Bad input is a clear 400.
        var bad = await admin.PostJsonAsync("/v1/webhooks", new { url = "ftp://example.com/x", events = new[] { "order.paid" } });
        Assert.Equal((400, "invalid_request"), (bad.Status, bad.Code));
        Assert.True(bad.Json.GetProperty("errors").TryGetProperty("url", out _));
        Assert.True(bad.Json.GetProperty("errors").TryGetProperty("events", out _));
        Assert.Equal((400, "invalid_request"), await Result(admin.GetJsonAsync($"/v1/webhooks/{subscription}/deliveries?status=lost")));
        Assert.Equal(204, (await key.DeleteJsonAsync($"/v1/webhooks/{subscription}")).Status);
        Assert.Equal(404, (await admin.GetJsonAsync($"/v1/webhooks/{subscription}/deliveries/{ping}")).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Targets_on_non_public_addresses_are_refused_when_subscribing_and_again_when_delivering(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?> { ["Webhooks:PollInterval"] = "00:00:00.200" });
        await using var receiver = await WebhookReceiver.StartAsync();
        var admin = await app.LoginAsync("admin@demo.local");
        foreach (var url in new[] { receiver.Url.ToString(), "http://localhost:9/x", "http://10.1.2.3/x", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data",
                     "http://[::1]:8080/", "http://[fd00::1]/", "http://100.64.0.1/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/",
                     // IPv4 inside IPv6: mapped, NAT64 (64:ff9b::/96), 6to4 (2002::/16), IPv4-compatible (::/96).
                     "http://[::ffff:a9fe:a9fe]/", "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b::10.1.2.3]/",
                     "http://[2002:7f00:1::1]/", "http://[2002:a9fe:a9fe::]/", "http://[::127.0.0.1]/", "http://[::a00:1]/" })
        {
            var refused = await admin.PostJsonAsync("/v1/webhooks", new { url });
            Assert.True(refused.Status == 400 && refused.Code == "invalid_request", $"{url}: {refused}");
            Assert.Contains("non-public", refused.Json.GetProperty("errors").GetProperty("url")[0].GetString());
        }

        // The same wrappings around a public IPv4 address are public.
        Assert.All(new[] { "64:ff9b::8.8.8.8", "2002:808:808::1", "::ffff:8.8.8.8" }, a => Assert.True(WebhookTargets.IsPublic(System.Net.IPAddress.Parse(a)), a));

        // An operator allows private targets; later the rule (or the name's address) changes: delivery re-checks.
        var options = app.Services.GetRequiredService<IOptionsMonitor<WebhookOptions>>().CurrentValue;
        options.AllowedTargets = ["127.0.0.0/8"];
        var (subscription, _) = await SubscribeAsync(admin, receiver);
        options.AllowedTargets = [];
        var ping = (await admin.PostJsonAsync($"/v1/webhooks/{subscription}/ping")).Str("event_id");
        var delivery = await WaitForDeliveryAsync(admin, subscription, ping, d => d.GetProperty("attempts").GetInt32() == 1);
        Assert.Contains("non-public", delivery.GetProperty("last_error").GetString());
        Assert.Empty(receiver.Received);

        options.AllowedTargets = ["127.0.0.1/32"];
        Assert.Equal(202, (await admin.PostJsonAsync($"/v1/webhooks/{subscription}/deliveries/{ping}/redeliver")).Status);
        await receiver.WaitForAsync(r => r.Accepted.Count == 1);
    }

    [Fact]
    public async Task Two_nodes_on_one_PostgreSQL_database_share_the_outbox_without_sending_an_event_twice()
    {
        await TestDatabases.RequirePostgresAsync();
        await using var nodeA = await StoreLinkApp.CreateAsync(TestDatabases.Postgres, Settings());
        await using var nodeB = new StoreLinkApp(nodeA.Database, settings: Settings(), keepDatabase: true);
        nodeB.Start();
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Behaviour = _ => (204, TimeSpan.FromMilliseconds(50));
        await SubscribeAsync(await nodeA.LoginAsync("admin@demo.local"), receiver, ["message.created"]);
        var (onA, conversationId) = await WorkflowsCustomerAsync(nodeA, "C1001", "demo-digital");
        var onB = nodeB.WithToken(StoreLinkApp.TokenOf(onA));
        var sent = new List<string>();
        for (var i = 0; i < 40; i++)
            sent.Add((await MessagingTests.SendAsync(i % 2 == 0 ? onA : onB, conversationId, $"第 {i} 条")).Str("id"));

        await receiver.WaitForAsync(r => sent.All(id => r.Accepted.Any(h => h.Json.GetProperty("data").GetProperty("message").GetProperty("id").GetString() == id)));
        await Task.Delay(1000);
        // Both nodes dispatched (each is woken by its own commits), and no row was claimed by both.
        Assert.Equal(receiver.Accepted.Count, receiver.Received.Count);
    }

    internal static async Task<JsonElement> WaitForDeliveryAsync(HttpClient admin, string subscription, string eventId, Func<JsonElement, bool> done)
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var delivery = await admin.GetJsonAsync($"/v1/webhooks/{subscription}/deliveries/{eventId}");
            Assert.Equal(200, delivery.Status);
            if (done(delivery.Json))
                return delivery.Json;
            if (DateTime.UtcNow > until)
                throw new TimeoutException(delivery.Body);
            await Task.Delay(50);
        }
    }

    private static async Task<(int, string?)> Result(Task<ApiResponse> call)
    {
        var response = await call;
        return (response.Status, response.Code);
    }

    /// <summary>The franchise organization has no admin in the demo: its agent is made one, as `admin` would.</summary>
    internal static async Task<HttpClient> FranchiseAdminAsync(StoreLinkApp app)
    {
        var db = app.Services.GetRequiredService<StoreLink.Server.Data.Db>();
        await db.ExecuteAsync("""
            INSERT INTO staff_roles (staff_id, store_id, role) SELECT id, NULL, 'org_admin' FROM staff WHERE login = 'agent@franchise.demo.local'
            """);
        return await app.LoginAsync("agent@franchise.demo.local");
    }

    internal static async Task<(HttpClient Customer, string ConversationId)> WorkflowsCustomerAsync(StoreLinkApp app, string sub, string storeKey)
    {
        var token = Jwt.Sign(new { sub, exp = TestClock.Now.AddYears(1).ToUnixTimeSeconds() }, DemoSeed.RetailIdentitySecret);
        var auth = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = storeKey, identity_token = token });
        Assert.Equal(200, auth.Status);
        var customer = app.WithToken(auth.Json.GetProperty("access_token").GetString()!);
        var opened = await customer.PostJsonAsync("/v1/conversations", new { store_key = storeKey });
        return (customer, opened.Str("id"));
    }
}
