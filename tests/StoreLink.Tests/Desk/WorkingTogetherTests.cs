using System.Text.Json;
using StoreLink.Server.Accounts;
using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Desk;

/// <summary>Canned replies, CSAT, @mentions in notes, "who is viewing" and the customer panel, against the API.</summary>
public sealed class WorkingTogetherTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static async Task<string> StoreIdAsync(HttpClient staff, string key) =>
        (await staff.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == key).GetProperty("id").GetString()!;

    private static async Task<(HttpClient Customer, string ConversationId)> SignedInCustomerAsync(StoreLinkApp app, string sub = "C1001")
    {
        var token = Jwt.Sign(new { sub, exp = Jwt.In(TimeSpan.FromMinutes(5)) }, DemoSeed.RetailIdentitySecret);
        var auth = await app.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = "demo-digital", identity_token = token });
        var customer = app.WithToken(auth.Json.GetProperty("access_token").GetString()!);
        var opened = await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" });
        return (customer, opened.Str("id"));
    }

    private static IEnumerable<JsonElement> Messages(ApiResponse history) => history.Json.EnumerateArray();

    [Theory, MemberData(nameof(Databases))]
    public async Task Canned_replies_are_searched_by_shortcut_filled_in_for_the_conversation_and_edited_by_managers_only(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (_, conversationId) = await SignedInCustomerAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var store = await StoreIdAsync(agent, "demo-digital");

        var all = await agent.GetJsonAsync($"/v1/stores/{store}/canned-replies");
        Assert.Equal(200, all.Status);
        Assert.Equal(["bye", "hi", "repair"], all.Json.EnumerateArray().Select(r => r.GetProperty("shortcut").GetString()));
        // A shortcut prefix first, then replies whose title or text contain the term.
        var search = await agent.GetJsonAsync($"/v1/stores/{store}/canned-replies?q=/re");
        Assert.Equal("repair", Assert.Single(search.Json.EnumerateArray()).GetProperty("shortcut").GetString());
        var byText = await agent.GetJsonAsync($"/v1/stores/{store}/canned-replies?q={Uri.EscapeDataString("报价")}");
        Assert.Equal("repair", Assert.Single(byText.Json.EnumerateArray()).GetProperty("shortcut").GetString());

        var filled = await agent.GetJsonAsync($"/v1/conversations/{conversationId}/canned-replies?q=hi");
        Assert.Equal(200, filled.Status);
        Assert.Equal("演示顾客一您好，我是数码旗舰店的数码客服，很高兴为您服务。", filled.Json[0].GetProperty("text").GetString());

        var created = await manager.PostJsonAsync($"/v1/stores/{store}/canned-replies", new { shortcut = "/price", title = "报价", body = "{customer.name}，换屏报价 ¥899，{agent.name}" });
        Assert.Equal(201, created.Status);
        Assert.Equal("price", created.Str("shortcut"));
        var id = created.Str("id");
        Assert.Equal((409, "conflict"), await StatusAsync(manager.PostJsonAsync($"/v1/stores/{store}/canned-replies", new { shortcut = "price", title = "x", body = "y" })));
        Assert.Equal((403, "forbidden"), await StatusAsync(agent.PostJsonAsync($"/v1/stores/{store}/canned-replies", new { shortcut = "mine", title = "x", body = "y" })));
        Assert.Equal((403, "forbidden"), await StatusAsync(agent.DeleteJsonAsync($"/v1/canned-replies/{id}")));
        var invalid = await manager.PostJsonAsync($"/v1/stores/{store}/canned-replies", new { shortcut = "two words", title = "", body = (string?)null });
        Assert.Equal((400, "invalid_request"), (invalid.Status, invalid.Code));
        Assert.Equal(["body", "shortcut", "title"], invalid.Json.GetProperty("errors").EnumerateObject().Select(e => e.Name).Order());

        var managerName = (await manager.GetJsonAsync("/v1/me")).Str("name");
        var patched = await manager.PatchJsonAsync($"/v1/canned-replies/{id}", new { body = "换屏报价 ¥799（{agent.name}）" });
        Assert.Equal(200, patched.Status);
        Assert.Equal("报价", patched.Str("title"));
        var forManager = await manager.GetJsonAsync($"/v1/conversations/{conversationId}/canned-replies?q=price");
        Assert.Equal($"换屏报价 ¥799（{managerName}）", forManager.Json[0].GetProperty("text").GetString());

        // Other stores and organizations see nothing of it.
        var bags = await app.LoginAsync("agent.bags@demo.local");
        var franchise = await app.LoginAsync("agent@franchise.demo.local");
        Assert.Equal((404, "not_found"), await StatusAsync(bags.GetJsonAsync($"/v1/stores/{store}/canned-replies")));
        Assert.Equal((404, "not_found"), await StatusAsync(franchise.PatchJsonAsync($"/v1/canned-replies/{id}", new { title = "mine" })));
        Assert.Equal((404, "not_found"), await StatusAsync(bags.GetJsonAsync($"/v1/conversations/{conversationId}/canned-replies")));

        Assert.Equal(204, (await manager.DeleteJsonAsync($"/v1/canned-replies/{id}")).Status);
        Assert.Equal((404, "not_found"), await StatusAsync(manager.DeleteJsonAsync($"/v1/canned-replies/{id}")));
        Assert.Equal(3, (await agent.GetJsonAsync($"/v1/stores/{store}/canned-replies")).Json.GetArrayLength());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Resolving_sends_a_rating_card_and_the_customer_rates_once_per_resolution(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var agentId = (await agent.GetJsonAsync("/v1/me")).Str("id");
        await MessagingTests.SendAsync(customer, id, "耳机没声音了");
        Assert.Equal(201, (await MessagingTests.SendAsync(agent, id, "请重新配对试试")).Status);

        Assert.Equal((409, "conflict"), await StatusAsync(customer.PostJsonAsync($"/v1/conversations/{id}/csat", new { rating = 5 })));
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/conversations/{id}/resolve")).Status);

        var card = Messages(await customer.GetJsonAsync($"/v1/conversations/{id}/messages?after_seq=0")).Last();
        Assert.Equal("card", card.GetProperty("kind").GetString());
        var body = card.GetProperty("body");
        Assert.Equal(("csat", id), (body.GetProperty("ref").GetProperty("type").GetString(), body.GetProperty("ref").GetProperty("id").GetString()));
        Assert.Equal(["csat:1", "csat:2", "csat:3", "csat:4", "csat:5"], body.GetProperty("actions").EnumerateArray().Select(a => a.GetProperty("id").GetString()));
        Assert.Equal("数码客服", body.GetProperty("fields")[0].GetProperty("value").GetString());
        // The card does not reopen the conversation.
        Assert.Equal("resolved", (await customer.GetJsonAsync($"/v1/conversations/{id}")).Str("state"));

        foreach (var bad in new object[] { new { rating = 0 }, new { rating = 6 }, new { rating = "5" }, new { comment = "no rating" }, new { rating = 3, comment = new string('长', 501) } })
            Assert.Equal(400, (await customer.PostJsonAsync($"/v1/conversations/{id}/csat", bad)).Status);
        Assert.Equal((403, "forbidden"), await StatusAsync(agent.PostJsonAsync($"/v1/conversations/{id}/csat", new { rating = 5 })));
        var stranger = await app.VisitorAsync("demo-digital");
        Assert.Equal((404, "not_found"), await StatusAsync(stranger.PostJsonAsync($"/v1/conversations/{id}/csat", new { rating = 1 })));

        var rated = await customer.PostJsonAsync($"/v1/conversations/{id}/csat", new { rating = 2, comment = "等太久" });
        Assert.Equal(200, rated.Status);
        Assert.Equal((agentId, 2), (rated.Str("agent_id"), rated.Json.GetProperty("rating").GetInt32()));
        var changed = await customer.PostJsonAsync($"/v1/conversations/{id}/csat", new { rating = 4 });
        Assert.Equal(200, changed.Status);
        var ratings = await agent.GetJsonAsync($"/v1/conversations/{id}/csat");
        var only = Assert.Single(ratings.Json.EnumerateArray());
        Assert.Equal(4, only.GetProperty("rating").GetInt32());
        var thanks = Messages(await customer.GetJsonAsync($"/v1/conversations/{id}/messages?after_seq=0")).Where(m => m.GetProperty("kind").GetString() == "system"
            && m.GetProperty("body").GetProperty("text").GetString() == "感谢您的评价！");
        Assert.Single(thanks);

        // A new message reopens it; the next resolution gets a rating of its own.
        await MessagingTests.SendAsync(customer, id, "又没声音了");
        Assert.Equal((409, "conflict"), await StatusAsync(customer.PostJsonAsync($"/v1/conversations/{id}/csat", new { rating = 1 })));
        await MessagingTests.SendAsync(agent, id, "请到店检测");
        app.Clock.Advance(TimeSpan.FromSeconds(1));
        await agent.PostJsonAsync($"/v1/conversations/{id}/resolve");
        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/conversations/{id}/csat", new { rating = 5 })).Status);
        Assert.Equal([5, 4], (await agent.GetJsonAsync($"/v1/conversations/{id}/csat")).Json.EnumerateArray().Select(r => r.GetProperty("rating").GetInt32()));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_mention_in_a_note_notifies_the_colleague_and_never_reaches_the_customer(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var tech = await app.LoginAsync("tech.digital@demo.local");
        var techId = (await tech.GetJsonAsync("/v1/me")).Str("id");
        var bagsId = (await (await app.LoginAsync("agent.bags@demo.local")).GetJsonAsync("/v1/me")).Str("id");
        await using var techSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(tech));
        await using var customerSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));
        var notesId = (await agent.GetJsonAsync($"/v1/conversations/{id}")).Str("notes_id");

        Assert.Equal(400, (await Note(agent, id, "@师傅 看看", new[] { techId })).Status); // not in the customer's conversation
        Assert.Equal(400, (await Note(agent, notesId, "@箱包 看看", new[] { bagsId })).Status); // not staff of this store
        Assert.Equal(400, (await Note(agent, notesId, "x", "not a list")).Status);
        Assert.Equal(400, (await Note(agent, notesId, "x", Enumerable.Range(0, 21).Select(i => $"stf_{i}").ToArray())).Status);

        var note = await Note(agent, notesId, "@数码维修师傅 客户说进水了，帮忙看下报价", new[] { techId });
        Assert.Equal(201, note.Status);
        Assert.Equal([techId], note.Json.GetProperty("body").GetProperty("mentions").EnumerateArray().Select(m => m.GetString()));
        var pushed = await techSocket.NextOfTypeAsync("mention");
        Assert.Equal((notesId, id), (pushed.GetProperty("conversation_id").GetString(), pushed.GetProperty("parent_id").GetString()));
        Assert.Equal(note.Str("id"), pushed.GetProperty("message").GetProperty("id").GetString());

        var listed = await tech.GetJsonAsync("/v1/desk/mentions");
        Assert.Equal(note.Str("id"), Assert.Single(listed.Json.EnumerateArray()).GetProperty("message").GetProperty("id").GetString());
        Assert.Empty((await agent.GetJsonAsync("/v1/desk/mentions")).Json.EnumerateArray());
        Assert.Equal(404, (await customer.GetJsonAsync($"/v1/conversations/{notesId}/messages")).Status);
        Assert.True(await customerSocket.NothingAsync(f => f.GetProperty("type").GetString() is "mention" or "message", TimeSpan.FromMilliseconds(300)));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Colleagues_see_who_is_viewing_a_conversation_and_the_customer_does_not(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var manager = await app.LoginAsync("manager.digital@demo.local");
        await using var agentSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(agent));
        await using var managerSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(manager));
        await using var customerSocket = await app.ConnectAsync(StoreLinkApp.TokenOf(customer));

        await agentSocket.SendRawAsync(JsonSerializer.Serialize(new { type = "viewing", conversation_id = id }));
        var seen = await managerSocket.NextOfTypeAsync("viewing");
        Assert.Equal(("数码客服", true), (seen.GetProperty("name").GetString(), seen.GetProperty("active").GetBoolean()));
        await agentSocket.SendRawAsync(JsonSerializer.Serialize(new { type = "viewing", conversation_id = id, active = false }));
        Assert.False((await managerSocket.NextOfTypeAsync("viewing")).GetProperty("active").GetBoolean());
        Assert.True(await customerSocket.NothingAsync(f => f.GetProperty("type").GetString() == "viewing", TimeSpan.FromMilliseconds(300)));

        // Customers may not announce viewing; unknown conversations are not found.
        var refused = await customerSocket.RequestAsync(new { type = "viewing", rid = "v1", conversation_id = id });
        Assert.Equal("forbidden", refused.GetProperty("code").GetString());
        var missing = await agentSocket.RequestAsync(new { type = "viewing", rid = "v2", conversation_id = "cnv_missing" });
        Assert.Equal("not_found", missing.GetProperty("code").GetString());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task The_customer_panel_shows_profile_purchases_and_earlier_conversations_of_the_store(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, first) = await SignedInCustomerAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        await MessagingTests.SendAsync(customer, first, "手机屏幕碎了");
        await MessagingTests.SendAsync(agent, first, "请到店检测");
        await agent.PostJsonAsync($"/v1/conversations/{first}/resolve");
        await customer.PostJsonAsync($"/v1/conversations/{first}/csat", new { rating = 4 });
        // The same customer also talks to the bag store, which the digital agent does not work in.
        await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-bags" });
        var second = (await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" })).Str("id");
        Assert.NotEqual(first, second);
        await MessagingTests.SendAsync(customer, second, "耳机也坏了");

        var panel = await agent.GetJsonAsync($"/v1/desk/conversations/{second}/customer");
        Assert.Equal(200, panel.Status);
        var profile = panel.Json.GetProperty("customer");
        Assert.Equal(("演示顾客一", 2, "C1001"), (profile.GetProperty("name").GetString(), profile.GetProperty("vip_level").GetInt32(), profile.GetProperty("external_id").GetString()));
        Assert.Equal(["SO-20260915-0001", "SO-20261020-0107"], panel.Json.GetProperty("purchases").EnumerateArray().Select(p => p.GetProperty("order_no").GetString()).Order());
        var talks = panel.Json.GetProperty("conversations").EnumerateArray().ToList();
        Assert.Equal([second, first], talks.Select(c => c.GetProperty("id").GetString()));
        Assert.Equal("resolved", talks[1].GetProperty("state").GetString());
        Assert.Equal("耳机也坏了", talks[0].GetProperty("last_message").GetProperty("body").GetProperty("text").GetString());
        Assert.Equal(4.0, panel.Json.GetProperty("average_rating").GetDouble());

        Assert.Equal((404, "not_found"), await StatusAsync((await app.LoginAsync("agent.bags@demo.local")).GetJsonAsync($"/v1/desk/conversations/{second}/customer")));
        Assert.Equal((403, "forbidden"), await StatusAsync(customer.GetJsonAsync($"/v1/desk/conversations/{second}/customer")));
        Assert.Equal((404, "not_found"), await StatusAsync(agent.GetJsonAsync("/v1/desk/conversations/cnv_nope/customer")));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_retry_of_a_reply_sent_before_a_reassignment_answers_the_stored_message(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var manager = await app.LoginAsync("manager.digital@demo.local");
        await MessagingTests.SendAsync(customer, id, "在吗");
        var first = await MessagingTests.SendAsync(agent, id, "您好", "reply-1");
        Assert.Equal(201, first.Status);
        var managerId = (await manager.GetJsonAsync("/v1/me")).Str("id");
        Assert.Equal(200, (await manager.PostJsonAsync($"/v1/desk/conversations/{id}/assign", new { agent_id = managerId })).Status);

        var retry = await MessagingTests.SendAsync(agent, id, "您好", "reply-1");
        Assert.Equal((200, first.Str("id")), (retry.Status, retry.Str("id")));
        Assert.Equal((403, "forbidden"), await StatusAsync(MessagingTests.SendAsync(agent, id, "还有问题吗", "reply-2")));
    }

    private static Task<ApiResponse> Note(HttpClient staff, string conversationId, string text, object mentions) =>
        staff.PostJsonAsync($"/v1/conversations/{conversationId}/messages",
            new { client_msg_id = Guid.NewGuid().ToString("N"), kind = "text", body = new { text, mentions } });

    private static async Task<(int, string?)> StatusAsync(Task<ApiResponse> call)
    {
        var response = await call;
        return (response.Status, response.Code);
    }
}
