using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Conversations;

/// <summary>Conversations and messages over REST, on both databases.</summary>
public sealed class MessagingTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    public static async Task<(HttpClient Customer, string ConversationId)> OpenAsync(StoreLinkApp app, string store = "demo-digital")
    {
        var customer = await app.VisitorAsync(store);
        var opened = await customer.PostJsonAsync("/v1/conversations", new { store_key = store });
        Assert.Equal(201, opened.Status);
        return (customer, opened.Str("id"));
    }

    public static Task<ApiResponse> SendAsync(HttpClient client, string conversationId, string text, string? clientMsgId = null) =>
        client.PostJsonAsync($"/v1/conversations/{conversationId}/messages",
            new { client_msg_id = clientMsgId ?? Guid.NewGuid().ToString("N"), kind = "text", body = new { text } });

    [Theory, MemberData(nameof(Databases))]
    public async Task A_customer_opens_one_conversation_per_store_and_the_store_staff_see_it(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, id) = await OpenAsync(app);
        var again = await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" });
        Assert.Equal((200, id), (again.Status, again.Str("id")));
        var other = await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-bags" });
        Assert.Equal(201, other.Status);
        Assert.NotEqual(id, other.Str("id"));
        Assert.Equal(404, (await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-franchise" })).Status);

        var agent = await app.LoginAsync("agent.digital@demo.local");
        var seen = await agent.GetJsonAsync($"/v1/conversations/{id}");
        Assert.Equal(200, seen.Status);
        Assert.Equal("service", seen.Str("kind"));
        Assert.StartsWith("cnv_", seen.Str("notes_id"));
        Assert.Contains((await agent.GetJsonAsync("/v1/conversations")).Json.EnumerateArray(), c => c.GetProperty("id").GetString() == id);
        Assert.False((await customer.GetJsonAsync($"/v1/conversations/{id}")).Json.TryGetProperty("notes_id", out _));

        foreach (var login in new[] { "agent.bags@demo.local", "agent@franchise.demo.local" })
        {
            var stranger = await app.LoginAsync(login);
            Assert.Equal(404, (await stranger.GetJsonAsync($"/v1/conversations/{id}")).Status);
            Assert.Equal(404, (await SendAsync(stranger, id, "hi")).Status);
            Assert.DoesNotContain((await stranger.GetJsonAsync("/v1/conversations")).Json.EnumerateArray(), c => c.GetProperty("id").GetString() == id);
        }
        var otherVisitor = await app.VisitorAsync("demo-digital");
        Assert.Equal(404, (await otherVisitor.GetJsonAsync($"/v1/conversations/{id}/messages")).Status);
        Assert.Equal(403, (await agent.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" })).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Sends_get_gapless_seqs_and_a_repeated_client_msg_id_answers_the_stored_message(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, id) = await OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");

        var first = await SendAsync(customer, id, "屏幕碎了", "c-1");
        Assert.Equal(201, first.Status);
        Assert.Equal(1, first.Json.GetProperty("seq").GetInt64());
        Assert.Equal("customer", first.Json.GetProperty("sender").GetProperty("kind").GetString());
        Assert.Equal("屏幕碎了", first.Json.GetProperty("body").GetProperty("text").GetString());
        Assert.False(first.Json.GetProperty("recalled").GetBoolean());

        var repeat = await SendAsync(customer, id, "屏幕碎了", "c-1");
        Assert.Equal(200, repeat.Status);
        Assert.Equal(first.Str("id"), repeat.Str("id"));
        Assert.Equal(2, (await SendAsync(agent, id, "您好，请问是什么型号？", "a-1")).Json.GetProperty("seq").GetInt64());
        Assert.Equal(3, (await SendAsync(customer, id, "iPhone 16 Pro", "c-2")).Json.GetProperty("seq").GetInt64());

        var history = await customer.GetJsonAsync($"/v1/conversations/{id}/messages?after_seq=0");
        Assert.Equal([1L, 2L, 3L], history.Json.EnumerateArray().Select(m => m.GetProperty("seq").GetInt64()));
        var after = await customer.GetJsonAsync($"/v1/conversations/{id}/messages?after_seq=1&limit=1");
        Assert.Equal(2, Assert.Single(after.Json.EnumerateArray()).GetProperty("seq").GetInt64());
        var back = await customer.GetJsonAsync($"/v1/conversations/{id}/messages?before_seq=3");
        Assert.Equal([2L, 1L], back.Json.EnumerateArray().Select(m => m.GetProperty("seq").GetInt64()));

        var conversation = await agent.GetJsonAsync($"/v1/conversations/{id}");
        Assert.Equal(3, conversation.Json.GetProperty("last_seq").GetInt64());
        Assert.Equal(2, conversation.Json.GetProperty("read_seq").GetInt64());
        Assert.Equal(1, conversation.Json.GetProperty("unread").GetInt64());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Many_concurrent_senders_get_every_seq_exactly_once(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, id) = await OpenAsync(app);
        // Managers and org admins may write whoever serves the conversation (an agent's reply would claim it).
        var agents = new[] { await app.LoginAsync("admin@demo.local"), await app.LoginAsync("manager.digital@demo.local"), customer };
        var sends = Enumerable.Range(0, 120).Select(i => SendAsync(agents[i % 3], id, $"m{i}", $"id-{i}")).ToList();
        // Half of them again at the same time: retries of the same ids.
        sends.AddRange(Enumerable.Range(0, 60).Select(i => SendAsync(agents[i % 3], id, $"m{i}", $"id-{i}")));
        var results = await Task.WhenAll(sends);
        Assert.All(results, r => Assert.True(r.Status is 200 or 201, r.ToString()));
        Assert.Equal(120, results.Count(r => r.Status == 201));

        var seqs = new List<long>();
        for (long after = 0; ;)
        {
            var page = (await customer.GetJsonAsync($"/v1/conversations/{id}/messages?after_seq={after}&limit=200")).Json.EnumerateArray().ToList();
            if (page.Count == 0)
                break;
            seqs.AddRange(page.Select(m => m.GetProperty("seq").GetInt64()));
            after = seqs[^1];
        }
        Assert.Equal(Enumerable.Range(1, 120).Select(i => (long)i), seqs);
        // The stored message of every retry is the original.
        var byClientId = results.GroupBy(r => r.Json.GetProperty("client_msg_id").GetString()).ToList();
        Assert.All(byClientId, g => Assert.Single(g.Select(r => r.Str("id")).Distinct()));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Bodies_are_checked_by_kind(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?> { ["Messages:MaxTextLength"] = "10" });
        var (customer, id) = await OpenAsync(app);
        async Task<ApiResponse> Post(object body) => await customer.PostJsonAsync($"/v1/conversations/{id}/messages", body);

        Assert.Equal((413, "too_large"), ((await Post(new { client_msg_id = "a", kind = "text", body = new { text = "一二三四五六七八九十十一" } })) is var r1 ? (r1.Status, r1.Code) : default));
        Assert.Equal(201, (await Post(new { client_msg_id = "b", kind = "text", body = new { text = "一二三四五六七八九十" } })).Status);
        foreach (var bad in new object[]
        {
            new { client_msg_id = "c", kind = "card", body = new { title = "x" } },
            new { client_msg_id = "d", kind = "system", body = new { text = "x" } },
            new { client_msg_id = "e", kind = "sticker", body = new { text = "x" } },
            new { client_msg_id = "f", kind = "text", body = new { text = "" } },
            new { client_msg_id = "g", kind = "text", body = new { text = 5 } },
            new { client_msg_id = "h", kind = "text" },
            new { kind = "text", body = new { text = "no id" } },
            new { client_msg_id = new string('x', 65), kind = "text", body = new { text = "long id" } },
            new { client_msg_id = "i", kind = "location", body = new { latitude = 91, longitude = 0 } },
            new { client_msg_id = "j", kind = "image", body = new { attachment_id = "att_nope" } },
            new { client_msg_id = "k", kind = "voice", body = new { attachment_id = "att_nope", duration_ms = 1000 } },
        })
        {
            var response = await Post(bad);
            Assert.True(response is { Status: 400, Code: "invalid_request" }, $"{JsonSerializer.Serialize(bad)} → {response}");
        }
        var location = await Post(new { client_msg_id = "l", kind = "location", body = new { latitude = 31.2304, longitude = 121.4737, label = "南京东路店", extra = "dropped" } });
        Assert.Equal(201, location.Status);
        Assert.Equal("南京东路店", location.Json.GetProperty("body").GetProperty("label").GetString());
        Assert.False(location.Json.GetProperty("body").TryGetProperty("extra", out _));
        Assert.Empty(app.Log.Errors);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Notes_are_for_staff_only(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, id) = await OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var notesId = (await agent.GetJsonAsync($"/v1/conversations/{id}")).Str("notes_id");
        var note = await SendAsync(agent, notesId, "这位顾客上周来过，屏幕保修期内");
        Assert.Equal(201, note.Status);
        Assert.Equal(1, note.Json.GetProperty("seq").GetInt64());
        var tech = await app.LoginAsync("tech.digital@demo.local");
        Assert.Single((await tech.GetJsonAsync($"/v1/conversations/{notesId}/messages")).Json.EnumerateArray());

        Assert.Equal(404, (await customer.GetJsonAsync($"/v1/conversations/{notesId}")).Status);
        Assert.Equal(404, (await customer.GetJsonAsync($"/v1/conversations/{notesId}/messages")).Status);
        Assert.Equal(404, (await SendAsync(customer, notesId, "let me in")).Status);
        Assert.Equal(404, (await (await app.LoginAsync("agent.bags@demo.local")).GetJsonAsync($"/v1/conversations/{notesId}")).Status);
        Assert.DoesNotContain((await customer.GetJsonAsync("/v1/conversations")).Json.EnumerateArray(), c => c.GetProperty("id").GetString() == notesId);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_resolved_conversation_is_reopened_by_the_customers_next_message(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, id) = await OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        await SendAsync(customer, id, "谢谢");
        Assert.Equal(403, (await customer.PostJsonAsync($"/v1/conversations/{id}/resolve")).Status);
        Assert.Equal("resolved", (await agent.PostJsonAsync($"/v1/conversations/{id}/resolve")).Str("state"));
        Assert.Equal(201, (await SendAsync(agent, id, "欢迎再来")).Status);
        Assert.Equal("resolved", (await customer.GetJsonAsync($"/v1/conversations/{id}")).Str("state"));

        Assert.Equal(201, (await SendAsync(customer, id, "还有一个问题")).Status);
        Assert.Equal("open", (await customer.GetJsonAsync($"/v1/conversations/{id}")).Str("state"));
        Assert.Equal((200, id), ((await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" })) is var r ? (r.Status, r.Str("id")) : default));

        // Resolved again, a new conversation is opened on request; the old one cannot be reopened beside it.
        await agent.PostJsonAsync($"/v1/conversations/{id}/resolve");
        var fresh = await customer.PostJsonAsync("/v1/conversations", new { store_key = "demo-digital" });
        Assert.Equal(201, fresh.Status);
        var blocked = await SendAsync(customer, id, "old thread");
        Assert.Equal((409, "conflict"), (blocked.Status, blocked.Code));
        Assert.Equal(1, (await SendAsync(customer, fresh.Str("id"), "new thread")).Json.GetProperty("seq").GetInt64());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Read_and_delivered_watermarks_only_move_forward(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, id) = await OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        for (var i = 0; i < 5; i++)
            await SendAsync(customer, id, $"m{i}");

        Assert.Equal(5, (await agent.GetJsonAsync($"/v1/conversations/{id}")).Json.GetProperty("unread").GetInt64());
        var delivered = await agent.PostJsonAsync($"/v1/conversations/{id}/delivered", new { seq = 4 });
        Assert.Equal((0, 4), (delivered.Json.GetProperty("read_seq").GetInt64(), delivered.Json.GetProperty("delivered_seq").GetInt64()));
        var read = await agent.PostJsonAsync($"/v1/conversations/{id}/read", new { seq = 3 });
        Assert.Equal((3, 4), (read.Json.GetProperty("read_seq").GetInt64(), read.Json.GetProperty("delivered_seq").GetInt64()));
        var back = await agent.PostJsonAsync($"/v1/conversations/{id}/read", new { seq = 1 });
        Assert.Equal(3, back.Json.GetProperty("read_seq").GetInt64());
        var beyond = await agent.PostJsonAsync($"/v1/conversations/{id}/read", new { seq = 1000 });
        Assert.Equal((5, 5), (beyond.Json.GetProperty("read_seq").GetInt64(), beyond.Json.GetProperty("delivered_seq").GetInt64()));
        Assert.Equal(0, (await agent.GetJsonAsync($"/v1/conversations/{id}")).Json.GetProperty("unread").GetInt64());
        Assert.Equal(400, (await agent.PostJsonAsync($"/v1/conversations/{id}/read", new { seq = -1 })).Status);

        var receipts = await customer.GetJsonAsync($"/v1/conversations/{id}/receipts");
        var agentId = (await agent.GetJsonAsync("/v1/me")).Str("id");
        Assert.Equal(5, receipts.Json.EnumerateArray().Single(r => r.GetProperty("user_id").GetString() == agentId).GetProperty("read_seq").GetInt64());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Recall_by_the_sender_in_time_or_a_manager_any_time(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, id) = await OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var mine = await SendAsync(customer, id, "发错了");
        var theirs = await SendAsync(agent, id, "稍等");

        Assert.Equal((403, "forbidden"), ((await customer.PostJsonAsync($"/v1/messages/{theirs.Str("id")}/recall")) is var r ? (r.Status, r.Code) : default));
        var recalled = await customer.PostJsonAsync($"/v1/messages/{mine.Str("id")}/recall");
        Assert.Equal(200, recalled.Status);
        Assert.True(recalled.Json.GetProperty("recalled").GetBoolean());
        Assert.False(recalled.Json.TryGetProperty("body", out _));
        var history = (await agent.GetJsonAsync($"/v1/conversations/{id}/messages")).Json.EnumerateArray().ToList();
        Assert.Equal(1, history[0].GetProperty("seq").GetInt64());
        Assert.True(history[0].GetProperty("recalled").GetBoolean());
        Assert.False(history[0].TryGetProperty("body", out _));
        Assert.Equal("稍等", history[1].GetProperty("body").GetProperty("text").GetString());

        app.Clock.Advance(TimeSpan.FromMinutes(3));
        var late = await agent.PostJsonAsync($"/v1/messages/{theirs.Str("id")}/recall");
        Assert.Equal((403, "forbidden"), (late.Status, late.Code));
        var manager = await app.LoginAsync("manager.digital@demo.local");
        Assert.True((await manager.PostJsonAsync($"/v1/messages/{theirs.Str("id")}/recall")).Json.GetProperty("recalled").GetBoolean());
        Assert.Equal(404, (await (await app.LoginAsync("agent@franchise.demo.local")).PostJsonAsync($"/v1/messages/{theirs.Str("id")}/recall")).Status);

        // The window is the organization's to set.
        var admin = await app.LoginAsync("admin@demo.local");
        Assert.Equal(403, (await manager.PatchJsonAsync("/v1/organization", new { recall_window_seconds = 600 })).Status);
        Assert.Equal(600, (await admin.PatchJsonAsync("/v1/organization", new { recall_window_seconds = 600 })).Json.GetProperty("recall_window_seconds").GetInt32());
        Assert.Equal(400, (await admin.PatchJsonAsync("/v1/organization", new { recall_window_seconds = -1 })).Status);
        var later = await SendAsync(customer, id, "五分钟后撤回");
        app.Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(200, (await customer.PostJsonAsync($"/v1/messages/{later.Str("id")}/recall")).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Direct_and_group_conversations_belong_to_their_members(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var admin = await app.LoginAsync("admin@demo.local");
        var staff = (await admin.GetJsonAsync("/v1/staff")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("login").GetString()!, s => s.GetProperty("id").GetString()!);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var tech = await app.LoginAsync("tech.digital@demo.local");

        var direct = await agent.PostJsonAsync("/v1/conversations", new { kind = "direct", user_id = staff["tech.digital@demo.local"] });
        Assert.Equal(201, direct.Status);
        var again = await tech.PostJsonAsync("/v1/conversations", new { kind = "direct", user_id = staff["agent.digital@demo.local"] });
        Assert.Equal((200, direct.Str("id")), (again.Status, again.Str("id")));
        Assert.Equal(201, (await SendAsync(tech, direct.Str("id"), "那台手机修好了")).Status);
        Assert.Equal(404, (await admin.GetJsonAsync($"/v1/conversations/{direct.Str("id")}")).Status);
        var franchiseAgent = (await (await app.LoginAsync("agent@franchise.demo.local")).GetJsonAsync("/v1/me")).Str("id");
        Assert.Equal(404, (await agent.PostJsonAsync("/v1/conversations", new { kind = "direct", user_id = franchiseAgent })).Status);

        var group = await agent.PostJsonAsync("/v1/conversations", new { kind = "group", name = "仓库群", member_ids = new[] { staff["agent.bags@demo.local"] } });
        Assert.Equal(201, group.Status);
        var groupId = group.Str("id");
        Assert.Equal(2, group.Json.GetProperty("member_ids").GetArrayLength());
        var bags = await app.LoginAsync("agent.bags@demo.local");
        Assert.Equal(201, (await SendAsync(bags, groupId, "到货了")).Status);
        Assert.Equal(404, (await SendAsync(tech, groupId, "我也要看")).Status);

        Assert.Equal(403, (await bags.PostJsonAsync($"/v1/conversations/{groupId}/members", new { user_ids = new[] { staff["tech.digital@demo.local"] } })).Status);
        var manager = await app.LoginAsync("manager.digital@demo.local");
        Assert.Equal(404, (await manager.PostJsonAsync($"/v1/conversations/{groupId}/members", new { user_ids = new[] { staff["tech.digital@demo.local"] } })).Status);
        Assert.Equal(200, (await agent.PostJsonAsync($"/v1/conversations/{groupId}/members", new { user_ids = new[] { staff["tech.digital@demo.local"], staff["manager.digital@demo.local"] } })).Status);
        Assert.Equal(201, (await SendAsync(tech, groupId, "收到")).Status);
        Assert.Equal(400, (await agent.PostJsonAsync($"/v1/conversations/{groupId}/members", new { user_ids = new[] { franchiseAgent } })).Status);

        Assert.Equal(200, (await manager.DeleteJsonAsync($"/v1/conversations/{groupId}/members/{staff["agent.bags@demo.local"]}")).Status);
        Assert.Equal(404, (await bags.GetJsonAsync($"/v1/conversations/{groupId}/messages")).Status);
        Assert.Equal(200, (await tech.DeleteJsonAsync($"/v1/conversations/{groupId}/members/{staff["tech.digital@demo.local"]}")).Status);
        Assert.Equal(404, (await SendAsync(tech, groupId, "我走了")).Status);
        var history = (await agent.GetJsonAsync($"/v1/conversations/{groupId}/messages")).Json.EnumerateArray().Select(m => m.GetProperty("seq").GetInt64());
        Assert.Equal([1L, 2L], history);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_null_in_a_list_of_members_is_invalid_request(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var manager = (await (await app.LoginAsync("manager.digital@demo.local")).GetJsonAsync("/v1/me")).Str("id");
        foreach (var members in new[] { "[null]", $"[null,\"{manager}\"]", $"[\"{manager}\",null]" })
        {
            var group = await agent.SendRawAsync(HttpMethod.Post, "/v1/conversations", $"{{\"kind\":\"group\",\"name\":\"g\",\"member_ids\":{members}}}");
            Assert.True(group is { Status: 400, Code: "invalid_request" }, $"{members}: {group}");
        }
        var groupId = (await agent.PostJsonAsync("/v1/conversations", new { kind = "group", name = "g", member_ids = new[] { manager } })).Str("id");
        var add = await agent.SendRawAsync(HttpMethod.Post, $"/v1/conversations/{groupId}/members", "{\"user_ids\":[null]}");
        Assert.Equal((400, "invalid_request"), (add.Status, add.Code));
        Assert.Empty(app.Log.Errors);
    }
}
