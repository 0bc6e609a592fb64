using System.Text.Json;
using StoreLink.Tests.Desk;
using StoreLink.Tests.Infrastructure;
using static StoreLink.Tests.Desk.DeskScene;

namespace StoreLink.Tests.Calls;

/// <summary>The call state machine over REST and the socket (docs/protocol.md "Calls").</summary>
public sealed class CallTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    internal static async Task<JsonElement> StartAsync(HttpClient caller, string conversationId, string media = "video", string device = "dev-caller", int status = 201)
    {
        var started = await caller.PostJsonAsync($"/v1/conversations/{conversationId}/calls", new { media, device_id = device });
        Assert.True(started.Status == status, started.ToString());
        return started.Json;
    }

    internal static async Task<JsonElement> PostAsync(HttpClient client, string path, object? body = null, int status = 200)
    {
        var answer = await client.PostJsonAsync(path, body ?? new { });
        Assert.True(answer.Status == status, $"{path}: {answer}");
        return answer.Json;
    }

    /// <summary>The next <c>call</c> frame about <paramref name="callId"/> whose call is in <paramref name="state"/>.</summary>
    internal static Task<JsonElement> CallFrameAsync(WsClient socket, string callId, string state) =>
        socket.NextAsync(f => IsType(f, "call") && f.GetProperty("call").GetProperty("id").GetString() == callId
            && f.GetProperty("call").GetProperty("state").GetString() == state);

    internal static string StateOf(JsonElement call, string userId) =>
        call.GetProperty("participants").EnumerateArray().Single(p => p.GetProperty("user_id").GetString() == userId).GetProperty("state").GetString()!;

    internal static async Task<List<JsonElement>> SummariesAsync(HttpClient client, string conversationId, string callId) =>
        (await client.GetJsonAsync($"/v1/conversations/{conversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray()
            .Where(m => m.GetProperty("kind").GetString() == "call" && m.GetProperty("body").GetProperty("call_id").GetString() == callId).ToList();

    /// <summary>Waits until the conversation holds the call's summary, then checks it is the only one.</summary>
    internal static async Task<JsonElement> SummaryAsync(HttpClient client, string conversationId, string callId)
    {
        List<JsonElement> summaries = [];
        await Eventually.TrueAsync(async () => (summaries = await SummariesAsync(client, conversationId, callId)).Count > 0, what: $"no summary of {callId}");
        return Assert.Single(summaries);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_customer_call_rings_the_agent_who_accepts_talks_and_hangs_up(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (agent, customer) = await scene.ServedAsync("阿明", "屏幕碎了，可以视频看看吗");
        var me = (await customer.Http.GetJsonAsync("/v1/me")).Str("id");

        var call = await StartAsync(customer.Http, customer.ConversationId);
        var callId = call.GetProperty("id").GetString()!;
        Assert.Equal(("ringing", "p2p", "video"), (call.GetProperty("state").GetString(), call.GetProperty("mode").GetString(), call.GetProperty("media").GetString()));
        Assert.Equal(("joined", "ringing"), (StateOf(call, me), StateOf(call, agent.Id)));
        Assert.Equal(JsonValueKind.Null, call.GetProperty("answered_at").ValueKind);
        var rung = await CallFrameAsync(agent.Ws, callId, "ringing");
        Assert.Equal(customer.ConversationId, rung.GetProperty("call").GetProperty("conversation_id").GetString());

        // A second call in the same conversation, or by someone who is in one, is refused.
        await StartAsync(agent.Http, customer.ConversationId, status: 409);

        var accepted = await PostAsync(agent.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-agent" });
        Assert.Equal("active", accepted.GetProperty("state").GetString());
        Assert.NotEqual(JsonValueKind.Null, accepted.GetProperty("answered_at").ValueKind);
        await CallFrameAsync(customer.Ws, callId, "active");
        // The same device again changes nothing; another device of the agent is refused.
        await PostAsync(agent.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-agent" });
        await PostAsync(agent.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-agent-phone" }, status: 409);

        // A signal reaches the one it is for, with who sent it from which device.
        var signal = await customer.Ws.RequestAsync(new { type = "call_signal", call_id = callId, to = agent.Id, to_device = "dev-agent", signal = new { type = "offer", sdp = "v=0 fake" } });
        Assert.Equal("ok", signal.GetProperty("type").GetString());
        var relayed = await agent.Ws.NextOfTypeAsync("call_signal");
        Assert.Equal((callId, me, "dev-caller", "dev-agent", "offer"), (relayed.GetProperty("call_id").GetString(), relayed.GetProperty("from").GetString(),
            relayed.GetProperty("from_device").GetString(), relayed.GetProperty("to_device").GetString(), relayed.GetProperty("signal").GetProperty("type").GetString()));

        await PostAsync(customer.Http, $"/v1/calls/{callId}/stats", new { device_id = "dev-caller", rtt_ms = 40, loss_percent = 0.5, relay = false, connected = true }, 204);
        await PostAsync(agent.Http, $"/v1/calls/{callId}/stats", new { device_id = "dev-agent", rtt_ms = 60, jitter_ms = 3 }, 204);

        scene.App.Clock.Advance(TimeSpan.FromSeconds(5));
        var ended = await PostAsync(agent.Http, $"/v1/calls/{callId}/hangup");
        Assert.Equal(("ended", "completed"), (ended.GetProperty("state").GetString(), ended.GetProperty("end_reason").GetString()));
        Assert.True(ended.GetProperty("duration_ms").GetInt64() >= 5000);
        var quality = ended.GetProperty("quality");
        Assert.Equal((2, 50.0, 60.0), (quality.GetProperty("samples").GetInt64(), quality.GetProperty("rtt_mean_ms").GetDouble(), quality.GetProperty("rtt_p95_ms").GetDouble()));
        Assert.NotEqual(JsonValueKind.Null, quality.GetProperty("setup_ms").ValueKind);
        await CallFrameAsync(customer.Ws, callId, "ended");

        var summary = await SummaryAsync(customer.Http, customer.ConversationId, callId);
        Assert.Equal(("system", "completed"), (summary.GetProperty("sender").GetProperty("kind").GetString(), summary.GetProperty("body").GetProperty("result").GetString()));
        Assert.Equal(new[] { me, agent.Id }.Order(), summary.GetProperty("body").GetProperty("participant_ids").EnumerateArray().Select(e => e.GetString()!).Order());
        Assert.Single(await SummariesAsync(agent.Http, customer.ConversationId, callId));

        // An ended call changes no more; hanging up again answers it as it ended; the list shows it.
        await PostAsync(customer.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-caller" }, status: 409);
        Assert.Equal("completed", (await PostAsync(customer.Http, $"/v1/calls/{callId}/hangup")).GetProperty("end_reason").GetString());
        var list = (await customer.Http.GetJsonAsync($"/v1/conversations/{customer.ConversationId}/calls?limit=1")).Json;
        Assert.Equal(callId, list[0].GetProperty("id").GetString());
        // A client may not write a call summary itself.
        var forged = await customer.Http.PostJsonAsync($"/v1/conversations/{customer.ConversationId}/messages",
            new { client_msg_id = "forged", kind = "call", body = new { call_id = callId, result = "completed" } });
        Assert.Equal((400, "invalid_request"), (forged.Status, forged.Code));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_declined_call_and_a_cancelled_call_end_with_their_reason(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (agent, customer) = await scene.ServedAsync("阿明", "在吗");

        var declined = (await StartAsync(agent.Http, customer.ConversationId, media: "voice")).GetProperty("id").GetString()!;
        await CallFrameAsync(customer.Ws, declined, "ringing");
        var answer = await PostAsync(customer.Http, $"/v1/calls/{declined}/decline");
        Assert.Equal(("ended", "declined"), (answer.GetProperty("state").GetString(), answer.GetProperty("end_reason").GetString()));
        await CallFrameAsync(agent.Ws, declined, "ended");
        Assert.Equal("declined", (await SummaryAsync(agent.Http, customer.ConversationId, declined)).GetProperty("body").GetProperty("result").GetString());

        var cancelled = (await StartAsync(agent.Http, customer.ConversationId)).GetProperty("id").GetString()!;
        var hungUp = await PostAsync(agent.Http, $"/v1/calls/{cancelled}/hangup");
        Assert.Equal("cancelled", hungUp.GetProperty("end_reason").GetString());
        var frame = await CallFrameAsync(customer.Ws, cancelled, "ended");
        Assert.Equal("missed", StateOf(frame.GetProperty("call"), (await customer.Http.GetJsonAsync("/v1/me")).Str("id")));
        await PostAsync(customer.Http, $"/v1/calls/{cancelled}/accept", new { device_id = "d" }, status: 409);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_call_to_someone_in_another_call_ends_busy(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var agent = await scene.AgentAsync("阿明");
        var first = await scene.CustomerAsync();
        await first.SendAsync("第一个");
        Assert.Equal(agent.Id, await first.AssignedAsync());
        var second = await scene.CustomerAsync();
        await second.SendAsync("第二个");
        Assert.Equal(agent.Id, await second.AssignedAsync());

        var talking = (await StartAsync(agent.Http, first.ConversationId, device: "dev-agent")).GetProperty("id").GetString()!;
        await PostAsync(first.Http, $"/v1/calls/{talking}/accept", new { device_id = "dev-first" });

        var busy = await StartAsync(second.Http, second.ConversationId);
        Assert.Equal(("ended", "busy"), (busy.GetProperty("state").GetString(), busy.GetProperty("end_reason").GetString()));
        Assert.Equal("busy", StateOf(busy, agent.Id));
        Assert.Equal("busy", (await SummaryAsync(second.Http, second.ConversationId, busy.GetProperty("id").GetString()!)).GetProperty("body").GetProperty("result").GetString());
        // The agent in a call cannot start another.
        await StartAsync(agent.Http, second.ConversationId, status: 409);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_unanswered_call_is_missed_after_the_ring_timeout(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (agent, customer) = await scene.ServedAsync("阿明", "在吗");
        var callId = (await StartAsync(customer.Http, customer.ConversationId)).GetProperty("id").GetString()!;
        await CallFrameAsync(agent.Ws, callId, "ringing");

        scene.App.Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.True(await customer.Ws.NothingAsync(f => IsType(f, "call") && f.GetProperty("call").GetProperty("state").GetString() == "ended", TimeSpan.FromSeconds(2)));
        scene.App.Clock.Advance(TimeSpan.FromSeconds(16));
        var ended = (await CallFrameAsync(customer.Ws, callId, "ended")).GetProperty("call");
        Assert.Equal(("missed", "missed"), (ended.GetProperty("end_reason").GetString(), StateOf(ended, agent.Id)));
        await CallFrameAsync(agent.Ws, callId, "ended");
        Assert.Equal("missed", (await SummaryAsync(customer.Http, customer.ConversationId, callId)).GetProperty("body").GetProperty("result").GetString());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_participant_who_goes_silent_is_lost_and_the_call_ends(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (agent, customer) = await scene.ServedAsync("阿明", "在吗");
        var callId = (await StartAsync(customer.Http, customer.ConversationId)).GetProperty("id").GetString()!;
        await PostAsync(agent.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-agent" });

        // The customer keeps reporting; the agent's page is gone and reports nothing.
        for (var i = 0; i < 4; i++)
        {
            scene.App.Clock.Advance(TimeSpan.FromSeconds(4));
            await PostAsync(customer.Http, $"/v1/calls/{callId}/stats", new { device_id = "dev-caller", rtt_ms = 30 }, 204);
        }
        var ended = (await CallFrameAsync(customer.Ws, callId, "ended")).GetProperty("call");
        Assert.Equal("lost", ended.GetProperty("end_reason").GetString());
        var lost = ended.GetProperty("participants").EnumerateArray().Single(p => p.GetProperty("user_id").GetString() == agent.Id);
        Assert.Equal(("left", "lost"), (lost.GetProperty("state").GetString(), lost.GetProperty("left_reason").GetString()));
        Assert.Equal("lost", (await SummaryAsync(customer.Http, customer.ConversationId, callId)).GetProperty("body").GetProperty("result").GetString());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Only_members_of_the_conversation_reach_a_call_and_only_participants_signal(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (agent, customer) = await scene.ServedAsync("阿明", "在吗");
        var callId = (await StartAsync(customer.Http, customer.ConversationId)).GetProperty("id").GetString()!;
        var bagsVisitor = await scene.App.VisitorAsync("demo-bags");
        var franchise = await scene.App.LoginAsync("agent@franchise.demo.local");
        var key = scene.App.WithToken((await scene.Admin.PostJsonAsync("/v1/api-clients", new { name = "erp", permissions = new[] { "customers:read" } })).Str("key"));

        string[] routes = ["accept", "decline", "hangup", "invite", "stats", "snapshot", "recording"];
        foreach (var outsider in new[] { bagsVisitor, franchise })
        {
            Assert.Equal(404, (await outsider.GetJsonAsync($"/v1/calls/{callId}")).Status);
            Assert.Equal(404, (await outsider.GetJsonAsync($"/v1/conversations/{customer.ConversationId}/calls")).Status);
            Assert.Equal(404, (await outsider.PostJsonAsync($"/v1/conversations/{customer.ConversationId}/calls", new { media = "voice", device_id = "x" })).Status);
            foreach (var route in routes)
            {
                var answer = await outsider.PostJsonAsync($"/v1/calls/{callId}/{route}", new { device_id = "x", user_id = agent.Id, attachment_id = "x", on = true });
                Assert.True((answer.Status, answer.Code) == (404, "not_found"), $"{route}: {answer}");
            }
        }
        var byKey = await key.GetJsonAsync($"/v1/calls/{callId}");
        Assert.Equal((403, "forbidden"), (byKey.Status, byKey.Code));
        Assert.Equal(403, (await key.PostJsonAsync($"/v1/conversations/{customer.ConversationId}/calls", new { media = "voice", device_id = "x" })).Status);
        Assert.Equal(401, (await scene.App.Anonymous().GetJsonAsync($"/v1/calls/{callId}")).Status);

        // Staff who see the conversation see the call, but only participants act in it.
        Assert.Equal(200, (await scene.Manager.GetJsonAsync($"/v1/calls/{callId}")).Status);
        Assert.Equal(403, (await scene.Manager.PostJsonAsync($"/v1/calls/{callId}/accept", new { device_id = "m" })).Status);

        // The frame: an outsider, and a member of the conversation who is not in the call, are refused not_found.
        await using var outsiderSocket = await scene.App.ConnectAsync(StoreLinkApp.TokenOf(bagsVisitor));
        var refused = await outsiderSocket.RequestAsync(new { type = "call_signal", call_id = callId, to = agent.Id, signal = new { type = "offer", sdp = "x" } });
        Assert.Equal(("error", "not_found"), (refused.GetProperty("type").GetString(), refused.GetProperty("code").GetString()));
        await using var managerSocket = await scene.App.ConnectAsync(StoreLinkApp.TokenOf(scene.Manager));
        refused = await managerSocket.RequestAsync(new { type = "call_signal", call_id = callId, to = agent.Id, signal = new { type = "offer", sdp = "x" } });
        Assert.Equal("not_found", refused.GetProperty("code").GetString());
        // A signal over 32 KiB is refused, and so is one that is not an object with a type.
        var customerId = (await customer.Http.GetJsonAsync("/v1/me")).Str("id");
        refused = await customer.Ws.RequestAsync(new { type = "call_signal", call_id = callId, to = agent.Id, signal = new { type = "offer", sdp = new string('a', 40_000) } });
        Assert.Equal("too_large", refused.GetProperty("code").GetString());
        refused = await customer.Ws.RequestAsync(new { type = "call_signal", call_id = callId, to = agent.Id, signal = "offer" });
        Assert.Equal("invalid_request", refused.GetProperty("code").GetString());
        // The agent is rung but has not joined: not yet allowed to signal.
        refused = await agent.Ws.RequestAsync(new { type = "call_signal", call_id = callId, to = customerId, signal = new { type = "answer", sdp = "x" } });
        Assert.Equal("conflict", refused.GetProperty("code").GetString());
        Assert.True(await agent.Ws.NothingAsync(f => IsType(f, "call_signal"), TimeSpan.FromMilliseconds(300)));
    }
}
