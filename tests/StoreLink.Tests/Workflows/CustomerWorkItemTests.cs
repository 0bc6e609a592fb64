using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;
using static StoreLink.Tests.Workflows.WorkflowTests;

namespace StoreLink.Tests.Workflows;

/// <summary>
/// The widget's 报修: a customer starts a work item of a kind the store takes from customers, described in their own
/// words with their photos; the store's rules assign it, the photos land in the chat, and nobody else's store, kind
/// or photos are accepted.
/// </summary>
public sealed class CustomerWorkItemTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_customer_reports_a_repair_from_the_chat_and_the_category_rule_assigns_it(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(10, 0));
        var (customer, conversationId) = await CustomerAsync(app, "C1001", "demo-digital");
        var tech = await app.LoginAsync("tech.digital@demo.local");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var photo = (await AttachmentTests.UploadAsync(customer, AttachmentTests.Png, "碎屏.png", "image/png")).Str("id");

        var created = await customer.PostJsonAsync("/v1/work-items", new
        {
            store_key = "demo-digital", kind = "ticket", description = "iPhone 15 摔了一下，屏幕碎了，触摸失灵", attachment_ids = new[] { photo },
            conversation_id = conversationId, fields = new { phone = "13800000001" },
            // Not the customer's to choose: ignored.
            priority = "urgent", assignee_id = (await agent.GetJsonAsync("/v1/me")).Str("id"), team = "manager",
        });
        Assert.Equal(201, created.Status);
        var id = created.Str("id");
        Assert.Equal(("received", "screen", "normal"), (created.Str("state"), created.Str("category"), created.Str("priority")));
        Assert.Equal(((await tech.GetJsonAsync("/v1/me")).Str("id"), "technician"), (created.Str("assignee_id"), created.Str("team")));
        Assert.Equal((await customer.GetJsonAsync("/v1/me")).Str("id"), created.Str("customer_id"));
        Assert.Equal("13800000001", created.Json.GetProperty("fields").GetProperty("phone").GetString());
        Assert.Equal("iPhone 15 摔了一下，屏幕碎了，触摸失灵", created.Json.GetProperty("fields").GetProperty("description").GetString());

        // The photo is in the chat as the customer's own image, so the technician may open it; the card follows.
        await CardAsync(customer, conversationId, id, "已受理");
        var image = Assert.Single(await Messages(customer, conversationId), m => m.GetProperty("kind").GetString() == "image");
        Assert.Equal(("customer", photo), (image.GetProperty("sender").GetProperty("kind").GetString(), image.GetProperty("body").GetProperty("attachment_id").GetString()));
        Assert.Equal(System.Net.HttpStatusCode.OK, (await tech.GetAsync($"/v1/attachments/{photo}")).StatusCode);
        Assert.Equal([id], (await customer.GetJsonAsync("/v1/work-items")).Json.EnumerateArray().Select(i => i.GetProperty("id").GetString()));
        Assert.Contains((await tech.GetJsonAsync("/v1/work-items?assignee_id=me")).Json.EnumerateArray(), i => i.GetProperty("id").GetString() == id);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Only_kinds_the_store_takes_from_customers_its_own_organization_and_own_photos_are_accepted(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, _) = await CustomerAsync(app, "C1001", "demo-digital");
        var tech = await app.LoginAsync("tech.digital@demo.local");
        var theirs = (await AttachmentTests.UploadAsync(tech, AttachmentTests.Png, "别人的.png", "image/png")).Str("id");
        var repair = new { store_key = "demo-digital", kind = "ticket", description = "电池鼓包" };

        Assert.Equal((403, "forbidden"), await StatusAsync(customer.PostJsonAsync("/v1/work-items", repair with { kind = "care_job" })));
        Assert.Equal((403, "forbidden"), await StatusAsync(customer.PostJsonAsync("/v1/work-items", repair with { store_key = "demo-bags" })));
        Assert.Equal((404, "not_found"), await StatusAsync(customer.PostJsonAsync("/v1/work-items", repair with { store_key = "demo-franchise" })));
        Assert.Equal((404, "not_found"), await StatusAsync(customer.PostJsonAsync("/v1/work-items", repair with { store_key = "no-such-store" })));
        Assert.Equal((400, "invalid_request"), await StatusAsync(customer.PostJsonAsync("/v1/work-items", repair with { description = "" })));
        // A photo the customer may not see is not found, as any id they may not see.
        Assert.Equal((404, "not_found"), await StatusAsync(customer.PostJsonAsync("/v1/work-items", new
        {
            repair.store_key, repair.kind, repair.description, attachment_ids = new[] { theirs },
        })));
        // A conversation of another customer is not one to link.
        var (_, otherConversation) = await CustomerAsync(app, "C1002", "demo-digital");
        Assert.Equal((404, "not_found"), await StatusAsync(customer.PostJsonAsync("/v1/work-items", new
        {
            repair.store_key, repair.kind, repair.description, conversation_id = otherConversation,
        })));
        Assert.Empty((await customer.GetJsonAsync("/v1/work-items")).Json.EnumerateArray());

        // The store's manager decides what customers may start; the widget reads it from the public profile.
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var store = await StoreIdAsync(manager, "demo-digital");
        Assert.Equal(new List<string> { "ticket" }, await KindsAsync(app, "demo-digital"));
        Assert.Empty(await KindsAsync(app, "demo-bags"));
        Assert.Equal((403, "forbidden"), await StatusAsync(agent.PatchJsonAsync($"/v1/stores/{store}", new { customer_work_kinds = new[] { "care_job" } })));
        Assert.Equal((400, "invalid_request"), await StatusAsync(manager.PatchJsonAsync($"/v1/stores/{store}", new { customer_work_kinds = new[] { "repair" } })));
        var changed = await manager.PatchJsonAsync($"/v1/stores/{store}", new { customer_work_kinds = new[] { "ticket", "care_job" } });
        Assert.Equal(200, changed.Status);
        Assert.Equal(["ticket", "care_job"], changed.Json.GetProperty("customer_work_kinds").EnumerateArray().Select(k => k.GetString()));
        Assert.Equal(new List<string> { "ticket", "care_job" }, await KindsAsync(app, "demo-digital"));
        var care = await customer.PostJsonAsync("/v1/work-items", repair with { kind = "care_job", description = "皮鞋鞋面有划痕" });
        Assert.Equal((201, "care_job"), (care.Status, care.Str("kind")));
    }

    private static async Task<List<string>> KindsAsync(StoreLinkApp app, string storeKey) =>
        [.. (await app.Anonymous().GetJsonAsync($"/v1/stores/by-key/{storeKey}/profile")).Json.GetProperty("customer_work_kinds").EnumerateArray().Select(k => k.GetString()!)];
}
