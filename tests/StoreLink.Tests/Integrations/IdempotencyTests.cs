using System.Text;
using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Integrations;

/// <summary><c>Idempotency-Key</c> on the writes integrators use, with Stripe's semantics.</summary>
public sealed class IdempotencyTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static async Task<ApiResponse> SendAsync(HttpClient client, HttpMethod method, string path, object body, string? key)
    {
        var request = new HttpRequestMessage(method, path) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };
        if (key is not null)
            request.Headers.Add("Idempotency-Key", key);
        return await client.SendJsonAsync(request);
    }

    private static bool Replayed(ApiResponse r) => r.Headers.TryGetValues("Idempotent-Replayed", out var v) && v.Single() == "true";

    [Theory, MemberData(nameof(Databases))]
    public async Task The_same_key_and_request_answer_the_stored_answer_and_another_request_with_the_key_is_unprocessable(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var erp = app.WithToken((await admin.PostJsonAsync("/v1/api-clients", new { name = "ERP", permissions = new[] { "work_items:write", "work_items:read", "customers:write", "customers:read", "stores:read" } })).Str("key"));
        var store = (await erp.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == "demo-bags").GetProperty("id").GetString();

        // A customer upsert, twice with one key: one answer, stored, with its status.
        var customerBody = new { external_id = "ERP-9001", name = "批发客户", purchases = new[] { new { order_no = "PO-1", item = "双肩包", amount = "120.00", currency = "CNY", purchased_at = TestClock.Now } } };
        var first = await SendAsync(erp, HttpMethod.Post, "/v1/customers", customerBody, "cust-9001");
        Assert.Equal(201, first.Status);
        Assert.False(Replayed(first));
        var again = await SendAsync(erp, HttpMethod.Post, "/v1/customers", customerBody, "cust-9001");
        Assert.Equal((201, first.Body), (again.Status, again.Body));
        Assert.True(Replayed(again));
        var customerId = first.Str("id");

        // A work item: the same key and body is the same item; the key with another body is 422.
        var order = new { store_id = store, customer_id = customerId, kind = "order", title = "托特包 ×20", external_ref = new { system = "erp", id = "SO-1" } };
        var created = await SendAsync(erp, HttpMethod.Post, "/v1/work-items", order, "so-1");
        Assert.Equal(201, created.Status);
        var repeat = await SendAsync(erp, HttpMethod.Post, "/v1/work-items", order, "so-1");
        Assert.Equal((201, created.Body), (repeat.Status, repeat.Body));
        Assert.Equal(created.Headers.Location, repeat.Headers.Location);
        var other = await SendAsync(erp, HttpMethod.Post, "/v1/work-items", order with { title = "托特包 ×30" }, "so-1");
        Assert.Equal((422, "unprocessable"), (other.Status, other.Code));
        Assert.Equal((422, "unprocessable"), ((await SendAsync(erp, HttpMethod.Post, "/v1/customers", customerBody, "so-1")).Status, "unprocessable"));
        // Without the key the external reference is taken: the duplicate is refused, not made.
        Assert.Equal(409, (await SendAsync(erp, HttpMethod.Post, "/v1/work-items", order, null)).Status);
        Assert.Single((await erp.GetJsonAsync($"/v1/work-items?customer_id={customerId}")).Json.EnumerateArray());

        // Transitions and patches: a retried transition answers what the first did instead of a conflict.
        var id = created.Str("id");
        var moved = await SendAsync(erp, HttpMethod.Post, $"/v1/work-items/{id}/transition", new { to = "paid" }, "so-1-paid");
        Assert.Equal(200, moved.Status);
        var movedAgain = await SendAsync(erp, HttpMethod.Post, $"/v1/work-items/{id}/transition", new { to = "paid" }, "so-1-paid");
        Assert.Equal((200, moved.Body), (movedAgain.Status, movedAgain.Body));
        Assert.Equal(409, (await SendAsync(erp, HttpMethod.Post, $"/v1/work-items/{id}/transition", new { to = "paid" }, "so-1-paid-b")).Status);
        var patched = await SendAsync(erp, HttpMethod.Patch, $"/v1/work-items/{id}", new { priority = "high" }, "so-1-prio");
        Assert.Equal((200, patched.Body), ((await SendAsync(erp, HttpMethod.Patch, $"/v1/work-items/{id}", new { priority = "high" }, "so-1-prio")).Status, patched.Body));
        var timeline = (await erp.GetJsonAsync($"/v1/work-items/{id}/timeline")).Json.EnumerateArray().Select(e => e.GetProperty("kind").GetString()).ToList();
        Assert.Equal(["created", "state_changed", "updated"], timeline);

        // An error stores nothing: the same key works once the request is right.
        var invalid = await SendAsync(erp, HttpMethod.Post, $"/v1/work-items/{id}/transition", new { to = "nowhere" }, "fix-me");
        Assert.Equal(400, invalid.Status);
        Assert.Equal(400, (await SendAsync(erp, HttpMethod.Post, $"/v1/work-items/{id}/transition", new { to = "nowhere" }, "fix-me")).Status);

        // Keys are per caller: another caller's same key is its own.
        var staff = await app.LoginAsync("agent.bags@demo.local");
        var staffOrder = await SendAsync(staff, HttpMethod.Post, "/v1/work-items", order with { external_ref = new { system = "erp", id = "SO-2" } }, "so-1");
        Assert.Equal(201, staffOrder.Status);
        Assert.NotEqual(id, staffOrder.Str("id"));

        // Kept for 24 hours: afterwards the key is new again.
        app.Clock.Advance(TimeSpan.FromHours(25));
        var later = await SendAsync(erp, HttpMethod.Post, "/v1/customers", customerBody, "cust-9001");
        Assert.Equal((200, false), (later.Status, Replayed(later))); // an update of the customer this time, not the stored 201

        // A key must be printable ASCII of at most 255 characters.
        var badKey = await SendAsync(erp, HttpMethod.Post, "/v1/customers", customerBody, new string('k', 256));
        Assert.Equal((400, "invalid_request"), (badKey.Status, badKey.Code));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Concurrent_requests_with_one_key_do_the_work_once_and_all_get_its_answer(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var admin = await app.LoginAsync("admin@demo.local");
        var customer = (await admin.GetJsonAsync("/v1/customers?q=C1003")).Json[0].GetProperty("id").GetString();
        var store = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == "demo-digital").GetProperty("id").GetString();
        // No external reference: without the key, each of these would be a new ticket.
        var ticket = new { store_id = store, customer_id = customer, kind = "ticket", title = "笔记本无法开机" };
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => SendAsync(agent, HttpMethod.Post, "/v1/work-items", ticket, "ticket-once")));
        Assert.All(answers, a => Assert.Equal(201, a.Status));
        Assert.Single(answers.Select(a => a.Str("id")).Distinct());
        Assert.Single((await agent.GetJsonAsync($"/v1/work-items?customer_id={customer}")).Json.EnumerateArray(), i => i.GetProperty("title").GetString() == "笔记本无法开机");

        // Messages too: one key, one message, even with a new client_msg_id each time.
        var (visitor, conversation) = await WebhookTests.WorkflowsCustomerAsync(app, "C1003", "demo-digital");
        var sends = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => SendAsync(visitor, HttpMethod.Post, $"/v1/conversations/{conversation}/messages",
            new { client_msg_id = "m-1", kind = "text", body = new { text = "在吗" } }, "msg-key")));
        Assert.All(sends, s => Assert.Equal(201, s.Status));
        Assert.Single(sends.Select(s => s.Str("id")).Distinct());
        var messages = (await visitor.GetJsonAsync($"/v1/conversations/{conversation}/messages?after_seq=0")).Json.EnumerateArray();
        Assert.Single(messages, m => m.GetProperty("sender").GetProperty("kind").GetString() == "customer");
    }
}
