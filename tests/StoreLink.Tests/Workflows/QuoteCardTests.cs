using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using StoreLink.Server.Workflows;
using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;
using static StoreLink.Tests.Workflows.WorkflowTests;

namespace StoreLink.Tests.Workflows;

/// <summary>
/// A quote reaches the customer as one 待您确认报价 card that carries its actions: a state that waits for the customer's
/// decision shows its card only together with the request, whether the request comes after the move or with it.
/// </summary>
public sealed class QuoteCardTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_quote_made_after_the_move_is_one_card_with_its_actions(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(10, 0));
        var (customer, conversationId, tech, id) = await InspectingTicketAsync(app);
        var notifier = app.Services.GetRequiredService<Notifier>();

        Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "awaiting_approval", note = "屏幕总成损坏" })).Status);
        await notifier.DeliverDueAsync(default);
        Assert.DoesNotContain(await CardsAsync(customer, conversationId, id), c => State(c) == "待您确认报价");

        var quote = await tech.PostJsonAsync($"/v1/work-items/{id}/requests", new { title = "更换原装屏幕", price = "899" });
        Assert.Equal(201, quote.Status);
        await CardAsync(customer, conversationId, id, "待您确认报价");
        await notifier.DeliverDueAsync(default);
        var card = Assert.Single(await CardsAsync(customer, conversationId, id), c => State(c) == "待您确认报价");
        Assert.Equal([$"approve:{quote.Str("id")}", $"decline:{quote.Str("id")}"], card.GetProperty("actions").EnumerateArray().Select(a => a.GetProperty("id").GetString()));
        Assert.Contains(card.GetProperty("fields").EnumerateArray(), f => f.GetProperty("value").GetString() == "更换原装屏幕 ¥899");
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_move_that_carries_the_quote_is_one_change_and_one_card_and_a_wrong_quote_refuses_the_move(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(10, 0));
        var (customer, conversationId, tech, id) = await InspectingTicketAsync(app);
        var photo = (await AttachmentTests.UploadAsync(tech, AttachmentTests.Png, "屏幕.png", "image/png")).Str("id");
        var eventsBefore = (await tech.GetJsonAsync($"/v1/work-items/{id}/timeline")).Json.GetArrayLength();

        var wrong = await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "awaiting_approval", request = new { title = "更换原装屏幕", price = "八百" } });
        Assert.Equal((400, "invalid_request"), (wrong.Status, wrong.Code));
        Assert.True(wrong.Json.GetProperty("errors").TryGetProperty("price", out _));
        var unchanged = await tech.GetJsonAsync($"/v1/work-items/{id}");
        Assert.Equal(("inspecting", 0), (unchanged.Str("state"), unchanged.Json.GetProperty("requests").GetArrayLength()));
        Assert.Equal(eventsBefore, (await tech.GetJsonAsync($"/v1/work-items/{id}/timeline")).Json.GetArrayLength());

        var moved = await tech.PostJsonAsync($"/v1/work-items/{id}/transition",
            new { to = "awaiting_approval", note = "屏幕总成损坏", request = new { title = "更换原装屏幕", price = "899", attachment_ids = new[] { photo } } });
        Assert.Equal(200, moved.Status);
        Assert.Equal("awaiting_approval", moved.Str("state"));
        var request = Assert.Single(moved.Json.GetProperty("requests").EnumerateArray());
        Assert.Equal(("pending", photo), (request.GetProperty("status").GetString(), request.GetProperty("attachment_ids")[0].GetString()));
        var last = (await tech.GetJsonAsync($"/v1/work-items/{id}/timeline")).Json.EnumerateArray().Last();
        Assert.Equal(("state_changed", "更换原装屏幕"), (last.GetProperty("kind").GetString(), last.GetProperty("data").GetProperty("request").GetProperty("title").GetString()));

        var card = await CardAsync(customer, conversationId, id, "待您确认报价");
        await app.Services.GetRequiredService<Notifier>().DeliverDueAsync(default);
        Assert.Single(await CardsAsync(customer, conversationId, id), c => State(c) == "待您确认报价");
        Assert.Equal(2, card.GetProperty("actions").GetArrayLength());
        Assert.Equal([photo], card.GetProperty("attachment_ids").EnumerateArray().Select(a => a.GetString()));
        // The technician's photo comes just before the card, in the technician's name, and the customer may open it.
        var messages = await Messages(customer, conversationId);
        var cardAt = messages.FindLastIndex(m => m.GetProperty("kind").GetString() == "card");
        Assert.Equal(("image", "staff"), (messages[cardAt - 1].GetProperty("kind").GetString(), messages[cardAt - 1].GetProperty("sender").GetProperty("kind").GetString()));
        Assert.Equal(System.Net.HttpStatusCode.OK, (await customer.GetAsync($"/v1/attachments/{photo}")).StatusCode);

        Assert.Equal("repairing", (await customer.PostJsonAsync($"/v1/work-items/{id}/actions", new { action = $"approve:{request.GetProperty("id").GetString()}" })).Str("state"));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_quote_after_the_store_system_moved_the_item_to_awaiting_approval_is_one_card(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        app.Clock.AdvanceToLocal(new TimeOnly(10, 0));
        var admin = await app.LoginAsync("admin@demo.local");
        var tech = await app.LoginAsync("tech.digital@demo.local");
        var notifier = app.Services.GetRequiredService<Notifier>();
        var (customer, conversationId) = await CustomerAsync(app, "C1001", "demo-digital");
        var (connector, secret) = await Integrations.Hooks.ConnectorAsync(admin, new
        {
            kind = "ticket", store_id = await StoreIdAsync(admin, "demo-digital"),
            status_map = new Dictionary<string, string> { ["RECEIVED"] = "received", ["QUOTED"] = "awaiting_approval" },
        });
        var created = await Integrations.Hooks.SendAsync(app, connector, secret, Integrations.Hooks.Event("rma-1", "ticket.upserted",
            Integrations.Hooks.Order("RMA-1", "RECEIVED", customer: "C1001", title: "iPhone 16 Pro 屏幕"), version: 1));
        Assert.Equal("applied", created.Str("result"));
        var id = created.Str("work_item_id");
        await CardAsync(customer, conversationId, id, "已受理");

        // The repair system says the quote is out; its quote comes as a request (what the technician posts).
        Assert.Equal("applied", (await Integrations.Hooks.SendAsync(app, connector, secret, Integrations.Hooks.Event("rma-2", "ticket.upserted",
            Integrations.Hooks.Order("RMA-1", "QUOTED", customer: "C1001", title: "iPhone 16 Pro 屏幕"), version: 2))).Str("result"));
        await notifier.DeliverDueAsync(default);
        var quote = await tech.PostJsonAsync($"/v1/work-items/{id}/requests", new { title = "更换原装屏幕", price = "899" });
        Assert.Equal(201, quote.Status);
        await CardAsync(customer, conversationId, id, "待您确认报价", c => c.GetProperty("actions").GetArrayLength() == 2);
        await notifier.DeliverDueAsync(default);
        var card = Assert.Single(await CardsAsync(customer, conversationId, id), c => State(c) == "待您确认报价");
        Assert.Equal([$"approve:{quote.Str("id")}", $"decline:{quote.Str("id")}"], card.GetProperty("actions").EnumerateArray().Select(a => a.GetProperty("id").GetString()));
    }

    private static string? State(JsonElement card) => card.GetProperty("fields")[0].GetProperty("value").GetString();

    /// <summary>C1001's screen repair at demo-digital, moved to 检测中 by the technician, its cards so far delivered.</summary>
    private static async Task<(HttpClient Customer, string ConversationId, HttpClient Tech, string Id)> InspectingTicketAsync(StoreLinkApp app)
    {
        var (customer, conversationId) = await CustomerAsync(app, "C1001", "demo-digital");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var tech = await app.LoginAsync("tech.digital@demo.local");
        var created = await agent.PostJsonAsync("/v1/work-items", new
        {
            store_id = await StoreIdAsync(agent, "demo-digital"), kind = "ticket", customer_id = (await customer.GetJsonAsync("/v1/me")).Str("id"),
            title = "iPhone 16 Pro 屏幕", conversation_id = conversationId,
        });
        Assert.Equal(201, created.Status);
        var id = created.Str("id");
        await CardAsync(customer, conversationId, id, "已受理");
        Assert.Equal(200, (await tech.PostJsonAsync($"/v1/work-items/{id}/transition", new { to = "inspecting" })).Status);
        await CardAsync(customer, conversationId, id, "检测中");
        return (customer, conversationId, tech, id);
    }
}
