using System.Text.Json;
using StoreLink.Tests.Infrastructure;
using StoreLink.Tests.Integrations;

namespace StoreLink.Tests.Workflows;

/// <summary>
/// Edges of work items: lists count only what the caller may see (a busy store does not crowd a quiet one out of the
/// page), a first template copy leaves the presets in place, photos posted in the customer's name are the customer's own,
/// and free-form JSON nests only as deep as every read of it can follow.
/// </summary>
public sealed class WorkItemEdgeTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_staff_list_without_a_store_is_limited_after_leaving_out_other_stores(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var shoesAgent = await app.LoginAsync("agent.shoes@demo.local");
        var digitalAgent = await app.LoginAsync("agent.digital@demo.local");
        var admin = await app.LoginAsync("admin@demo.local");
        var customer = (await (await app.VisitorAsync("demo-shoes")).GetJsonAsync("/v1/me")).Str("id");
        var stores = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);

        var shoes = await shoesAgent.PostJsonAsync("/v1/work-items", new { store_id = stores["demo-shoes"], kind = "care_job", customer_id = customer, title = "麂皮靴清洁" });
        Assert.Equal(201, shoes.Status);
        app.Clock.Advance(TimeSpan.FromSeconds(1));
        foreach (var title in new[] { "手机进水", "平板碎屏" })
            Assert.Equal(201, (await digitalAgent.PostJsonAsync("/v1/work-items", new { store_id = stores["demo-digital"], kind = "ticket", customer_id = customer, title })).Status);

        // The newest items are the digital store's; the shoe store's agent still gets their own on a page of one.
        var page = (await shoesAgent.GetJsonAsync("/v1/work-items?limit=1")).Json.EnumerateArray().ToList();
        Assert.Equal([shoes.Str("id")], page.Select(i => i.GetProperty("id").GetString()));
        Assert.Equal(2, (await digitalAgent.GetJsonAsync("/v1/work-items?limit=2")).Json.GetArrayLength());
        Assert.Equal(2, (await admin.GetJsonAsync("/v1/work-items?limit=2")).Json.GetArrayLength());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Copying_a_preset_first_still_gives_the_organization_every_preset_as_its_default(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        // The organization's very first template call is a copy (no list, no work item before it).
        var copy = await admin.PostJsonAsync("/v1/workflow-templates", new { preset = "electronics_repair", name = "数码售后（试用）", is_default = false });
        Assert.Equal(201, copy.Status);

        var templates = (await admin.GetJsonAsync("/v1/workflow-templates")).Json.EnumerateArray().ToList();
        Assert.Equal(4, templates.Count);
        var defaults = templates.Where(t => t.GetProperty("is_default").GetBoolean()).ToDictionary(t => t.GetProperty("kind").GetString()!, t => t.GetProperty("preset").GetString());
        Assert.Equal(new Dictionary<string, string?> { ["care_job"] = "shoe_care", ["order"] = "bag_order", ["ticket"] = "electronics_repair" }, defaults);
        Assert.DoesNotContain(copy.Str("id"), templates.Where(t => t.GetProperty("is_default").GetBoolean()).Select(t => t.GetProperty("id").GetString()));

        // An order (a kind the copy is not) can be made, on the bag preset.
        var stores = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);
        var customer = (await admin.GetJsonAsync("/v1/customers?q=C1002")).Json[0].GetProperty("id").GetString()!;
        var order = await (await app.LoginAsync("agent.bags@demo.local")).PostJsonAsync("/v1/work-items",
            new { store_id = stores["demo-bags"], customer_id = customer, kind = "order", title = "托特包 ×2" });
        Assert.Equal((201, "unpaid"), (order.Status, order.Str("state")));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_customer_action_posts_only_photos_the_customer_uploaded(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var tech = await app.LoginAsync("tech.shoes@demo.local");
        var admin = await app.LoginAsync("admin@demo.local");
        var store = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == "demo-shoes").GetProperty("id").GetString();
        var customer = await app.VisitorAsync("demo-shoes");
        var conversation = (await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-shoes" })).Str("id");
        var job = (await tech.PostJsonAsync("/v1/work-items", new { store_id = store, kind = "care_job", customer_id = (await customer.GetJsonAsync("/v1/me")).Str("id"), title = "帆布鞋清洁", conversation_id = conversation })).Str("id");
        foreach (var to in new[] { "deep_cleaning", "conditioning", "ready_for_pickup" })
            Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{job}/transition", new { to })).Status);
        // The technician's photo reaches the chat with an extra-work request, so the customer may see it, but it is not theirs to post.
        var theirs = (await Conversations.AttachmentTests.UploadAsync(tech, Conversations.AttachmentTests.Png, "鞋.png", "image/png")).Str("id");
        Assert.Equal(201, (await tech.PostJsonAsync($"/v1/work-items/{job}/requests", new { title = "鞋带更换", price = "10", attachment_ids = new[] { theirs } })).Status);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while ((await customer.GetAsync($"/v1/attachments/{theirs}")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, "The request's photo never reached the chat.");
            await Task.Delay(50);
        }
        var refused = await customer.PostJsonAsync($"/v1/work-items/{job}/actions", new { action = "rework", note = "还有污渍", attachment_ids = new[] { theirs } });
        Assert.Equal((400, "invalid_request"), (refused.Status, refused.Code));
        var mine = (await Conversations.AttachmentTests.UploadAsync(customer, Conversations.AttachmentTests.Png, "污渍.png", "image/png")).Str("id");
        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/work-items/{job}/actions", new { action = "rework", note = "还有污渍", attachment_ids = new[] { mine } })).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Free_form_json_nested_deeper_than_32_levels_is_refused_where_it_comes_in_and_what_is_kept_reads_back(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var admin = await app.LoginAsync("admin@demo.local");
        var stores = (await admin.GetJsonAsync("/v1/stores")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("store_key").GetString()!, s => s.GetProperty("id").GetString()!);
        var customer = (await admin.GetJsonAsync("/v1/customers?q=C1001")).Json[0].GetProperty("id").GetString()!;
        static string Nested(int depth) => new string('[', depth) + "\"屏幕\"" + new string(']', depth);
        var item = (await agent.PostJsonAsync("/v1/work-items", new { store_id = stores["demo-digital"], customer_id = customer, kind = "ticket", title = "屏幕碎了" })).Str("id");

        // A field 32 levels deep is kept and reads back everywhere it is shown.
        var kept = await agent.SendRawAsync(HttpMethod.Patch, $"/v1/work-items/{item}", $$$"""{"fields":{"model":{{{Nested(32)}}}}}""");
        Assert.Equal(200, kept.Status);
        async Task<JsonElement> ModelAsync()
        {
            var read = await agent.GetJsonAsync($"/v1/work-items/{item}");
            Assert.Equal(200, read.Status);
            Assert.Equal(200, (await agent.GetJsonAsync($"/v1/work-items/{item}/timeline")).Status);
            var list = await agent.GetJsonAsync($"/v1/work-items?store_id={stores["demo-digital"]}&limit=5");
            Assert.Equal(200, list.Status);
            Assert.Contains(list.Json.EnumerateArray(), i => i.GetProperty("id").GetString() == item);
            return read.Json.GetProperty("fields").GetProperty("model");
        }
        Assert.Equal(Nested(32), (await ModelAsync()).GetRawText());

        // One level more, up to what the request reader itself takes (64 with the body and fields objects), is refused and nothing is written.
        foreach (var depth in new[] { 33, 45, 62 })
        {
            var deep = await agent.SendRawAsync(HttpMethod.Patch, $"/v1/work-items/{item}", $$$"""{"fields":{"model":{{{Nested(depth)}}},"imei":"356938035643809"}}""");
            Assert.Equal((400, "invalid_request"), (deep.Status, deep.Code));
            Assert.Equal("Nested at most 32 levels deep.", deep.Json.GetProperty("errors").GetProperty("fields")[0].GetString());
            var created = await agent.SendRawAsync(HttpMethod.Post, "/v1/work-items",
                $$$"""{"store_id":"{{{stores["demo-digital"]}}}","customer_id":"{{{customer}}}","kind":"ticket","title":"深","fields":{"model":{{{Nested(depth)}}}}}""");
            Assert.Equal((400, "invalid_request"), (created.Status, created.Code));
        }
        Assert.Equal(Nested(32), (await ModelAsync()).GetRawText());
        Assert.Single((await agent.GetJsonAsync($"/v1/work-items?store_id={stores["demo-digital"]}&limit=50")).Json.EnumerateArray());

        // Customer attributes, and the fields a store's system sends through its hook, keep to the same depth.
        var attributes = await admin.SendRawAsync(HttpMethod.Post, "/v1/customers", $$$"""{"external_id":"C-DEEP","attributes":{"tags":{{{Nested(40)}}}}}""");
        Assert.Equal((400, "invalid_request"), (attributes.Status, attributes.Code));
        Assert.True(attributes.Json.GetProperty("errors").TryGetProperty("attributes", out _), attributes.ToString());
        Assert.Empty((await admin.GetJsonAsync("/v1/customers?q=C-DEEP")).Json.EnumerateArray());
        var (connector, secret) = await Hooks.ConnectorAsync(admin);
        var hook = await Hooks.SendAsync(app, connector, secret, Hooks.Event("evt-deep", "order.upserted",
            Hooks.Order("SO-DEEP", "PAID", fields: new { tracking_no = JsonDocument.Parse(Nested(40)).RootElement }), version: 1));
        Assert.Equal((400, "invalid_request"), (hook.Status, hook.Code));
        Assert.Contains("Nested at most 32 levels deep.", hook.Body);
        Assert.DoesNotContain((await admin.GetJsonAsync("/v1/work-items?kind=order&limit=50")).Json.EnumerateArray(), i => i.GetProperty("title").GetString() == "托特包 ×1");
    }
}
