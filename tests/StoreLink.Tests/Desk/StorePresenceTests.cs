using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Desk;

/// <summary>
/// What the widget's header says (<c>GET /v1/stores/by-key/{key}/presence</c>): someone is there for a customer when
/// the agent serving them is connected, whatever their status; for anyone else when an agent who would take a new
/// conversation is online.
/// </summary>
public sealed class StorePresenceTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task Someone_is_there_for_a_customer_while_their_agent_is_connected_and_for_newcomers_while_an_agent_could_take_them(string db)
    {
        await using var scene = await DeskScene.CreateAsync(db);
        var anonymous = scene.App.Anonymous();
        async Task<bool> OnlineAsync(HttpClient client) =>
            (await client.GetJsonAsync($"/v1/stores/by-key/{DeskScene.Store}/presence")).Json.GetProperty("online").GetBoolean();
        Assert.False(await OnlineAsync(anonymous));

        // A technician at the console takes no customers: nobody is there for a newcomer.
        var technician = await scene.App.LoginAsync("tech.digital@demo.local");
        await using var technicianSocket = await scene.SocketAsync(StoreLinkApp.TokenOf(technician));
        await technicianSocket.NextAsync(f => DeskScene.IsType(f, "presence"));
        Assert.False(await OnlineAsync(anonymous));

        var (agent, served) = await scene.ServedAsync("值班客服", "在吗");
        var newcomer = await scene.CustomerAsync();
        Assert.True(await OnlineAsync(anonymous));
        Assert.True(await OnlineAsync(served.Http));

        // Away: no new customers, but still there for the one being served.
        await agent.SetStatusAsync("away");
        Assert.False(await OnlineAsync(anonymous));
        Assert.False(await OnlineAsync(newcomer.Http));
        Assert.True(await OnlineAsync(served.Http));
        // Their answer and the header agree.
        Assert.Equal(201, (await agent.SendAsync(served.ConversationId, "在的，请讲")).Status);

        // Gone: nobody is there for anyone; a bad token is just an anonymous question.
        await agent.DisconnectAsync();
        Assert.False(await OnlineAsync(served.Http));
        Assert.False(await OnlineAsync(scene.App.WithToken("not-a-token")));
        // Back (still away): there for their customer in this store, not in another.
        await agent.ConnectAsync();
        Assert.True(await OnlineAsync(served.Http));
        Assert.False((await served.Http.GetJsonAsync("/v1/stores/by-key/demo-bags/presence")).Json.GetProperty("online").GetBoolean());
    }
}
