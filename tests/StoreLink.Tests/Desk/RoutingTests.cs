using System.Text.Json;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Desk;

/// <summary>
/// Where a customer's conversation goes and who gets it: queues, round robin and least busy, capacity, presence, the
/// backlog (first come first served, VIP first) and how it drains — against the API and the frames, with several
/// agents signed in.
/// </summary>
public sealed class RoutingTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_conversation_lands_in_the_queue_the_customer_chose_else_by_its_first_words_else_the_default(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var phones = await scene.QueueAsync("手机", keywords: ["手机", "iPhone"], position: 1);
        var computers = await scene.QueueAsync("电脑", keywords: ["电脑", "MacBook"], position: 2);
        var accessories = await scene.QueueAsync("配件", isDefault: true, position: 3);
        var bagsQueue = (await scene.Admin.PostJsonAsync(
            $"/v1/stores/{await DeskScene.StoreIdAsync(scene.Admin, "demo-bags")}/queues", new { name = "批发" })).Str("id");

        // The widget offers the store's queues before anyone signs in.
        var offered = await scene.App.Anonymous().GetJsonAsync($"/v1/stores/by-key/{DeskScene.Store}/queues");
        Assert.Equal(["手机", "电脑", "配件"], offered.Json.EnumerateArray().Select(q => q.GetProperty("name").GetString()));

        async Task<string?> LandsInAsync(string text, string? chosen = null)
        {
            var customer = await scene.CustomerAsync(queueId: chosen);
            await customer.SendAsync(text);
            var conversation = await scene.ConversationAsync(customer.ConversationId);
            return conversation.TryGetProperty("queue_id", out var q) && q.ValueKind == JsonValueKind.String ? q.GetString() : null;
        }

        Assert.Equal(computers, await LandsInAsync("我的手机坏了", chosen: computers)); // the choice beats the words
        Assert.Equal(phones, await LandsInAsync("iphone 屏幕碎了"));                   // keywords, any case
        Assert.Equal(phones, await LandsInAsync("MacBook 和手机都进水了"));             // both match: the first queue by position
        Assert.Equal(computers, await LandsInAsync("macbook 开不了机"));
        Assert.Equal(accessories, await LandsInAsync("你好，在吗"));                   // no keyword: the default queue
        Assert.Equal(accessories, await LandsInAsync("你好", chosen: bagsQueue));      // another store's queue is no choice

        // Without a default queue, a conversation no keyword matches waits for every agent of the store.
        Assert.Equal(200, (await scene.Manager.PatchJsonAsync($"/v1/queues/{accessories}", new { is_default = false })).Status);
        Assert.Null(await LandsInAsync("你好"));

        var counts = await scene.Manager.GetJsonAsync($"/v1/desk/counts?store_id={scene.StoreId}");
        Assert.Equal((2, 2, 2), (counts.Json.GetProperty("queues").GetProperty(phones).GetInt64(), counts.Json.GetProperty("queues").GetProperty(computers).GetInt64(),
            counts.Json.GetProperty("queues").GetProperty(accessories).GetInt64()));
        Assert.Equal(7, counts.Json.GetProperty("waiting").GetInt64());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_queue_is_served_only_by_agents_and_managers_of_its_store(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var admin = await app.LoginAsync("admin@demo.local");
        var store = await DeskScene.StoreIdAsync(admin, DeskScene.Store);
        var agent = (await (await app.LoginAsync("agent.digital@demo.local")).GetJsonAsync("/v1/me")).Str("id");
        var bagsAgent = (await (await app.LoginAsync("agent.bags@demo.local")).GetJsonAsync("/v1/me")).Str("id");

        // Nobody (a JSON null, first or later in the list), another store's agent, an unknown id: each named, nothing made.
        foreach (var agents in new[] { new[] { null, agent }, new[] { agent, null }, new[] { bagsAgent }, new[] { "stf_00000000000000000000000000" } })
        {
            var refused = await manager.PostJsonAsync($"/v1/stores/{store}/queues", new { name = "手机", agent_ids = agents });
            Assert.Equal((400, "invalid_request"), (refused.Status, refused.Code));
            Assert.Contains("not an agent or manager of this store", refused.Json.GetProperty("errors").GetProperty("agent_ids")[0].GetString());
        }
        Assert.Empty((await manager.GetJsonAsync($"/v1/stores/{store}/queues")).Json.EnumerateArray());

        var created = await manager.PostJsonAsync($"/v1/stores/{store}/queues", new { name = "手机", agent_ids = new[] { agent } });
        Assert.Equal(201, created.Status);
        var patched = await manager.PatchJsonAsync($"/v1/queues/{created.Str("id")}", new { agent_ids = new[] { null, agent } });
        Assert.Equal((400, "invalid_request"), (patched.Status, patched.Code));
        Assert.Equal([agent], (await manager.GetJsonAsync($"/v1/stores/{store}/queues")).Json[0].GetProperty("agent_ids").EnumerateArray().Select(a => a.GetString()));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Round_robin_takes_turns_among_the_queues_online_agents_under_capacity(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        // Turns follow the agents' ids; which agent is which is decided once they exist.
        var made = new[] { await scene.AgentAsync("轮一", connect: false), await scene.AgentAsync("轮二", connect: false), await scene.AgentAsync("轮三", connect: false) };
        var sorted = made.OrderBy(a => a.Id, StringComparer.Ordinal).ToArray();
        var (p, q, r) = (sorted[0], sorted[1], sorted[2]);
        await scene.QueueAsync("手机", "round_robin", ["手机"], [p, q, r], isDefault: true);
        Assert.Equal(200, (await scene.Manager.PutJsonAsync($"/v1/staff/{q.Id}/capacity", new { capacity = 1 })).Status);
        await p.ConnectAsync();
        await q.ConnectAsync();
        Assert.Equal(200, (await r.Http.PutJsonAsync("/v1/me/presence", new { status = "away" })).Status);
        await r.ConnectAsync(); // connected but away: no work

        async Task<string?> NextAsync()
        {
            var customer = await scene.CustomerAsync();
            await customer.SendAsync("手机屏幕碎了");
            return await scene.AssigneeAsync(customer.ConversationId);
        }

        Assert.Equal(p.Id, await NextAsync());
        Assert.Equal(q.Id, await NextAsync()); // q is full now (capacity 1)
        Assert.Equal(p.Id, await NextAsync()); // r is away, q full: the turn comes back to p
        Assert.Equal(p.Id, await NextAsync());
        await r.SetStatusAsync("online");
        Assert.Equal(r.Id, await NextAsync());
        Assert.Equal(p.Id, await NextAsync()); // the turn, not the load: p serves 4, r 1, yet p is next after r
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Least_busy_gives_each_conversation_to_the_online_agent_with_the_fewest_open_until_all_are_full(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var x = await scene.AgentAsync("忙一", capacity: 3, connect: false);
        var y = await scene.AgentAsync("忙二", capacity: 3, connect: false);
        await scene.QueueAsync("电脑", "least_busy", ["电脑"], [x, y], isDefault: true);
        // y already serves two customers, given by the manager while both were offline.
        foreach (var _ in Enumerable.Range(0, 2))
        {
            var earlier = await scene.CustomerAsync();
            await earlier.SendAsync("电脑蓝屏");
            Assert.Null(await scene.AssigneeAsync(earlier.ConversationId)); // nobody online: it waits
            Assert.Equal(200, (await scene.Manager.PostJsonAsync($"/v1/desk/conversations/{earlier.ConversationId}/assign", new { agent_id = y.Id })).Status);
        }
        await x.ConnectAsync();
        await y.ConnectAsync();

        var customers = new List<DeskScene.Customer>();
        async Task<string?> NextAsync()
        {
            var customer = await scene.CustomerAsync();
            customers.Add(customer);
            await customer.SendAsync("电脑开不了机");
            return await scene.AssigneeAsync(customer.ConversationId);
        }

        Assert.Equal(x.Id, await NextAsync()); // 0 against 2
        Assert.Equal(x.Id, await NextAsync()); // 1 against 2
        Assert.Equal(y.Id, await NextAsync()); // 2 against 2: the one who got work longer ago
        Assert.Equal(x.Id, await NextAsync()); // 2 against 3 (full)
        Assert.Null(await NextAsync());        // 3 and 3: both full, it waits
        var inbox = await x.Http.GetJsonAsync($"/v1/desk/inbox?store_id={scene.StoreId}&view=mine");
        Assert.Equal(3, inbox.Json.GetArrayLength());
        var waiting = await x.Http.GetJsonAsync($"/v1/desk/inbox?store_id={scene.StoreId}&view=waiting");
        Assert.Equal(customers[^1].ConversationId, Assert.Single(waiting.Json.EnumerateArray()).GetProperty("conversation").GetProperty("id").GetString());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Adding_an_agent_to_a_queue_gives_them_its_waiting_customers(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var x = await scene.AgentAsync("维修甲", capacity: 1);
        var y = await scene.AgentAsync("维修乙"); // online and free, but not of the queue
        var repairs = await scene.QueueAsync("维修", keywords: ["维修"], agents: [x], isDefault: true);
        var first = await scene.CustomerAsync();
        await first.SendAsync("维修进度");
        Assert.Equal(x.Id, await first.AssignedAsync());
        var second = await scene.CustomerAsync();
        await second.SendAsync("想维修屏幕");
        await second.PositionAsync(1);
        Assert.Null(await scene.AssigneeAsync(second.ConversationId));

        Assert.Equal(200, (await scene.Manager.PatchJsonAsync($"/v1/queues/{repairs}", new { agent_ids = new[] { x.Id, y.Id } })).Status);
        Assert.Equal(y.Id, await second.AssignedAsync());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task When_nobody_is_free_customers_wait_in_order_vip_first_and_are_told_their_place_and_wait(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var x = await scene.AgentAsync("值班客服", capacity: 1);
        var first = await scene.CustomerAsync();
        await first.SendAsync("在吗");
        Assert.Equal(x.Id, await first.AssignedAsync());
        var served = (await first.MessagesAsync()).Last();
        Assert.Equal(("system", "客服 值班客服 为您服务。"), (served.GetProperty("kind").GetString(), DeskScene.TextOf(served)));

        // x is full. With no resolution yet the estimate is five minutes a customer per online agent.
        var second = await scene.CustomerAsync();
        await second.SendAsync("我排第几");
        Assert.Equal(300, (await second.PositionAsync(1)).GetProperty("estimated_wait_seconds").GetInt64());
        var third = await scene.CustomerAsync();
        await third.SendAsync("我也在等");
        Assert.Equal(600, (await third.PositionAsync(2)).GetProperty("estimated_wait_seconds").GetInt64());
        var vip = await scene.CustomerAsync(vip: 2);
        await vip.SendAsync("VIP 顾客");
        Assert.Equal(300, (await vip.PositionAsync(1)).GetProperty("estimated_wait_seconds").GetInt64());
        Assert.Equal(600, (await second.PositionAsync(2)).GetProperty("estimated_wait_seconds").GetInt64());
        Assert.Equal(900, (await third.PositionAsync(3)).GetProperty("estimated_wait_seconds").GetInt64());
        var asked = await third.Http.GetJsonAsync($"/v1/conversations/{third.ConversationId}/queue");
        Assert.Equal((3, 900), (asked.Json.GetProperty("position").GetInt64(), asked.Json.GetProperty("estimated_wait_seconds").GetInt64()));
        // Another customer's place is theirs to know.
        Assert.Equal(404, (await third.Http.GetJsonAsync($"/v1/conversations/{second.ConversationId}/queue")).Status);

        // x takes a minute for the first customer and resolves: the VIP is next, and the estimate now follows x's pace.
        scene.App.Clock.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(200, (await x.Http.PostJsonAsync($"/v1/conversations/{first.ConversationId}/resolve")).Status);
        Assert.Equal(x.Id, await vip.AssignedAsync());
        var pace = (await second.PositionAsync(1)).GetProperty("estimated_wait_seconds").GetInt64();
        Assert.InRange(pace, 60, 75);
        Assert.Equal(2 * pace, (await third.PositionAsync(2)).GetProperty("estimated_wait_seconds").GetInt64());

        Assert.Equal(200, (await x.Http.PostJsonAsync($"/v1/conversations/{vip.ConversationId}/resolve")).Status);
        Assert.Equal(x.Id, await second.AssignedAsync()); // first come, first served among equals
        await third.PositionAsync(1);
        Assert.Null(await scene.AssigneeAsync(third.ConversationId));
        var position = await second.Http.GetJsonAsync($"/v1/conversations/{second.ConversationId}/queue");
        Assert.Equal(0, position.Json.GetProperty("position").GetInt64()); // served: no longer in line
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task The_backlog_drains_when_an_agent_comes_online_gets_more_capacity_frees_up_or_joins_the_store(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var x = await scene.AgentAsync("客服甲", capacity: 1);
        var y = await scene.AgentAsync("客服乙", capacity: 1, connect: false);   // signed in, no socket: offline
        var w = await scene.AgentAsync("客服丙", capacity: 1, status: "away");   // socket open, away
        var bagsStore = await DeskScene.StoreIdAsync(scene.Admin, "demo-bags");
        var z = await scene.AgentAsync("箱包客服乙", capacity: 1, storeId: bagsStore); // online, but in another store

        var c1 = await scene.CustomerAsync();
        await c1.SendAsync("一号");
        Assert.Equal(x.Id, await c1.AssignedAsync());

        var c2 = await scene.CustomerAsync();
        await c2.SendAsync("二号");
        await c2.PositionAsync(1);                                               // x is full, w away, z not of this store
        await y.ConnectAsync();                                                  // a socket opens: y is online
        Assert.Equal(y.Id, await c2.AssignedAsync());

        var c3 = await scene.CustomerAsync();
        await c3.SendAsync("三号");
        await c3.PositionAsync(1);
        Assert.Equal(200, (await scene.Manager.PutJsonAsync($"/v1/staff/{x.Id}/capacity", new { capacity = 2 })).Status);
        Assert.Equal(x.Id, await c3.AssignedAsync());

        var c4 = await scene.CustomerAsync();
        await c4.SendAsync("四号");
        await c4.PositionAsync(1);
        await w.SetStatusAsync("online");                                        // back from away
        Assert.Equal(w.Id, await c4.AssignedAsync());

        var c5 = await scene.CustomerAsync();
        await c5.SendAsync("五号");
        await c5.PositionAsync(1);
        Assert.Equal(200, (await scene.Admin.PutJsonAsync($"/v1/staff/{z.Id}/roles", new
        {
            roles = new[] { new { store_id = bagsStore, role = "agent" }, new { store_id = scene.StoreId, role = "agent" } },
        })).Status);
        Assert.Equal(4010, (await z.Ws.ClosedAsync()).Code);                     // new roles: reconnect
        await z.ConnectAsync();
        Assert.Equal(z.Id, await c5.AssignedAsync());

        var c6 = await scene.CustomerAsync();
        await c6.SendAsync("六号");
        await c6.PositionAsync(1);
        Assert.Equal(200, (await y.Http.PostJsonAsync($"/v1/conversations/{c2.ConversationId}/resolve")).Status);
        Assert.Equal(y.Id, await c6.AssignedAsync());

        // Gone offline: no new work, however free.
        await y.DisconnectAsync();
        Assert.Equal(200, (await scene.Manager.PutJsonAsync($"/v1/staff/{y.Id}/capacity", new { capacity = 10 })).Status);
        var c7 = await scene.CustomerAsync();
        await c7.SendAsync("七号");
        await c7.PositionAsync(1);
        Assert.Null(await scene.AssigneeAsync(c7.ConversationId));
    }
}
