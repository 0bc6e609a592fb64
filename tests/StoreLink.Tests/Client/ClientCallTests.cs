using StoreLink.Client;
using StoreLink.Protocol;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Client;

/// <summary>The SDK's call signalling: call events, and signals sent and received.</summary>
public sealed class ClientCallTests
{
    [Theory, MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task A_call_rings_through_the_sdk_and_signals_reach_the_other_side(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        using var customer = new StoreLinkClient(new HttpClient { BaseAddress = app.ServerUri });
        await customer.VisitorAsync("demo-digital");
        var conversation = await customer.OpenConversationAsync("demo-digital");
        using var agent = new StoreLinkClient(new HttpClient { BaseAddress = app.ServerUri });
        await agent.LoginAsync("agent.digital@demo.local", "demo1234");
        await using var customerLive = await RealtimeConnection.ConnectAsync(customer);
        await using var agentLive = await RealtimeConnection.ConnectAsync(agent);

        var call = await agent.StartCallAsync(conversation.Id, CallMedia.Voice, "agent-app");
        var rung = await NextAsync<CallChanged>(customerLive, e => e.Call.Id == call.Id);
        Assert.Equal(CallStates.Ringing, rung.Call.State);
        await customer.AcceptCallAsync(call.Id, "customer-app");
        await NextAsync<CallChanged>(agentLive, e => e.Call.Id == call.Id && e.Call.State == CallStates.Active);

        var customerId = (await customer.MeAsync()).Id;
        await agentLive.SendCallSignalAsync(call.Id, customerId, "customer-app", new { type = "offer", sdp = "v=0" });
        var signal = (await NextAsync<CallSignalReceived>(customerLive, _ => true)).Signal;
        Assert.Equal((call.Id, agent.User!.Id, "agent-app", "customer-app", "offer"),
            (signal.CallId, signal.From, signal.FromDevice, signal.ToDevice, signal.Signal.GetProperty("type").GetString()));

        var ended = await customer.HangupCallAsync(call.Id);
        Assert.Equal(CallEndReasons.Completed, ended.EndReason);
        await NextAsync<CallChanged>(agentLive, e => e.Call.Id == call.Id && e.Call.State == CallStates.Ended);
        var refused = await Assert.ThrowsAsync<StoreLinkException>(() => agentLive.SendCallSignalAsync(call.Id, customerId, null, new { type = "restart" }));
        Assert.Equal(ErrorCodes.Conflict, refused.Code);
    }

    private static async Task<T> NextAsync<T>(RealtimeConnection connection, Func<T, bool> match) where T : RealtimeEvent
    {
        using var timeout = new CancellationTokenSource(WsClient.Timeout);
        await foreach (var e in connection.Events(timeout.Token))
            if (e is T wanted && match(wanted))
                return wanted;
        throw new TimeoutException($"No {typeof(T).Name} arrived.");
    }
}
