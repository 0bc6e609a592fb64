using System.Text.Json;
using StoreLink.Tests.Desk;
using StoreLink.Tests.Infrastructure;
using static StoreLink.Tests.Calls.CallTests;

namespace StoreLink.Tests.Calls;

/// <summary>Calls through Janus (the SFU): a third participant or recording moves a call into a room of its own.</summary>
public sealed class CallSfuTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_third_participant_moves_the_call_into_a_janus_room_that_only_joined_participants_see_and_the_end_destroys(string db)
    {
        var janus = await MediaEngines.JanusAsync();
        await using var scene = await DeskScene.CreateAsync(db, janus.Settings());
        var (agent, customer) = await scene.ServedAsync("阿明", "鞋面开胶了");
        var senior = await scene.AgentAsync("老师傅");
        var callId = (await StartAsync(agent.Http, customer.ConversationId, device: "dev-agent")).GetProperty("id").GetString()!;
        var accepted = await PostAsync(customer.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-customer" });
        Assert.Equal(("p2p", JsonValueKind.Null), (accepted.GetProperty("mode").GetString(), accepted.GetProperty("sfu").ValueKind));

        var invited = await PostAsync(agent.Http, $"/v1/calls/{callId}/invite", new { user_id = senior.Id });
        Assert.Equal("sfu", invited.GetProperty("mode").GetString());
        var sfu = invited.GetProperty("sfu");
        Assert.Equal(janus.Url.ToString(), sfu.GetProperty("url").GetString());
        var room = long.Parse(sfu.GetProperty("room").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        var pin = sfu.GetProperty("pin").GetString()!;
        // The customer is pushed the change with the room; the colleague who only rings sees no room yet.
        var pushed = await customer.Ws.NextAsync(f => DeskScene.IsType(f, "call") && f.GetProperty("call").GetProperty("mode").GetString() == "sfu");
        Assert.Equal(pin, pushed.GetProperty("call").GetProperty("sfu").GetProperty("pin").GetString());
        Assert.Equal(JsonValueKind.Null, (await senior.Http.GetJsonAsync($"/v1/calls/{callId}")).Json.GetProperty("sfu").ValueKind);
        var joined = await PostAsync(senior.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-senior" });
        Assert.Equal(pin, joined.GetProperty("sfu").GetProperty("pin").GetString());

        // The room is Janus's, private, and admits the call's pin.
        await using var participant = await JanusClient.AttachAsync(janus.Url);
        Assert.True((await participant.RequestAsync(new { request = "exists", room })).GetProperty("exists").GetBoolean());
        var inRoom = await participant.AskAsync(new { request = "join", ptype = "publisher", room, pin, display = "senior" });
        Assert.Equal("joined", inRoom.GetProperty("videoroom").GetString());

        // Two left in a group call: it stays in the room (nobody renegotiates back).
        Assert.Equal("sfu", (await PostAsync(customer.Http, $"/v1/calls/{callId}/hangup")).GetProperty("mode").GetString());
        await PostAsync(senior.Http, $"/v1/calls/{callId}/hangup");
        var ended = (await agent.Http.GetJsonAsync($"/v1/calls/{callId}")).Json;
        Assert.Equal(("ended", JsonValueKind.Null), (ended.GetProperty("state").GetString(), ended.GetProperty("sfu").ValueKind));
        Assert.False((await participant.RequestAsync(new { request = "exists", room })).GetProperty("exists").GetBoolean());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Recording_needs_the_stores_switch_tells_the_customer_first_and_moves_a_call_to_the_sfu(string db)
    {
        var janus = await MediaEngines.JanusAsync();
        await using var scene = await DeskScene.CreateAsync(db, janus.Settings());
        var (agent, customer) = await scene.ServedAsync("阿明", "看看包的走线");
        var callId = (await StartAsync(customer.Http, customer.ConversationId, device: "dev-customer")).GetProperty("id").GetString()!;
        await PostAsync(agent.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-agent" });

        // The store has not allowed recording: 409 in the caller's language, and the customer was told nothing.
        var off = await agent.Http.PostJsonAsync($"/v1/calls/{callId}/recording", new { on = true });
        Assert.Equal((409, "conflict"), (off.Status, off.Code));
        Assert.Contains("本店未开启通话录制", off.Body);
        Assert.Equal(200, (await scene.Manager.PatchJsonAsync($"/v1/stores/{scene.StoreId}", new { calls_recording = true })).Status);
        // Only staff who joined the call record it.
        Assert.Equal(403, (await customer.Http.PostJsonAsync($"/v1/calls/{callId}/recording", new { on = true })).Status);
        Assert.Equal(400, (await agent.Http.PostJsonAsync($"/v1/calls/{callId}/recording", new { })).Status);
        Assert.DoesNotContain(await customer.MessagesAsync(), m => m.GetProperty("kind").GetString() == "system" && IsNotice(m));

        var on = await PostAsync(agent.Http, $"/v1/calls/{callId}/recording", new { on = true });
        Assert.Equal((true, "sfu"), (on.GetProperty("recording").GetBoolean(), on.GetProperty("mode").GetString()));
        var room = long.Parse(on.GetProperty("sfu").GetProperty("room").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        // The notice reached the customer before the call said it records.
        var frames = await DeskScene.FramesBeforeAsync(customer.Ws, f => DeskScene.IsType(f, "call") && f.GetProperty("call").GetProperty("recording").GetBoolean());
        Assert.Contains(frames, f => DeskScene.IsType(f, "message") && IsNotice(f.GetProperty("message")));
        Assert.Single(await customer.MessagesAsync(), IsNotice);
        // Again: unchanged, and no second notice.
        Assert.True((await PostAsync(agent.Http, $"/v1/calls/{callId}/recording", new { on = true })).GetProperty("recording").GetBoolean());
        Assert.Single(await customer.MessagesAsync(), IsNotice);
        Assert.False((await PostAsync(agent.Http, $"/v1/calls/{callId}/recording", new { on = false })).GetProperty("recording").GetBoolean());

        await PostAsync(customer.Http, $"/v1/calls/{callId}/hangup");
        await using var participant = await JanusClient.AttachAsync(janus.Url);
        Assert.False((await participant.RequestAsync(new { request = "exists", room })).GetProperty("exists").GetBoolean());
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Without_janus_recording_is_unavailable_and_a_third_participant_makes_a_mesh(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (agent, customer, senior, callId) = await TalkingWithRecordingAllowedAsync(scene);

        var recording = await agent.Http.PostJsonAsync($"/v1/calls/{callId}/recording", new { on = true });
        Assert.Equal((409, "conflict"), (recording.Status, recording.Code));
        Assert.Contains("Janus", recording.Body);
        var invited = await PostAsync(agent.Http, $"/v1/calls/{callId}/invite", new { user_id = senior.Id });
        Assert.Equal(("mesh", JsonValueKind.Null), (invited.GetProperty("mode").GetString(), invited.GetProperty("sfu").ValueKind));
        Assert.DoesNotContain(await customer.MessagesAsync(), IsNotice);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_janus_out_of_reach_leaves_a_group_call_in_a_mesh_and_refuses_recording_without_telling_the_customer(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db, new Dictionary<string, string?>
        {
            // The discard port: refused at once on loopback, as a Janus that is down.
            ["Calls:Janus:Url"] = "http://127.0.0.1:9/janus",
            ["Calls:Janus:RecordingsDirectory"] = Path.Combine(Path.GetTempPath(), "storelink-no-janus"),
        });
        var (agent, customer, senior, callId) = await TalkingWithRecordingAllowedAsync(scene);

        var recording = await agent.Http.PostJsonAsync($"/v1/calls/{callId}/recording", new { on = true });
        Assert.Equal((409, "conflict"), (recording.Status, recording.Code));
        Assert.DoesNotContain(await customer.MessagesAsync(), IsNotice);
        var invited = await PostAsync(agent.Http, $"/v1/calls/{callId}/invite", new { user_id = senior.Id });
        Assert.Equal(("mesh", false), (invited.GetProperty("mode").GetString(), invited.GetProperty("recording").GetBoolean()));
        await PostAsync(customer.Http, $"/v1/calls/{callId}/hangup");
        var ended = await PostAsync(agent.Http, $"/v1/calls/{callId}/hangup");
        Assert.Equal(("ended", "completed"), (ended.GetProperty("state").GetString(), ended.GetProperty("end_reason").GetString()));
    }

    // An agent and a customer in a call of a store that allows recording, and a colleague who could be invited.
    private static async Task<(DeskScene.Agent Agent, DeskScene.Customer Customer, DeskScene.Agent Senior, string CallId)> TalkingWithRecordingAllowedAsync(DeskScene scene)
    {
        var (agent, customer) = await scene.ServedAsync("阿明", "在吗");
        var senior = await scene.AgentAsync("老师傅");
        Assert.Equal(200, (await scene.Manager.PatchJsonAsync($"/v1/stores/{scene.StoreId}", new { calls_recording = true })).Status);
        var callId = (await StartAsync(agent.Http, customer.ConversationId, device: "dev-agent")).GetProperty("id").GetString()!;
        await PostAsync(customer.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-customer" });
        return (agent, customer, senior, callId);
    }

    private static bool IsNotice(JsonElement message) =>
        message.GetProperty("kind").GetString() == "system" && message.GetProperty("body").TryGetProperty("text", out var text)
        && text.GetString()!.Contains("录音录像", StringComparison.Ordinal);
}
