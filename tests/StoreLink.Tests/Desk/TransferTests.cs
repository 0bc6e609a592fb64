using System.Text.Json;
using StoreLink.Tests.Infrastructure;
using static StoreLink.Tests.Desk.DeskScene;

namespace StoreLink.Tests.Desk;

/// <summary>
/// Who serves a conversation once it is assigned: transfer, reassignment by managers, what colleagues may not do,
/// who hears of it live, its states and labels, and whom a rating reaches.
/// </summary>
public sealed class TransferTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_transfer_goes_only_to_an_online_colleague_with_a_note_the_receiver_sees_and_the_customer_never_does(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (x, customer) = await scene.ServedAsync("转出客服", "手机换屏多少钱");
        var y = await scene.AgentAsync("接手客服");
        var offline = await scene.AgentAsync("下班客服", connect: false);
        var away = await scene.AgentAsync("离开客服", status: "away");
        var staff = await scene.StaffIdsAsync();
        var franchise = (await (await scene.App.LoginAsync("agent@franchise.demo.local")).GetJsonAsync("/v1/me")).Str("id");
        var id = customer.ConversationId;
        var notesId = (await x.Http.GetJsonAsync($"/v1/conversations/{id}")).Str("notes_id");
        string Transfer() => $"/v1/desk/conversations/{id}/transfer";

        Assert.Equal((409, "conflict"), await StatusAsync(x.Http.PostJsonAsync(Transfer(), new { agent_id = offline.Id })));
        Assert.Equal((409, "conflict"), await StatusAsync(x.Http.PostJsonAsync(Transfer(), new { agent_id = away.Id })));
        Assert.Equal((400, "invalid_request"), await StatusAsync(x.Http.PostJsonAsync(Transfer(), new { agent_id = staff["tech.digital@demo.local"] })));
        Assert.Equal((404, "not_found"), await StatusAsync(x.Http.PostJsonAsync(Transfer(), new { agent_id = franchise })));
        Assert.Equal((400, "invalid_request"), await StatusAsync(x.Http.PostJsonAsync(Transfer(), new { })));
        Assert.Equal((400, "invalid_request"), await StatusAsync(x.Http.PostJsonAsync(Transfer(), new { agent_id = y.Id, queue_id = "que_x" })));
        Assert.Equal((413, "too_large"), await StatusAsync(x.Http.PostJsonAsync(Transfer(), new { agent_id = y.Id, note = new string('长', 1001) })));
        Assert.Equal((403, "forbidden"), await StatusAsync(y.Http.PostJsonAsync(Transfer(), new { agent_id = y.Id })));
        Assert.Equal((403, "forbidden"), await StatusAsync(customer.Http.PostJsonAsync(Transfer(), new { agent_id = y.Id })));
        Assert.Equal(x.Id, await scene.AssigneeAsync(id));

        var moved = await x.Http.PostJsonAsync(Transfer(), new { agent_id = y.Id, note = "顾客要换屏，已报价 ¥899" });
        Assert.Equal((200, y.Id), (moved.Status, moved.Str("assignee_id")));
        var note = await y.Ws.NextAsync(f => IsMessageIn(f, notesId));
        Assert.Equal("转接给 接手客服：顾客要换屏，已报价 ¥899", TextOf(note.GetProperty("message")));
        Assert.Equal(y.Id, await customer.AssignedAsync());
        Assert.DoesNotContain(await customer.MessagesAsync(), m => TextOf(m)?.Contains("¥899") == true);
        Assert.Equal(404, (await customer.Http.GetJsonAsync($"/v1/conversations/{notesId}/messages")).Status);
        Assert.Equal((403, "forbidden"), await StatusAsync(x.SendAsync(id, "还在吗")));
        Assert.Equal(201, (await y.SendAsync(id, "您好，我来接手")).Status);

        // Back into a queue: it waits there and an agent of that queue gets it, with the note.
        var computers = await scene.QueueAsync("电脑", agents: [x]);
        var bagsQueue = (await scene.Admin.PostJsonAsync($"/v1/stores/{await StoreIdAsync(scene.Admin, "demo-bags")}/queues", new { name = "批发" })).Str("id");
        Assert.Equal((404, "not_found"), await StatusAsync(y.Http.PostJsonAsync(Transfer(), new { queue_id = bagsQueue })));
        Assert.Equal(200, (await y.Http.PostJsonAsync(Transfer(), new { queue_id = computers, note = "其实是电脑问题" })).Status);
        Assert.Equal(x.Id, await customer.AssignedAsync());
        var queued = await x.Ws.NextAsync(f => IsMessageIn(f, notesId) && TextOf(f.GetProperty("message"))!.Contains("电脑"));
        Assert.Equal("转接给 队列「电脑」：其实是电脑问题", TextOf(queued.GetProperty("message")));
        Assert.Equal(computers, (await scene.ConversationAsync(id)).GetProperty("queue_id").GetString());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_conversation_transferred_to_a_queue_goes_to_someone_else_even_when_its_agent_is_the_least_busy_unless_nobody_else_is_online(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (x, first) = await scene.ServedAsync("转出客服", "手机换屏多少钱");
        var y = await scene.AgentAsync("同组客服");
        var second = await scene.CustomerAsync();
        await second.SendAsync("电池不耐用");
        Assert.Equal(y.Id, await second.AssignedAsync());
        var phones = await scene.QueueAsync("手机", agents: [x, y]);
        string Transfer() => $"/v1/desk/conversations/{first.ConversationId}/transfer";

        // One conversation each; handing one back to the queue leaves its agent the least busy, yet the colleague gets it.
        Assert.Equal(200, (await x.Http.PostJsonAsync(Transfer(), new { queue_id = phones, note = "我要下班了" })).Status);
        Assert.Equal(y.Id, await first.AssignedAsync());
        Assert.Equal(y.Id, await scene.AssigneeAsync(first.ConversationId));

        // With the colleague away, the agent who hands it on is the only one left: it comes back rather than waiting for nobody.
        Assert.Equal(200, (await x.Http.PutJsonAsync("/v1/me/presence", new { status = "away" })).Status);
        Assert.Equal(200, (await y.Http.PostJsonAsync(Transfer(), new { queue_id = phones })).Status);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string? assignee;
        while ((assignee = await scene.AssigneeAsync(first.ConversationId)) is null && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Equal(y.Id, assignee);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Managers_reassign_anything_and_an_agent_cannot_take_what_is_not_theirs(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (x, customer) = await scene.ServedAsync("甲", "耳机配对不上");
        var colleague = await scene.AgentAsync("乙");
        var offline = await scene.AgentAsync("丙", connect: false);
        var id = customer.ConversationId;
        string Assign() => $"/v1/desk/conversations/{id}/assign";

        // Not by answering, not by transferring it to themselves, not by assigning it.
        Assert.Equal((403, "forbidden"), await StatusAsync(colleague.SendAsync(id, "我来")));
        Assert.Equal((403, "forbidden"), await StatusAsync(colleague.Http.PostJsonAsync($"/v1/desk/conversations/{id}/transfer", new { agent_id = colleague.Id })));
        Assert.Equal((403, "forbidden"), await StatusAsync(colleague.Http.PostJsonAsync(Assign(), new { agent_id = colleague.Id })));
        Assert.Equal((403, "forbidden"), await StatusAsync(x.Http.PostJsonAsync(Assign(), new { agent_id = colleague.Id })));
        Assert.Equal(x.Id, await scene.AssigneeAsync(id));

        // A manager gives it to anyone of the store, online or not; nobody outside the store.
        var staff = await scene.StaffIdsAsync();
        Assert.Equal((400, "invalid_request"), await StatusAsync(scene.Manager.PostJsonAsync(Assign(), new { agent_id = staff["agent.bags@demo.local"] })));
        Assert.Equal((400, "invalid_request"), await StatusAsync(scene.Manager.PostJsonAsync(Assign(), new { agent_id = staff["tech.digital@demo.local"] })));
        var reassigned = await scene.Manager.PostJsonAsync(Assign(), new { agent_id = offline.Id });
        Assert.Equal((200, offline.Id), (reassigned.Status, reassigned.Str("assignee_id")));
        Assert.Equal(offline.Id, await customer.AssignedAsync());
        Assert.Equal((403, "forbidden"), await StatusAsync(x.SendAsync(id, "还在吗")));
        Assert.Equal(201, (await offline.SendAsync(id, "我晚点回复您")).Status);

        // Unassigned, it waits again and goes to an online agent.
        Assert.Equal(200, (await scene.Manager.PostJsonAsync(Assign(), new { agent_id = (string?)null })).Status);
        Assert.Contains(await customer.AssignedAsync(), new[] { x.Id, colleague.Id });
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Two_colleagues_answering_a_waiting_customer_at_once_one_takes_it_and_the_other_is_refused(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        // Away: they get no work by routing, but may pick a waiting customer up by answering.
        var x = await scene.AgentAsync("抢一", status: "away");
        var y = await scene.AgentAsync("抢二", status: "away");
        for (var round = 0; round < 4; round++)
        {
            var customer = await scene.CustomerAsync();
            await customer.SendAsync("有人吗");
            Assert.Null(await scene.AssigneeAsync(customer.ConversationId));
            var answers = await Task.WhenAll(x.SendAsync(customer.ConversationId, "我来"), y.SendAsync(customer.ConversationId, "我来"));
            Assert.Equal([201, 403], answers.Select(a => a.Status).Order());
            var winner = answers[0].Status == 201 ? x : y;
            Assert.Equal(winner.Id, await scene.AssigneeAsync(customer.ConversationId));
            Assert.Equal(["我来"], (await customer.MessagesAsync()).Where(m => m.GetProperty("sender").GetProperty("kind").GetString() == "staff").Select(TextOf));
        }
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Once_assigned_live_pushes_reach_the_assignee_watchers_and_managers_not_every_colleague(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var x = await scene.AgentAsync("负责客服", status: "away");
        var other = await scene.AgentAsync("旁人客服", status: "away");
        var watcher = await scene.AgentAsync("关注客服", status: "away");
        Assert.Equal(200, (await scene.Manager.PutJsonAsync("/v1/me/presence", new { status = "away" })).Status);
        var manager = await scene.SocketAsync(StoreLinkApp.TokenOf(scene.Manager));
        var customer = await scene.CustomerAsync();
        var id = customer.ConversationId;
        var notesId = (await x.Http.GetJsonAsync($"/v1/conversations/{id}")).Str("notes_id");

        // Waiting, it reaches every staff member of the store, so that someone picks it up.
        await customer.SendAsync("第一条");
        foreach (var socket in new[] { x.Ws, other.Ws, watcher.Ws, manager })
            await socket.NextAsync(f => IsMessageIn(f, id));
        await x.SetStatusAsync("online");
        Assert.Equal(x.Id, await customer.AssignedAsync());
        // Who serves it is news for every colleague (their "unassigned" view loses it); what follows is not.
        foreach (var colleague in new[] { other, watcher })
            await colleague.Ws.NextAsync(f => IsType(f, "conversation") && f.GetProperty("conversation").TryGetProperty("assignee_id", out var a) && a.GetString() == x.Id);

        // What the colleague receives up to a note in the notes thread (which every staff member of the store gets).
        var sentinels = 0;
        async Task<List<JsonElement>> OtherSeesAsync()
        {
            var text = $"备注 {++sentinels}";
            Assert.Equal(201, (await x.SendAsync(notesId, text)).Status);
            return await FramesBeforeAsync(other.Ws, f => IsText(f, notesId, text));
        }
        static bool About(JsonElement f, string id) =>
            IsMessageIn(f, id) || (IsType(f, "typing") && f.GetProperty("conversation_id").GetString() == id)
            || (IsType(f, "conversation") && f.GetProperty("conversation").GetProperty("id").GetString() == id);

        await customer.SendAsync("第二条");
        await x.Ws.NextAsync(f => IsText(f, id, "第二条"));
        await manager.NextAsync(f => IsText(f, id, "第二条"));
        await customer.Ws.SendRawAsync(JsonSerializer.Serialize(new { type = "typing", conversation_id = id }));
        await x.Ws.NextAsync(f => IsType(f, "typing") && f.GetProperty("conversation_id").GetString() == id);
        Assert.Equal(200, (await x.Http.PutJsonAsync($"/v1/desk/conversations/{id}/labels", new { labels = new[] { "换屏" } })).Status);
        await manager.NextAsync(f => IsType(f, "conversation") && f.GetProperty("conversation").GetProperty("labels").GetArrayLength() == 1);
        Assert.DoesNotContain(await OtherSeesAsync(), f => About(f, id));
        Assert.DoesNotContain(await FramesBeforeAsync(watcher.Ws, f => IsText(f, notesId, "备注 1")), f => About(f, id));

        // A watcher follows it; the colleague still does not.
        Assert.Equal(200, (await watcher.Http.PostJsonAsync($"/v1/desk/conversations/{id}/watch")).Status);
        await customer.SendAsync("第三条");
        await watcher.Ws.NextAsync(f => IsText(f, id, "第三条"));
        await x.Ws.NextAsync(f => IsText(f, id, "第三条"));
        Assert.DoesNotContain(await OtherSeesAsync(), f => About(f, id));

        // Resolved and reopened while nobody is free: it waits, and every colleague hears of it again.
        Assert.Equal(200, (await x.Http.PostJsonAsync($"/v1/conversations/{id}/resolve")).Status);
        await x.SetStatusAsync("away");
        await customer.SendAsync("又有问题了");
        var waiting = await other.Ws.NextAsync(f => IsType(f, "conversation") && f.GetProperty("conversation").GetProperty("id").GetString() == id
            && f.GetProperty("conversation").GetProperty("state").GetString() == "open");
        Assert.True(waiting.GetProperty("conversation").GetProperty("waiting").GetBoolean());
        Assert.False(waiting.GetProperty("conversation").TryGetProperty("assignee_id", out var none) && none.ValueKind == JsonValueKind.String);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_conversation_goes_open_pending_resolved_and_the_customer_reopens_it_labels_stay_with_it(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (x, customer) = await scene.ServedAsync("状态客服", "保修期多久");
        var id = customer.ConversationId;
        async Task<string> StateAsync() => (await customer.Http.GetJsonAsync($"/v1/conversations/{id}")).Str("state");
        Assert.Equal("open", await StateAsync());

        Assert.Equal((403, "forbidden"), await StatusAsync(customer.Http.PostJsonAsync($"/v1/desk/conversations/{id}/pending")));
        Assert.Equal("pending", (await x.Http.PostJsonAsync($"/v1/desk/conversations/{id}/pending")).Str("state"));
        await customer.Ws.NextAsync(f => IsType(f, "conversation") && f.GetProperty("conversation").GetProperty("state").GetString() == "pending");
        var pending = await x.Http.GetJsonAsync($"/v1/desk/inbox?store_id={scene.StoreId}&state=pending");
        Assert.Equal(id, Assert.Single(pending.Json.EnumerateArray()).GetProperty("conversation").GetProperty("id").GetString());

        // The customer answers: open again, with the same agent.
        await customer.SendAsync("一年");
        Assert.Equal("open", await StateAsync());
        Assert.Equal(x.Id, await scene.AssigneeAsync(id));

        Assert.Equal(200, (await x.Http.PutJsonAsync($"/v1/desk/conversations/{id}/labels", new { labels = new[] { "保修", " 保修 ", "耳机", "" } })).Status);
        Assert.Equal((400, "invalid_request"), await StatusAsync(x.Http.PutJsonAsync($"/v1/desk/conversations/{id}/labels", new { labels = Enumerable.Range(0, 21).Select(i => $"l{i}").ToArray() })));
        Assert.Equal((400, "invalid_request"), await StatusAsync(x.Http.PutJsonAsync($"/v1/desk/conversations/{id}/labels", new { labels = new[] { new string('长', 31) } })));
        Assert.Equal((403, "forbidden"), await StatusAsync(customer.Http.PutJsonAsync($"/v1/desk/conversations/{id}/labels", new { labels = new[] { "x" } })));

        Assert.Equal("resolved", (await x.Http.PostJsonAsync($"/v1/conversations/{id}/resolve")).Str("state"));
        Assert.Equal("resolved", (await x.Http.PostJsonAsync($"/v1/desk/conversations/{id}/pending")).Str("state")); // pending is for open ones
        Assert.Equal("resolved", await StateAsync());

        // A new message reopens it, and it is routed again.
        await customer.SendAsync("又坏了");
        Assert.Equal("open", await StateAsync());
        Assert.Equal(x.Id, await scene.AssigneeAsync(id));
        Assert.Equal(2, (await customer.MessagesAsync()).Count(m => TextOf(m) == "客服 状态客服 为您服务。"));
        var conversation = await scene.ConversationAsync(id);
        Assert.Equal(["保修", "耳机"], conversation.GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_rating_is_credited_to_the_agent_who_resolved_and_reaches_them_and_the_managers_only(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (x, customer) = await scene.ServedAsync("首接客服", "换电池");
        var y = await scene.AgentAsync("收尾客服");
        Assert.Equal(200, (await scene.Manager.PutJsonAsync("/v1/me/presence", new { status = "away" })).Status);
        var manager = await scene.SocketAsync(StoreLinkApp.TokenOf(scene.Manager));
        Assert.Equal(200, (await x.Http.PostJsonAsync($"/v1/desk/conversations/{customer.ConversationId}/transfer", new { agent_id = y.Id })).Status);
        Assert.Equal(200, (await y.Http.PostJsonAsync($"/v1/conversations/{customer.ConversationId}/resolve")).Status);

        var rated = await customer.Http.PostJsonAsync($"/v1/conversations/{customer.ConversationId}/csat", new { rating = 5, comment = "很专业" });
        Assert.Equal((200, y.Id), (rated.Status, rated.Str("agent_id")));
        foreach (var socket in new[] { y.Ws, manager })
        {
            var pushed = (await socket.NextOfTypeAsync("csat")).GetProperty("rating");
            Assert.Equal((5, "很专业", y.Id), (pushed.GetProperty("rating").GetInt32(), pushed.GetProperty("comment").GetString(), pushed.GetProperty("agent_id").GetString()));
        }
        // A second rating replaces the first; the first agent hears of neither.
        Assert.Equal(200, (await customer.Http.PostJsonAsync($"/v1/conversations/{customer.ConversationId}/csat", new { rating = 3 })).Status);
        Assert.Equal(3, (await y.Ws.NextOfTypeAsync("csat")).GetProperty("rating").GetProperty("rating").GetInt32());
        var note = await x.SendAsync((await x.Http.GetJsonAsync($"/v1/conversations/{customer.ConversationId}")).Str("notes_id"), "看看评分");
        Assert.Equal(201, note.Status);
        Assert.DoesNotContain(await FramesBeforeAsync(x.Ws, f => IsType(f, "message") && f.GetProperty("message").GetProperty("id").GetString() == note.Str("id")),
            f => IsType(f, "csat"));
        var ratings = await scene.Manager.GetJsonAsync($"/v1/conversations/{customer.ConversationId}/csat");
        var only = Assert.Single(ratings.Json.EnumerateArray());
        Assert.Equal((3, y.Id), (only.GetProperty("rating").GetInt32(), only.GetProperty("agent_id").GetString()));
    }

    private static async Task<(int, string?)> StatusAsync(Task<ApiResponse> call)
    {
        var response = await call;
        return (response.Status, response.Code);
    }
}
