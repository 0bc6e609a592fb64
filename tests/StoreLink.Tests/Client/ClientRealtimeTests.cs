using StoreLink.Client;
using StoreLink.Protocol;
using ConnectionRegistry = StoreLink.Server.Realtime.ConnectionRegistry;
using CloseCodes = StoreLink.Server.Realtime.CloseCodes;
using RealtimeOptions = StoreLink.Client.RealtimeOptions;
using StoreLink.Tests.Conversations;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Client;

/// <summary>The SDK's live connection against the real server on a real socket, with the network failing under it.</summary>
public sealed class ClientRealtimeTests
{
    private static readonly RealtimeOptions Fast = new() { MinBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(400) };

    private static async Task<StoreLinkClient> SignInAsync(StoreLinkApp app, string? login = null)
    {
        var client = new StoreLinkClient(new HttpClient { BaseAddress = app.ServerUri });
        if (login is null)
            await client.VisitorAsync("demo-digital");
        else
            await client.LoginAsync(login, "demo1234");
        return client;
    }

    /// <summary>Reads message events until <paramref name="count"/> arrived (or the timeout).</summary>
    private static async Task<List<MessageDto>> CollectAsync(RealtimeConnection connection, string conversationId, int count, TimeSpan timeout)
    {
        var messages = new List<MessageDto>();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var e in connection.Events(cts.Token))
            {
                if (e is not MessageReceived received || received.Message.ConversationId != conversationId)
                    continue;
                messages.Add(received.Message);
                if (messages.Count == count)
                    break;
            }
        }
        catch (OperationCanceledException)
        {
        }
        return messages;
    }

    private static void CutConnections(StoreLinkApp app, string userId)
    {
        foreach (var connection in app.Services.GetService(typeof(ConnectionRegistry)) is ConnectionRegistry r ? r.OfUser(userId) : [])
            connection.Close(CloseCodes.TooSlow, "test: cut");
    }

    [Theory, MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Messages_arrive_once_and_in_order_while_the_receivers_connection_keeps_dropping(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        using var customer = await SignInAsync(app);
        var conversation = await customer.OpenConversationAsync("demo-digital");
        using var agent = await SignInAsync(app, "agent.digital@demo.local");
        await using var customerLive = await RealtimeConnection.ConnectAsync(customer, Fast);
        await using var agentLive = await RealtimeConnection.ConnectAsync(agent, Fast);

        // 60 messages of the customer, and the server's notice that the (online) agent took the conversation.
        var receiving = CollectAsync(agentLive, conversation.Id, 61, TimeSpan.FromSeconds(60));
        for (var i = 1; i <= 60; i++)
        {
            await customerLive.SendTextAsync(conversation.Id, $"消息 {i}");
            if (i % 10 == 0)
                CutConnections(app, agent.User!.Id);
        }
        var received = await receiving;
        Assert.Equal(Enumerable.Range(1, 61).Select(i => (long)i), received.Select(m => m.Seq));
        Assert.Equal(Enumerable.Range(1, 60).Select(i => $"消息 {i}"),
            received.Where(m => m.Kind == MessageKinds.Text).Select(m => m.Body!.Value.GetProperty("text").GetString()));
        Assert.Equal(61, agentLive.Positions[conversation.Id]);
    }

    [Theory, MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Sends_survive_a_dropping_connection_and_are_stored_exactly_once(string db)
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db);
        using var customer = await SignInAsync(app);
        var conversation = await customer.OpenConversationAsync("demo-digital");
        await using var live = await RealtimeConnection.ConnectAsync(customer, Fast);

        using var stop = new CancellationTokenSource();
        var cutter = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(Random.Shared.Next(5, 40));
                CutConnections(app, customer.User!.Id);
            }
        });
        var sends = Enumerable.Range(1, 40).Select(i => live.SendTextAsync(conversation.Id, $"m{i}", clientMsgId: $"cm-{i}")).ToList();
        var stored = await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(90));
        await stop.CancelAsync();
        await cutter;

        Assert.Equal(40, stored.Select(m => m.Id).Distinct().Count());
        var history = await customer.GetMessagesAsync(conversation.Id, limit: 200);
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), history.Select(m => m.Seq));
        Assert.Equal(40, history.Select(m => m.ClientMsgId).Distinct().Count());
    }

    [Fact]
    public async Task Signing_out_closes_the_connection_for_good()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        using var agent = await SignInAsync(app, "agent.digital@demo.local");
        await using var live = await RealtimeConnection.ConnectAsync(agent, Fast);
        var token = agent.AccessToken!;
        using var other = new StoreLinkClient(new HttpClient { BaseAddress = app.ServerUri });
        other.UseToken(token);
        await other.LogoutAsync();

        ConnectionChanged? closed = null;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await foreach (var e in live.Events(cts.Token))
            if (e is ConnectionChanged { State: ConnectionState.Closed } c)
                closed = c;
        Assert.Equal(4001, closed!.CloseCode);
        var refused = await Assert.ThrowsAsync<StoreLinkException>(() => live.SendTextAsync("cnv_x", "late"));
        Assert.Equal(ErrorCodes.Unauthorized, refused.Code);
    }

    [Fact]
    public async Task Requests_the_server_refuses_throw_with_the_code_and_attachments_round_trip()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite);
        using var customer = await SignInAsync(app);
        var conversation = await customer.OpenConversationAsync("demo-digital");
        await using var live = await RealtimeConnection.ConnectAsync(customer, Fast);
        var missing = await Assert.ThrowsAsync<StoreLinkException>(() => live.SendTextAsync("cnv_not_mine", "hi"));
        Assert.Equal(ErrorCodes.NotFound, missing.Code);

        var uploaded = await customer.UploadAttachmentAsync(new MemoryStream(AttachmentTests.Png), "屏幕.png", "image/png");
        var image = await live.SendAsync(conversation.Id, MessageKinds.Image, new { attachment_id = uploaded.Id });
        Assert.Equal(uploaded.Id, image.Body!.Value.GetProperty("attachment_id").GetString());
        await using var download = await customer.DownloadAttachmentAsync(uploaded.Id);
        using var copy = new MemoryStream();
        await download.CopyToAsync(copy);
        Assert.Equal(AttachmentTests.Png, copy.ToArray());

        var viaRest = await customer.SendMessageAsync(conversation.Id, MessageKinds.Text, new { text = "REST 也行" }, "rest-1");
        Assert.Equal(2, viaRest.Seq);
        Assert.Equal(viaRest.Id, (await customer.SendMessageAsync(conversation.Id, MessageKinds.Text, new { text = "REST 也行" }, "rest-1")).Id);
    }
}
