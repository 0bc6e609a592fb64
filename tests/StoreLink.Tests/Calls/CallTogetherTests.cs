using System.Text.Json;
using StoreLink.Tests.Conversations;
using StoreLink.Tests.Desk;
using StoreLink.Tests.Infrastructure;
using StoreLink.Tests.Integrations;
using static StoreLink.Tests.Calls.CallTests;
using static StoreLink.Tests.Desk.DeskScene;

namespace StoreLink.Tests.Calls;

/// <summary>What a running call adds to the conversation and beyond: a colleague, a snapshot on the work item, webhooks.</summary>
public sealed class CallTogetherTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_colleague_joins_a_running_call_and_a_snapshot_lands_on_the_open_work_item(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var (agent, customer) = await scene.ServedAsync("阿明", "屏幕碎了");
        var senior = await scene.AgentAsync("老师傅");
        var draft = await agent.Http.GetJsonAsync($"/v1/conversations/{customer.ConversationId}/work-item-draft?kind=ticket");
        var ticket = await agent.Http.PostJsonAsync("/v1/work-items", draft.Json);
        Assert.True(ticket.Status == 201, ticket.ToString());

        var callId = (await StartAsync(agent.Http, customer.ConversationId, device: "dev-agent")).GetProperty("id").GetString()!;
        await PostAsync(customer.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-customer" });

        // Only a joined staff participant invites; the customer may not.
        Assert.Equal(403, (await customer.Http.PostJsonAsync($"/v1/calls/{callId}/invite", new { user_id = senior.Id })).Status);
        var invited = await PostAsync(agent.Http, $"/v1/calls/{callId}/invite", new { user_id = senior.Id });
        Assert.Equal(("mesh", "ringing"), (invited.GetProperty("mode").GetString(), StateOf(invited, senior.Id)));
        await CallFrameAsync(senior.Ws, callId, "active");
        var joined = await PostAsync(senior.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-senior" });
        Assert.Equal(3, joined.GetProperty("participants").EnumerateArray().Count(p => p.GetProperty("state").GetString() == "joined"));

        // Recording needs Janus, which this server does not have.
        var recording = await agent.Http.PostJsonAsync($"/v1/calls/{callId}/recording", new { on = true });
        Assert.Equal((409, "conflict"), (recording.Status, recording.Code));

        var still = (await AttachmentTests.UploadAsync(agent.Http, AttachmentTests.Png, "snapshot.png", "image/png")).Str("id");
        Assert.Equal(403, (await customer.Http.PostJsonAsync($"/v1/calls/{callId}/snapshot", new { attachment_id = still })).Status);
        var snapshot = await PostAsync(agent.Http, $"/v1/calls/{callId}/snapshot", new { attachment_id = still }, 201);
        Assert.Equal((ticket.Str("id"), "image"), (snapshot.GetProperty("work_item_id").GetString(), snapshot.GetProperty("message").GetProperty("kind").GetString()));
        // A retry answers the same message and adds nothing to the timeline.
        var again = await PostAsync(agent.Http, $"/v1/calls/{callId}/snapshot", new { attachment_id = still }, 201);
        Assert.Equal(snapshot.GetProperty("message").GetProperty("id").GetString(), again.GetProperty("message").GetProperty("id").GetString());
        var timeline = (await agent.Http.GetJsonAsync($"/v1/work-items/{ticket.Str("id")}/timeline")).Json.EnumerateArray().ToList();
        var entry = Assert.Single(timeline, e => e.GetProperty("kind").GetString() == "call_snapshot");
        Assert.Equal((callId, still), (entry.GetProperty("data").GetProperty("call_id").GetString(), entry.GetProperty("data").GetProperty("attachment_id").GetString()));
        Assert.Contains(await customer.MessagesAsync(), m => m.GetProperty("kind").GetString() == "image"
            && m.GetProperty("body").GetProperty("attachment_id").GetString() == still);

        // The customer leaves; two staff are still talking, so the call goes on until one of them hangs up.
        Assert.Equal("active", (await PostAsync(customer.Http, $"/v1/calls/{callId}/hangup")).GetProperty("state").GetString());
        var ended = await PostAsync(senior.Http, $"/v1/calls/{callId}/hangup");
        Assert.Equal(("ended", "completed"), (ended.GetProperty("state").GetString(), ended.GetProperty("end_reason").GetString()));
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Call_started_and_call_ended_are_delivered_once_each(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db, WebhookTests.Settings());
        await using var receiver = await WebhookReceiver.StartAsync();
        await WebhookTests.SubscribeAsync(scene.Admin, receiver, ["call.started", "call.ended"]);
        var (agent, customer) = await scene.ServedAsync("阿明", "在吗");

        var callId = (await StartAsync(customer.Http, customer.ConversationId)).GetProperty("id").GetString()!;
        await PostAsync(agent.Http, $"/v1/calls/{callId}/accept", new { device_id = "dev-agent" });
        await PostAsync(customer.Http, $"/v1/calls/{callId}/hangup");
        // Hanging up again, and the other side hanging up after the end, raise nothing more.
        await PostAsync(customer.Http, $"/v1/calls/{callId}/hangup");
        await PostAsync(agent.Http, $"/v1/calls/{callId}/hangup");

        await receiver.WaitForAsync(r => r.Accepted.Any(h => h.Type == "call.ended"));
        Assert.True(await NoMoreHooksAsync(receiver, TimeSpan.FromSeconds(2)));
        var ended = Assert.Single(receiver.Accepted, h => h.Type == "call.ended");
        var started = Assert.Single(receiver.Accepted, h => h.Type == "call.started");
        Assert.Equal(2, receiver.Accepted.Count);
        var call = ended.Json.GetProperty("data").GetProperty("call");
        Assert.Equal((callId, "completed"), (call.GetProperty("id").GetString(), call.GetProperty("end_reason").GetString()));
        Assert.True(call.TryGetProperty("quality", out _));
        Assert.Equal(JsonValueKind.Null, call.GetProperty("sfu").ValueKind);
        Assert.Equal("active", started.Json.GetProperty("data").GetProperty("call").GetProperty("state").GetString());
    }

    /// <summary>Whether no further hook arrives within the time (a condition with a deadline, not a fixed wait for something to happen).</summary>
    private static async Task<bool> NoMoreHooksAsync(WebhookReceiver receiver, TimeSpan within)
    {
        var count = receiver.Received.Count;
        try
        {
            await receiver.WaitForAsync(r => r.Received.Count > count, within);
            return false;
        }
        catch (TimeoutException)
        {
            return true;
        }
    }
}
